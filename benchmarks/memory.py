"""Memory: the server's resident memory, and bytes per passage on disk by component.

    python benchmarks/memory.py --index /tmp/reuters

Disk components come from SQLite's dbstat table (pages per table and index) and from the sizes of
the columns inside `chunks`; RSS is read from /proc for a real `article-search serve` process
after start-up and after 200 searches.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import report, table  # noqa: E402
from indexer import store  # noqa: E402
from query_latency import load_queries, start_server  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default="index")
    args = parser.parse_args()
    index = Path(args.index)
    conn = store.connect(index, readonly=True)
    passages = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    pages = dict(conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall())
    columns = conn.execute("SELECT SUM(length(vector)), SUM(length(sentence_vectors)), SUM(length(text)), "
                           "SUM(length(sentences)) FROM chunks").fetchone()
    articles = sum(size for name, size in pages.items() if name.startswith(("articles", "sqlite_autoindex_articles")))
    minhash = sum(size for name, size in pages.items() if name.startswith("minhash"))
    chunks_total = pages.get("chunks", 0) + pages.get("chunks_article", 0)
    faiss_file = sum(path.stat().st_size for path in (index / "vectors").iterdir() if path.is_file())
    lexical = sum(path.stat().st_size for path in (index / "lexical").iterdir() if path.is_file())
    rows = [
        ["FAISS vector segments (vectors/)", faiss_file],
        ["SQLite chunks: passage vectors (float32)", columns[0]],
        ["SQLite chunks: sentence vectors (int8, highlights)", columns[1]],
        ["SQLite chunks: passage text + sentence spans", columns[2] + columns[3]],
        ["SQLite chunks: row and index overhead", chunks_total - sum(columns)],
        ["lexical index (tantivy, lexical/)", lexical],
        ["SQLite articles (full text, metadata, MinHash)", articles],
        ["SQLite MinHash bands", minhash],
    ]
    total = faiss_file + lexical + sum(pages.values())
    rows.append(["total on disk", total])
    body_disk = table(["component", "bytes", "bytes/passage"],
                      [[name, f"{size:,}", f"{size / passages:,.0f}"] for name, size in rows])

    process, url = start_server(index)
    try:
        started = rss_mb(process.pid)
        for q in load_queries(index, 200):
            httpx.get(f"{url}/search", params={"q": q, "k": 10}, timeout=60)
        after = rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait()
    manifest = json.loads((index / "manifest.json").read_text())
    body = body_disk + "\n\n" + table(["server", "RSS MB"], [["after start-up (model loaded, warmed up)", f"{started:.0f}"],
                                                         ["after 200 searches", f"{after:.0f}"]])
    report(f"Memory: {passages:,} passages", body,
           f"Index {index} ({manifest['faiss']['description']}, {manifest['model']['backend']} backend).")


if __name__ == "__main__":
    main()
