"""The optional extras of the install (pyproject.toml, README "Installs"): what a command that needs
one that is not installed tells its user."""


def missing_extra(extra: str, purpose: str, exc: ImportError) -> str:
    """The message for `purpose` (what was asked) when an import that the optional `extra` installs
    failed with `exc`: it names the extra and the command that installs it.

    >>> missing_extra("html", "HTML input", ImportError("No module named 'trafilatura'"))
    "HTML input needs the [html] extra, which is not installed (No module named 'trafilatura'): pip install 'article-search[html]' -c constraints.txt"
    """
    return (f"{purpose} needs the [{extra}] extra, which is not installed ({exc}): "
            f"pip install 'article-search[{extra}]' -c constraints.txt")


def import_ray():
    """The `ray` module with `ray.data`; a ValueError naming the [ray] extra when it is not installed."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise ValueError("--ray needs Ray, which is not installed: pip install 'article-search[ray]'") from None
    return ray
