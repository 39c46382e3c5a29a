"""Helpers shared by the benchmarks: machine facts and appending a report to docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

REPORT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def machine_facts() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
                break
    except OSError:
        pass
    import torch

    return (f"{cpu}, {os.cpu_count()} cores{memory}; Python {platform.python_version()}, "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads)")


def first_records(corpus: str | Path, limit: int, folder: str | Path) -> Path:
    """The first `limit` lines of a JSONL corpus, as a file in `folder` (a benchmark's temporary one)."""
    import itertools

    target = Path(folder) / "corpus.jsonl"
    with open(corpus, encoding="utf-8") as source:
        target.write_text("".join(itertools.islice(source, limit)), encoding="utf-8")
    return target


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def report(title: str, body: str, notes: str = "", target: Path = REPORT) -> None:
    """Print the report and append it to `target` (docs/benchmarks.md) with the command, machine
    and date."""
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0])] + sys.argv[1:])
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = (f"\n## {title}\n\n- command: `{command}`\n- machine: {machine_facts()}\n- date: {date}\n\n"
            f"{body}\n" + (f"\n{notes}\n" if notes else ""))
    print(text)
    if not target.exists():
        target.write_text(f"# {target.stem.capitalize()}\n\nEach section is appended by a script in `benchmarks/`, "
                          "run by hand; newest last.\n", encoding="utf-8")
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(text)
