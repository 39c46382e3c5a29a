"""Two servers and a CLI `index` run writing one index at once (issue 21, "writers queue"): every
write must be acknowledged (2xx) or refused only by the documented lock timeout (503 with
Retry-After, after store.WRITE_LOCK_TIMEOUT), and every acknowledged article must be in the index.

An index of the first --base sample articles is built; then two `article-search serve` processes
with writes enabled take --posts one-article POSTs each (from two client threads, one per server,
articles of the sample not in the base), while `article-search index` adds --cli other articles
with --commit-every 2. Prints the status counts per writer and what is missing.

    PYTHONPATH=$PWD python benchmarks/concurrent_writers.py [--base 20] [--posts 20] [--cli 20]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "wikinews_en_2019_2020.jsonl"
KEY = "concurrent-writers-key"
sys.path.insert(0, str(ROOT / "tests"))
from conftest import running_server  # noqa: E402  (a real `serve` process on a free port)


def cli(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "search_api.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))


def post_all(url: str, records: list[dict], statuses: Counter, acknowledged: list[str]) -> None:
    with httpx.Client(timeout=120) as client:
        for record in records:
            try:
                response = client.post(f"{url}/articles", json=record, headers={"Authorization": f"Bearer {KEY}"})
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1
                continue
            statuses[response.status_code] += 1
            if response.is_success:
                acknowledged.append(record["id"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=int, default=20)
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--cli", type=int, default=20)
    args = parser.parse_args()
    with open(SAMPLE, encoding="utf-8") as handle:
        records = [json.loads(next(handle)) for _ in range(args.base + 2 * args.posts + args.cli)]
    with tempfile.TemporaryDirectory(prefix="concurrent-writers-") as tmp:
        work, index = Path(tmp), Path(tmp) / "index"
        base, rest = records[:args.base], records[args.base:]
        posts = [rest[:args.posts], rest[args.posts:2 * args.posts]]
        batch = rest[2 * args.posts:]
        (work / "base.jsonl").write_text("".join(json.dumps(r) + "\n" for r in base), encoding="utf-8")
        (work / "cli.jsonl").write_text("".join(json.dumps(r) + "\n" for r in batch), encoding="utf-8")
        built = cli("index", work / "base.jsonl", "--index", index, "--quiet")
        if built.wait() != 0:
            print(built.stderr.read(), file=sys.stderr)
            return 1
        statuses = [Counter(), Counter()]
        acknowledged: list[str] = []
        started = time.monotonic()
        with running_server(index, api_key=KEY) as first, running_server(index, api_key=KEY) as second:
            run = cli("index", work / "cli.jsonl", "--index", index, "--commit-every", "2", "--quiet")
            threads = [threading.Thread(target=post_all, args=(url, part, counter, acknowledged))
                       for url, part, counter in zip((first, second), posts, statuses)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            out, err = run.communicate()
        seconds = time.monotonic() - started
        conn = sqlite3.connect(index / "index.sqlite")
        stored = {row[0] for row in conn.execute("SELECT id FROM articles")}
        conn.close()
    missing = [a for a in acknowledged if a not in stored]
    cli_missing = [r["id"] for r in batch if r["id"] not in stored] if run.returncode == 0 else []
    print(f"{seconds:.0f} s; server 1: {dict(statuses[0])}; server 2: {dict(statuses[1])}; "
          f"CLI index run: exit {run.returncode} {err.strip()[-300:]}")
    print(f"acknowledged POSTs missing from the index: {missing}; CLI articles missing: {cli_missing}")
    non_2xx = sum(n for counter in statuses for status, n in counter.items() if not str(status).startswith("2"))
    print(f"non-2xx: {non_2xx} of {2 * args.posts} POSTs")
    return int(bool(non_2xx or missing or cli_missing or run.returncode))


if __name__ == "__main__":
    sys.exit(main())
