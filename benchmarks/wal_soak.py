"""WAL soak: one-article writes through a running server while clients search; the WAL's size.

    python benchmarks/wal_soak.py --writes 1000 --readers 4          # on a copy of an index of 60 sample articles
    python benchmarks/wal_soak.py --index index --writes 20000       # on a copy of another index
    python benchmarks/wal_soak.py --writes 20000 --minutes 120       # whichever comes first

One writer POSTs a new article at a time (every fifth write deletes an earlier one instead), while
`--readers` clients search without pause. Every `--every` writes it prints the sizes of the
database and its WAL (index.sqlite-wal), and at the end the largest WAL seen, and whether a
checkpoint from outside (`PRAGMA wal_checkpoint(TRUNCATE)`) passes with the server still running.
The index is copied (or built) in a temporary folder, so the writes never touch the original.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import first_records  # noqa: E402
from query_latency import start_server  # noqa: E402

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "wikinews_en_2019_2020.jsonl"
KEY = "wal-soak-key"
WORDS = ("harbour", "council", "election", "flood", "bridge", "vaccine", "strike", "court", "festival", "drought")


def prepare_index(source: str | None, folder: Path) -> Path:
    """A copy of `source`, or a new index of the first 60 sample articles."""
    index = folder / "index"
    if source:
        shutil.copytree(source, index, ignore=shutil.ignore_patterns(".lock"))
        return index
    from indexer.inputs import read_paths
    from indexer.writer import IndexWriter

    with IndexWriter(index) as writer:
        writer.add(read_paths([first_records(SAMPLE, 60, folder)]))
    return index


def article(number: int, rng: random.Random) -> dict:
    words = rng.sample(WORDS, 4)
    return {"id": f"soak-{number}", "title": f"Soak story {number}: {words[0]} and {words[1]}",
            "text": f"Report {number}. The {words[0]} committee met about the {words[1]} on Monday. "
                    f"Officials said the {words[2]} would be discussed again after the {words[3]}."}


def sizes(index: Path) -> tuple[int, int]:
    wal = index / "index.sqlite-wal"
    return (index / "index.sqlite").stat().st_size, wal.stat().st_size if wal.exists() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", help="index to copy (default: build one of 60 sample articles)")
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--every", type=int, default=100, help="print sizes every N writes")
    parser.add_argument("--minutes", type=float, help="stop after this long even if --writes is not reached")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        index = prepare_index(args.index, Path(tmp))
        os.environ["ARTICLE_SEARCH_API_KEY"] = KEY
        process, url = start_server(index)
        # The first write loads the server's write model: done before the clock and the readers start.
        httpx.post(f"{url}/articles", json=article(0, random.Random(0)), timeout=600,
                   headers={"Authorization": f"Bearer {KEY}"}).raise_for_status()
        stop = threading.Event()
        searches = [0] * args.readers
        failures: list[str] = []

        def reader(number: int) -> None:
            rng = random.Random(number)
            with httpx.Client(base_url=url, timeout=60) as http:
                while not stop.is_set():
                    response = http.get("/search", params={"q": " ".join(rng.sample(WORDS, 2)), "k": 5})
                    if response.status_code != 200:
                        failures.append(f"search {response.status_code}: {response.text[:200]}")
                    searches[number] += 1

        threads = [threading.Thread(target=reader, args=(n,), daemon=True) for n in range(args.readers)]
        for thread in threads:
            thread.start()
        rng = random.Random(0)
        largest, rows, started, done = 0, [], time.monotonic(), 0
        try:
            with httpx.Client(base_url=url, timeout=600, headers={"Authorization": f"Bearer {KEY}"}) as http:
                for number in range(1, args.writes + 1):
                    if args.minutes and time.monotonic() - started > args.minutes * 60:
                        break
                    done = number
                    if number % 5 == 0:
                        response = http.delete(f"/articles/soak-{number - 4}")
                    else:
                        response = http.post("/articles", json=article(number, rng))
                    if response.status_code != 200:
                        failures.append(f"write {number} {response.status_code}: {response.text[:200]}")
                    database, wal = sizes(index)
                    largest = max(largest, wal)
                    if number % args.every == 0:
                        rows.append((number, database, wal, sum(searches), time.monotonic() - started))
                        print(f"{number:6d} writes  database {database / 1e6:7.2f} MB  WAL {wal / 1e6:7.2f} MB  "
                              f"searches {sum(searches):7d}  {time.monotonic() - started:6.0f} s", flush=True)
            conn = sqlite3.connect(index / "index.sqlite")
            busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            conn.close()
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
            process.terminate()
            process.wait(timeout=30)
        print(json.dumps({"writes": done, "readers": args.readers, "searches": sum(searches),
                          "largest_wal_mb": round(largest / 1e6, 2), "final_wal_mb": round(sizes(index)[1] / 1e6, 2),
                          "outside_truncate_checkpoint_busy": busy, "failures": len(failures),
                          "seconds": round(time.monotonic() - started, 1)}, indent=2))
        for failure in failures[:10]:
            print(failure, file=sys.stderr)


if __name__ == "__main__":
    main()
