"""The archive at scale: build an index of N passages (default 1,000,000) that `article-search serve`
opens like any other, then measure what a site and a newsroom feel (issue 12).

    python benchmarks/archive_scale.py --passages 1000000 --out /tmp/archive-1m
    python benchmarks/archive_scale.py --passages 25000 --out /tmp/archive-25k

The build skips the model where it can: passages are real Reuters sentences recombined (about 8 a
passage, 4 passages an article), sources spread over 20 names and dates over 1990-2024; each
passage's vector is a real passage vector of `--seed-index` (default: an index of data/, built
first) plus noise, renormalised. Rows go into SQLite directly; then `IndexWriter(rebuild=True)`,
the product's own code, lays out FAISS (IVF from 200k passages, as `auto` chooses) and writes the
lexical index. An existing --out is measured again without rebuilding, whoever built it (an archive
of benchmarks/soak.py too: the filters measured come from the archive's own sources and dates).

Measured, against a real `article-search serve` over HTTP with one client: /search p50/p90/p99
for 300 squad-dev-a questions per mode and per filter, the keystrokes of 30 of them typed into a
search box (/search with facets, /suggest), the keystrokes of 30 others typed by 8 clients at
once (keystrokes/s, p50, p99), /articles/{id}/related, two POSTed articles
(until it answers, until a search finds it, and the bytes the server wrote for it), the CLI
`index` of one new article, `serve` start-up until ready, server RSS after start-up and after the
searches, and disk bytes per passage. Then, in process with the server stopped, the keystroke
profile of benchmarks/keystroke_work.py: where the time of a median and a p99 keystroke goes, and
the work per keystroke (skip it with --no-profile).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import report, table  # noqa: E402
from lexical_engines import synthetic_passages  # noqa: E402
from memory import rss_mb  # noqa: E402
from keystroke_work import keystrokes, profile  # noqa: E402
from query_latency import load_queries, percentile, start_server  # noqa: E402

PASSAGES_PER_ARTICLE = 4
KEY = "archive-scale-benchmark"
KEYSTROKE_FACETS = "source,author,year"
CONCURRENT_BOXES = 8


def seed_vectors(seed_index: Path | None, workdir: Path) -> tuple[np.ndarray, Path]:
    """Real passage vectors to perturb, and the index they come from (built from data/ if needed)."""
    if seed_index is None:
        seed_index = workdir / "seed-index"
        if not (seed_index / "manifest.json").exists():
            subprocess.run([sys.executable, "-m", "search_api.cli", "index", "data/", "--index", str(seed_index)],
                           check=True, cwd=Path(__file__).resolve().parent.parent)
    conn = sqlite3.connect(seed_index / "index.sqlite")
    vectors = np.stack([np.frombuffer(blob, dtype=np.float32) for (blob,) in conn.execute("SELECT vector FROM chunks")])
    return vectors, seed_index


def build(out: Path, passages: int, seed_index: Path | None) -> float:
    """Write the synthetic archive into `out`; returns the seconds it took."""
    from indexer import store
    from indexer.writer import IndexWriter

    started = time.perf_counter()
    seeds, seed_dir = seed_vectors(seed_index, out.parent)
    with IndexWriter(out, store.read_manifest(seed_dir, upgradable=True)["model"]["name"]):
        pass  # a new, empty index: manifest, schema, model fingerprint and probe vectors
    rng = np.random.default_rng(11)
    conn = sqlite3.connect(out / store.DATABASE)
    conn.execute("PRAGMA synchronous = OFF")
    article_rows, chunk_rows = [], []

    def flush():
        conn.executemany("INSERT INTO articles (id, title, url, published, author, source, text, metadata, "
                         "content_hash, indexed_at, minhash, duplicate_group) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                         article_rows)
        conn.executemany("INSERT INTO chunks (id, article_id, position, start, end, text, tokens, vector, sentences, "
                         "sentence_vectors) VALUES (?,?,?,?,?,?,?,?,?,?)", chunk_rows)
        conn.commit()
        article_rows.clear()
        chunk_rows.clear()

    texts: list[str] = []
    for passage_id, title, text, source, day in synthetic_passages(passages):
        texts.append(text)
        if len(texts) < PASSAGES_PER_ARTICLE and passage_id < passages:
            continue
        number = (passage_id - 1) // PASSAGES_PER_ARTICLE
        article_id = f"arch-{number:07d}"
        body = "\n\n".join(texts)
        published = f"{day // 10000}-{day // 100 % 100:02d}-{day % 100:02d}"
        article_rows.append((article_id, title, f"https://example.org/{article_id}", published, "", source, body, "{}",
                             f"synthetic-{number}", "2026-01-01T00:00:00+00:00",
                             rng.integers(0, 2**32, 128, dtype=np.uint32).tobytes(), f"dup-{article_id}"))
        start = 0
        for position, passage in enumerate(texts):
            vector = seeds[rng.integers(len(seeds))] + rng.normal(0, 0.04, seeds.shape[1]).astype(np.float32)
            vector = (vector / np.linalg.norm(vector)).astype(np.float32)
            sentences = [[0, len(passage)]]
            sentence_vectors = np.clip(np.round(vector * 127 / np.abs(vector).max()), -127, 127).astype(np.int8)
            chunk_rows.append((passage_id - len(texts) + 1 + position, article_id, position, start,
                               start + len(passage), passage, 200, vector.tobytes(), json.dumps(sentences),
                               sentence_vectors.tobytes()))
            start += len(passage) + 2
        texts = []
        if len(chunk_rows) >= 20_000:
            flush()
    flush()
    conn.execute("INSERT INTO meta VALUES ('generation', '1') ON CONFLICT(key) DO UPDATE SET value = '1'")
    store.forget_counts(conn)  # rows written here, not by the writer: its next open counts them
    conn.commit()
    conn.close()
    with IndexWriter(out, rebuild=True):
        pass  # FAISS laid out from the stored vectors, the lexical index written, the manifest saved
    return time.perf_counter() - started


def timed_get(http: httpx.Client, path: str, params: dict) -> float:
    started = time.perf_counter()
    response = http.get(path, params=params)
    response.raise_for_status()
    return (time.perf_counter() - started) * 1000


def spread(samples: list[float]) -> list[str]:
    return [f"{percentile(samples, q):.1f}" for q in (50, 90, 99)]


def written_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes"):
            return int(line.split()[1])
    return 0


def file_states(folder: Path) -> dict[Path, tuple[int, int]]:
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def touched(before: dict[Path, tuple[int, int]], after: dict[Path, tuple[int, int]], root: Path) -> str:
    """The files a write created or changed, with their sizes: what it cost on disk."""
    new = [p for p in after if p not in before]
    changed = [p for p in after if p in before and after[p] != before[p]]
    def names(paths):
        return ", ".join(f"{p.relative_to(root)} ({after[p][0] / 1e3:,.0f} kB)" for p in sorted(paths)) or "none"
    return f"new files: {names(new)}; changed files: {names(changed)}"


def archive_filters(sample: list[tuple[str, str]]) -> list[tuple[str, dict]]:
    """The filters measured, from a random sample of the archive's (source, published) rows, so
    that any archive (this script's, or one built by benchmarks/soak.py) is measured with filters
    that pass part of it: the sample's most common source but three (`SOURCES[3]` of this script's
    builds), and the dates of the sample's 85th and 17th percentile (near 2020-01-01 and 1995-12-31
    in this script's builds, dated 1990-2024)."""
    sources = collections.Counter(source for source, _ in sample if source).most_common()
    days = sorted(published[:10] for _, published in sample if published)
    filters = []
    if sources:
        source = sources[min(3, len(sources) - 1)][0]
        filters.append((f"source={source}", {"source": source}))
    if days:
        late, early = days[int(len(days) * 0.85)], days[int(len(days) * 0.17)]
        filters += [(f"date_from={late}", {"date_from": late}), (f"date_to={early}", {"date_to": early})]
    return filters


