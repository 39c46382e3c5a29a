"""How counts and sizes read in messages: `counted(1, "article")` is "1 article", never
"1 articles"; `file_size(2048)` is "2.0 kB", never "0.00 MB"."""

from __future__ import annotations


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """`number` with `noun` in the singular or plural (`noun + "s"` unless `plural` is given),
    thousands separated: counted(1, "article") -> "1 article", counted(1200, "passage") ->
    "1,200 passages"."""
    return f"{number:,} {noun if number == 1 else plural or noun + 's'}"


def file_size(size: int) -> str:
    """A byte count in the largest unit (B, kB, MB, GB, decimal) that keeps it at 1 or more,
    to 3 significant figures: 512 -> "512 B", 2048 -> "2.05 kB", 14_200_000 -> "14.2 MB"."""
    value, unit = float(size), "B"
    for bigger in ("kB", "MB", "GB", "TB"):
        if value < 999.5:  # what rounds to 1000 reads as 1.00 of the next unit
            break
        value, unit = value / 1000, bigger
    return f"{size} B" if unit == "B" else f"{value:.3g} {unit}"
