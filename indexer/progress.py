"""Progress bars on stderr for long writes: an `index` run's articles, a lexical index rewritten."""

from __future__ import annotations


def progress_bar(total: int | None, shown: bool, desc: str = "indexing", unit: str = "items"):
    """A tqdm bar on stderr counting `unit` (by default input items: articles and problems) out of
    `total`, with a rate and an ETA; a count can be fractional (a part of an article's passages
    embedded), shown rounded."""
    from tqdm import tqdm

    return tqdm(desc=desc, total=total, unit=f" {unit}", disable=not shown, dynamic_ncols=True,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:,.0f}/{total_fmt} [{elapsed}<{remaining}, "
                           "{rate_noinv_fmt}]" if total else "{desc}: {n:,.0f} " + unit + " [{elapsed}, {rate_noinv_fmt}]")


def close_progress_bar(bar) -> None:
    """Close `bar` at the count it reached: a total counted ahead (see `inputs.count_records`) can
    be a little off, and the last line must not say 99% or 101% of a finished run."""
    if bar.total is not None and round(bar.n) != bar.total:
        bar.total = round(bar.n)
    bar.n = round(bar.n)
    bar.close()
