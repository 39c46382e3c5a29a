"""Peak memory (RSS) of `article-search index` on bad input: a 100 MB one-line JSONL record, and a
million records that are each refused, beside a run over one good record (the model's share).

    python benchmarks/bad_input_memory.py                 # all cases, with this checkout's code
    PYTHONPATH=/tmp/old python benchmarks/bad_input_memory.py   # the same with other code

Each case runs `article-search index FILE --index TMP --quiet` in a fresh process (stdout and
stderr, one line per problem, go to /dev/null) and reports that process's peak RSS
(getrusage ru_maxrss) and its wall time. Every input also holds one good record, so each run
indexes one article.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOOD = {"id": "good", "title": "Harbour wall repaired",
        "text": "The council finished repairing the harbour wall on Monday, two weeks ahead of schedule."}
CASES = {
    "one good record (baseline: model loaded, one article embedded)": "baseline",
    "a 100 MB one-line record": "long-line",
    "1,000,000 refused records (no text)": "bad-records",
}


def write_input(case: str, path: Path) -> None:
    """The case's JSONL file, written in pieces (by this process, not the one measured)."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(GOOD) + "\n")
        if case == "long-line":
            handle.write('{"id": "long", "text": "')
            for _ in range(100):
                handle.write("word " * 200_000)  # 1 MB
            handle.write('"}\n')
        elif case == "bad-records":
            handle.writelines(f'{{"id": "bad-{n}", "text": ""}}\n' for n in range(1_000_000))


def run_one(path: Path) -> None:
    """In a fresh process: index `path` and print peak RSS (MB) and seconds as JSON."""
    from search_api.cli import main

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    status = main(["index", str(path), "--index", str(path.with_suffix(".index")), "--quiet"])
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"status": status, "peak_mb": peak / 1024, "before_index_mb": before / 1024,
                      "seconds": seconds}), file=sys.__stdout__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        sys.stdout = sys.stderr = open("/dev/null", "w")  # the CLI's summary and one line per problem
        run_one(args.one)
        return
    print("| input | exit | peak RSS | RSS before `index` ran | seconds |\n|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for label, case in CASES.items():
            path = Path(tmp) / f"{case}.jsonl"
            write_input(case, path)
            result = subprocess.run([sys.executable, __file__, "--one", str(path)], capture_output=True, text=True,
                                    check=True)
            got = json.loads(result.stdout)
            print(f"| {label} | {got['status']} | {got['peak_mb']:.0f} MB | {got['before_index_mb']:.0f} MB | "
                  f"{got['seconds']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
