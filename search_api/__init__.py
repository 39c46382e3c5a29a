"""article-search's read side: the Searcher, the HTTP API and page, the command line."""


def package_version() -> str:
    """The installed article-search version (pyproject.toml's), for --version and the API docs."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("article-search")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"
