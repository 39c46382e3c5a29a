"""Writes for months (issue 20): a large archive built through the writer's own tables, then a long
run of one-article POSTs, DELETEs and updates through a live server while a client searches.

    python benchmarks/soak.py --passages 1000000 --sources 1 --writes 6000 --out /tmp/soak-1m-1
    python benchmarks/soak.py --passages 50000 --sources 20 --writes 1000 --out /tmp/soak-50k-20

The archive: `--seed-articles` Reuters stories are indexed by `IndexWriter` (the real model), then
their rows are copied until the archive holds `--passages` passages, each copy with the writer's
bookkeeping: its articles row (its text with one line of its own added, so each copy is a story
of its own), its chunks (the seed's vectors plus noise, renormalised), its MinHash signature and
band rows (a random signature, as `archive_scale.py`: copies are distinct stories, not a
near-duplicate group of thousands), and its boilerplate counts, through
`LearnedBoilerplate.observe` and `.save` as the writer counts them. Sources: `--sources` names,
one of them for every article with `--sources 1`. Then `IndexWriter(rebuild=True)` lays out
FAISS and the lexical index, as a real run would leave them.

The run: `article-search serve` with writes enabled on a free port; `--quiet-searches` searches
alone (the quiet p99); then `--writes` writes, five of every six a one-article POST of a new
story (a Reuters story past the seed, under a new id), the sixth alternately a DELETE of an
archive article and an update (a POST of an archive article with a changed text), while one
client searches without pause. Every `--report-every` writes: POST p50 / p99 / max, the max of
the DELETEs and updates, search p99 during those writes, the vector segments, the disk bytes of
the index, and the server's RSS.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import itertools
import os
import sqlite3
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import SHARED_DATA, first_records, report, table  # noqa: E402
from memory import rss_mb  # noqa: E402
from query_latency import percentile, start_server  # noqa: E402

KEY = "soak-benchmark"
REUTERS = SHARED_DATA / "reuters21578" / "reuters21578.jsonl"


def source_name(article_id: str, sources: int) -> str:
    return f"Outlet {int(hashlib.sha1(article_id.encode()).hexdigest(), 16) % sources:02d}"


def seed_index(out: Path, articles: list, sources: int) -> Path:
    """The seed stories indexed by the real writer (model, chunker, bookkeeping), under their outlets."""
    from indexer.article import Article
    from indexer.writer import IndexWriter

    seed = out.parent / f"{out.name}-seed"
    if not (seed / "manifest.json").exists():
        with IndexWriter(seed) as writer:
            writer.add([Article(a.id, a.title, a.text, a.url, a.published, source=source_name(a.id, sources))
                        for a in articles])
    return seed


def copy_rows(out: Path, seed: Path, passages: int, sources: int) -> None:
    """Copy the seed's rows into `out` (a new index made by IndexWriter) until it holds `passages`
    passages, each copy with the writer's bookkeeping (see the module's docstring)."""
    from indexer import duplicates, store
    from indexer.boilerplate import LearnedBoilerplate

    source = sqlite3.connect(seed / store.DATABASE)
    articles = source.execute("SELECT id, title, url, published, author, text, metadata FROM articles").fetchall()
    chunks: dict[str, list] = {}
    for row in source.execute("SELECT article_id, position, start, end, text, tokens, vector, sentences, "
                              "sentence_vectors FROM chunks ORDER BY article_id, position"):
        chunks.setdefault(row[0], []).append(row[1:])
    conn = sqlite3.connect(out / store.DATABASE)
    conn.execute("PRAGMA synchronous = OFF")
    learned = LearnedBoilerplate(conn)
    rng = np.random.default_rng(20)
    chunk_id, written = 0, 0
    for copy in itertools.count():
        for article_id, title, url, published, author, text, metadata in articles:
            if written >= passages:
                break
            new_id = f"{article_id}~{copy}"
            outlet = source_name(new_id, sources)
            text = f"{text}\n\nArchive copy {copy} of story {article_id}."
            signature = rng.integers(0, 2 ** 32, duplicates.NUM_PERM, dtype=np.uint32)
            conn.execute("INSERT INTO articles (id, title, url, published, author, source, text, metadata, content_hash, "
                         "indexed_at, minhash, duplicate_group) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                         (new_id, title, f"{url}#copy-{copy}", published, author, outlet, text, metadata,
                          f"soak-{new_id}", "2026-01-01T00:00:00+00:00", signature.tobytes(),
                          duplicates.new_group_id(new_id, f"soak-{new_id}")))
            conn.executemany("INSERT INTO minhash_bands VALUES (?, ?, ?)",
                             [(band, key, new_id) for band, key in enumerate(duplicates.band_keys(signature))])
            learned.save(conn, learned.observe(outlet, new_id, text))
            for position, start, end, passage, tokens, vector, sentences, sentence_vectors in chunks.get(article_id, []):
                chunk_id += 1
                noisy = np.frombuffer(vector, dtype=np.float32) + rng.normal(0, 0.04, 384).astype(np.float32)
                conn.execute("INSERT INTO chunks (id, article_id, position, start, end, text, tokens, vector, sentences, "
                             "sentence_vectors) VALUES (?,?,?,?,?,?,?,?,?,?)",
                             (chunk_id, new_id, position, start, end, passage, tokens,
                              (noisy / np.linalg.norm(noisy)).astype(np.float32).tobytes(), sentences, sentence_vectors))
                written += 1
        if written >= passages:
            break
        conn.commit()
    conn.execute("INSERT INTO meta VALUES ('generation', '1') ON CONFLICT(key) DO UPDATE SET value = '1'")
    store.forget_counts(conn)  # rows written here, not by the writer: its next open counts them
    conn.commit()
    conn.close()


def build(out: Path, passages: int, sources: int, seed_articles: list) -> float:
    """Seed, copy and lay out the archive in `out`; returns the seconds it took."""
    from indexer import store
    from indexer.writer import IndexWriter

    started = time.perf_counter()
    seed = seed_index(out, seed_articles, sources)
    with IndexWriter(out, store.read_manifest(seed)["model"]["name"]):
        pass  # a new, empty index: manifest, schema, model fingerprint and probe vectors
    copy_rows(out, seed, passages, sources)
    with IndexWriter(out, rebuild=True):
        pass  # FAISS laid out from the stored vectors, the lexical index written, the counts kept
    return time.perf_counter() - started


class Searching:
    """One client searching without pause; `take()` returns the latencies since the last take."""

    def __init__(self, url: str, queries: list[str]):
        self._latencies: list[float] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.errors: collections.Counter = collections.Counter()  # non-200 answers by status (or exception)
        self._thread = threading.Thread(target=self._run, args=(url, queries), daemon=True)
        self._thread.start()

    def _run(self, url: str, queries: list[str]) -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            for query in itertools.cycle(queries):
                if self._stop.is_set():
                    return
                started = time.perf_counter()
                try:
                    status = http.get("/search", params={"q": query, "k": 10}).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                with self._lock:
                    self._latencies.append(time.perf_counter() - started)
                    if status != 200:
                        self.errors[status] += 1

    def take(self) -> list[float]:
        with self._lock:
            taken, self._latencies = self._latencies, []
        return taken

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def disk_bytes(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        try:
            total += path.stat().st_size if path.is_file() else 0
        except FileNotFoundError:  # merged or purged away meanwhile
            pass
    return total


def ms(seconds: list[float], q: float | None = None) -> str:
    if not seconds:
        return "–"
    return f"{(max(seconds) if q is None else percentile(seconds, q)) * 1000:.0f}"


def soak(out: Path, fresh: list, writes: int, every: int, quiet_searches: int) -> tuple[list[list], dict]:
    """Run the writes against a server over `out`; the report rows and the run's totals."""
    from indexer import store

    conn = sqlite3.connect(out / store.DATABASE)
    archive_ids = [row[0] for row in conn.execute("SELECT id FROM articles ORDER BY random() LIMIT ?", (writes,))]
    queries = [row[0] for row in conn.execute("SELECT title FROM articles WHERE title != '' ORDER BY random() LIMIT 200")]
    conn.close()
    process, url = start_server(out, env=dict(os.environ, ARTICLE_SEARCH_API_KEY=KEY))
    rows, totals = [], {"post_max": 0.0, "other_max": 0.0, "errors": 0, "segments_max": 0}
    http = httpx.Client(base_url=url, timeout=300, headers={"Authorization": f"Bearer {KEY}"})
    try:
        quiet = []
        for query in itertools.islice(itertools.cycle(queries), quiet_searches):
            started = time.perf_counter()
            http.get("/search", params={"q": query, "k": 10})
            quiet.append(time.perf_counter() - started)
        totals["quiet_p99"] = percentile(quiet, 99)
        rows.append(["0 (quiet)", "–", "–", "–", "–", ms(quiet, 99), http.get("/stats").json()["vector_segments"],
                     f"{disk_bytes(out) / 1e6:.0f} MB", f"{rss_mb(process.pid):.0f} MB"])
        searching = Searching(url, queries)
        posts, others = [], []
        stories, targets = iter(fresh), iter(archive_ids)
        for number in range(1, writes + 1):
            started = time.perf_counter()
            if number % 6:
                story = next(stories)
                response = http.post("/articles", json={"id": f"soak-{number}", "title": story.title,
                                                        "text": story.text, "published": story.published,
                                                        "source": story.source})
                posts.append(time.perf_counter() - started)
            elif number % 12:
                response = http.delete(f"/articles/{next(targets)}")
                others.append(time.perf_counter() - started)
            else:
                target = http.get(f"/articles/{next(targets)}").json()
                response = http.post("/articles", json={"id": target["id"], "title": target["title"],
                                                        "text": target["text"] + "\n\nCorrection appended later.",
                                                        "source": target.get("source") or ""})
                others.append(time.perf_counter() - started)
            totals["errors"] += response.status_code != 200
            if number % every == 0 or number == writes:
                segments = http.get("/stats").json()["vector_segments"]
                searched = searching.take()
                totals["post_max"] = max(totals["post_max"], max(posts, default=0))
                totals["other_max"] = max(totals["other_max"], max(others, default=0))
                totals["segments_max"] = max(totals["segments_max"], segments)
                totals["search_p99_max"] = max(totals.get("search_p99_max", 0), percentile(searched, 99))
                rows.append([number, ms(posts, 50), ms(posts, 99), ms(posts), ms(others), ms(searched, 99), segments,
                             f"{disk_bytes(out) / 1e6:.0f} MB", f"{rss_mb(process.pid):.0f} MB"])
                print(rows[-1], flush=True)
                posts, others = [], []
        searching.stop()
        totals["search_errors"] = dict(searching.errors) or 0
    finally:
        http.close()
        process.terminate()
        process.wait(timeout=60)
    return rows, totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--sources", type=int, default=1, help="outlets the archive's articles are spread over")
    parser.add_argument("--writes", type=int, default=6000)
    parser.add_argument("--report-every", type=int, default=500)
    parser.add_argument("--seed-articles", type=int, default=300, help="Reuters stories indexed by the model")
    parser.add_argument("--quiet-searches", type=int, default=300)
    parser.add_argument("--out", type=Path, required=True, help="the archive's index directory (kept; reused "
                                                                "only with --reuse)")
    parser.add_argument("--reuse", action="store_true", help="soak an archive --out holds already")
    parser.add_argument("--note", default="", help="a line added to the report (for example the machine's load)")
    args = parser.parse_args()
    from indexer.inputs import read_paths

    needed = args.seed_articles + args.writes
    args.out.parent.mkdir(parents=True, exist_ok=True)
    stories = [a for a in read_paths([first_records(REUTERS, needed * 2, args.out.parent)])
               if hasattr(a, "text") and len(a.text) > 200][:needed]
    seed_articles, fresh = stories[:args.seed_articles], stories[args.seed_articles:]
    if len(fresh) * 6 < args.writes * 5:
        raise SystemExit(f"not enough Reuters stories for {args.writes} writes")
    seconds = 0.0 if args.reuse else build(args.out, args.passages, args.sources, seed_articles)
    rows, totals = soak(args.out, fresh, args.writes, args.report_every, args.quiet_searches)
    header = ["writes", "POST p50 ms", "POST p99 ms", "POST max ms", "DELETE/update max ms", "search p99 ms",
              "segments", "disk", "server RSS"]
    checks = (f"Targets: no POST over 1 s: max {totals['post_max'] * 1000:.0f} ms "
              f"({'met' if totals['post_max'] <= 1 else 'NOT met'}); segments ≤ 40: at most {totals['segments_max']} "
              f"({'met' if totals['segments_max'] <= 40 else 'NOT met'}); search p99 during writes ≤ 1.5 × quiet "
              f"({totals['quiet_p99'] * 1000:.0f} ms): at most {totals['search_p99_max'] * 1000:.0f} ms "
              f"({'met' if totals['search_p99_max'] <= 1.5 * totals['quiet_p99'] else 'NOT met'}). "
              f"Non-200 writes: {totals['errors']}; non-200 searches: {totals['search_errors']}.")
    report(f"Soak: {args.passages:,} passages, {args.sources} source{'s' * (args.sources > 1)}, {args.writes:,} writes",
           table(header, rows),
           (f"Archive reused as --out held it. " if args.reuse else
            f"Archive built in {seconds:.0f} s through the writer's tables ({args.seed_articles} Reuters stories "
            f"indexed, their rows copied with MinHash and boilerplate bookkeeping). ") + f"{checks} {args.note}".strip())


if __name__ == "__main__":
    main()