def keystrokes_concurrently(url: str, questions: list[str], clients: int) -> tuple[list[float], float, int]:
    """`clients` search boxes typing at once, each its share of `questions` keystroke by keystroke
    (from the 3rd character, /search hybrid with facets, as one client's keystroke rows); returns
    the latencies (ms), keystrokes per second, and the non-200 answers."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def box(typed: list[str]) -> None:
        nonlocal errors
        with httpx.Client(base_url=url, timeout=120) as http:
            for text in typed:
                started = time.perf_counter()
                status = http.get("/search", params={"q": text, "facets": KEYSTROKE_FACETS}).status_code
                with lock:
                    latencies.append((time.perf_counter() - started) * 1000)
                    errors += status != 200

    started = time.perf_counter()
    threads = [threading.Thread(target=box, args=(keystrokes(questions[number::clients]),)) for number in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, len(latencies) / (time.perf_counter() - started), errors


def measure(out: Path, requests: int) -> tuple[list[list], list[str]]:
    queries = load_queries(out, requests)
    conn = sqlite3.connect(out / "index.sqlite")
    sample = conn.execute("SELECT id, source, published FROM articles ORDER BY random() LIMIT ?", (requests,)).fetchall()
    passages = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    conn.close()
    article_ids = [article_id for article_id, _, _ in sample]
    filters = archive_filters([(source or "", published or "") for _, source, published in sample])
    disk = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    rows, notes = [], []
    os.environ["ARTICLE_SEARCH_API_KEY"] = KEY
    started = time.perf_counter()
    process, url = start_server(out)
    ready_s = time.perf_counter() - started
    rss_start = rss_mb(process.pid)
    try:
        with httpx.Client(base_url=url, timeout=120) as http:
            for q in queries[:20]:
                http.get("/search", params={"q": q})
            for mode in ("hybrid", "dense", "lexical"):
                rows.append([f"/search {mode}", *spread([timed_get(http, "/search", {"q": q, "mode": mode})
                                                         for q in queries])])
            for name, params in filters:
                for mode in ("hybrid", "dense", "lexical"):
                    rows.append([f"/search {mode}, {name}", *spread(
                        [timed_get(http, "/search", {"q": q, "mode": mode, **params}) for q in queries])])
            # A search box: every prefix of a question from its third character, as typed, asks for
            # results with facets and for suggestions (issue 13's keystroke).
            typed = keystrokes(queries[:30])
            rows.append([f"keystroke: /search hybrid + facets={KEYSTROKE_FACETS}", *spread(
                [timed_get(http, "/search", {"q": text, "facets": KEYSTROKE_FACETS}) for text in typed])])
            rows.append(["keystroke: /suggest", *spread([timed_get(http, "/suggest", {"q": text}) for text in typed])])
            # Eight search boxes at once, typing 30 other questions between them.
            latencies, rate, errors = keystrokes_concurrently(url, queries[30:60], CONCURRENT_BOXES)
            rows.append([f"keystroke, {CONCURRENT_BOXES} clients at once: {rate:.1f} keystrokes/s, {errors} errors",
                         *spread(latencies)])
            rows.append(["/articles/{id}/related", *spread(
                [timed_get(http, f"/articles/{a}/related", {"k": 10}) for a in article_ids])])
            rss_after = rss_mb(process.pid)
            # Two articles, each new (an id of this run): the first write also loads the server's
            # write model; the second is what every later write costs.
            stamp = time.strftime("%Y%m%d%H%M%S")
            posts = []
            for number, (title, place) in enumerate((("Zanzibar clove harvest doubles", "Zanzibar"),
                                                     ("Pemba vanilla harvest triples", "Pemba"))):
                article = {"id": f"archive-scale-{stamp}-{number}", "title": title,
                           "text": f"Farmers on {place} harvested far more this season than last, the island's "
                                   "agriculture ministry said on Tuesday, after rains returned."}
                before = written_bytes(process.pid)
                files_before = file_states(out)
                started = time.perf_counter()
                http.post("/articles", json=article, headers={"Authorization": f"Bearer {KEY}"}).raise_for_status()
                answered = time.perf_counter() - started
                written = written_bytes(process.pid) - before
                post_files = touched(files_before, file_states(out), out)
                # Found as a result, or as a collapsed copy of an earlier run's article (a rerun on
                # the same archive posts the same text: a syndicated copy, listed under its original).
                def listed(hit: dict) -> bool:
                    copies = hit.get("also_published_in") or []
                    return article["id"] in (hit["article_id"], *(c["article_id"] for c in copies))

                while not any(listed(hit) for hit in http.get(
                        "/search", params={"q": title, "mode": "lexical"}).json()["results"]):
                    time.sleep(0.05)
                posts.append((answered, time.perf_counter() - started, written, post_files))
    finally:
        process.terminate()
        process.wait()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "one.jsonl"
        path.write_text(json.dumps({"id": f"archive-scale-cli-{time.strftime('%Y%m%d%H%M%S')}",
                                    "title": "Mafia island cashew harvest",
                                    "text": "Cashew growers on Mafia island sold their harvest early this year."}) + "\n")
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "search_api.cli", "index", str(path), "--index", str(out)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cli_s = time.perf_counter() - started
    notes = [f"`serve` ready in {ready_s:.1f} s; server RSS {rss_start:.0f} MB after start-up, {rss_after:.0f} MB "
             f"after the searches",
             *[f"{which} POSTed article: answered in {answered * 1000:.0f} ms, found by a search {found * 1000:.0f} "
               f"ms after it was sent; the server wrote {written / 1e6:.1f} MB for it ({files})"
               for which, (answered, found, written, files) in zip(("first (loads the write model)", "second"),
                                                                    posts)],
             f"CLI `index` of one new article: {cli_s:.1f} s (a new process: model load included)",
             f"disk: {disk / 1e9:.2f} GB, {disk / passages:.0f} bytes per passage ({passages:,} passages)"]
    return rows, notes, passages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, required=True, help="the index directory to build (kept)")
    parser.add_argument("--seed-index", type=Path, help="an index whose passage vectors seed the synthetic ones")
    parser.add_argument("--requests", type=int, default=300, help="requests per row")
    parser.add_argument("--no-report", action="store_true", help="print, do not append to docs/benchmarks.md")
    parser.add_argument("--no-profile", action="store_true", help="skip the in-process keystroke profile")
    args = parser.parse_args()
    build_note = "reused"
    if not (args.out / "manifest.json").exists():
        build_note = f"built in {build(args.out, args.passages, args.seed_index):.0f} s"
    rows, notes, passages = measure(args.out, args.requests)
    body = table(["request (1 client, HTTP)", "p50 ms", "p90 ms", "p99 ms"], rows)
    if not args.no_profile:
        # In process, once the server has stopped: where a keystroke's time goes, and its work.
        latency, steps, work, count = profile(args.out, 30, "hybrid")
        body += "\n\n" + "\n\n".join([
            table(["request", "keystrokes", "p50 ms", "p90 ms", "p99 ms"], latency),
            table(["step (benchmarks/keystroke_work.py)", "median keystroke ms", "p99 keystroke ms", "mean ms"], steps),
            table(["work per keystroke (mean)", "count"], work)])
    notes_text = "\n".join(f"- {note}" for note in [f"index {build_note}"] + notes)
    print(body + "\n\n" + notes_text)
    if not args.no_report:
        report(f"Archive scale: {passages:,} passages over HTTP", body, notes_text)


if __name__ == "__main__":
    main()
