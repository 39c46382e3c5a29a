"""Lexical engines at archive scale: SQLite FTS5 (today's lexical leg) against tantivy, on the same
passages and the same questions, to choose the engine by measurement (issue 12).

    python benchmarks/lexical_engines.py --passages 1000000 --out /tmp/lexical-1m

Passages are real news sentences (Reuters-21578) recombined at random, about 8 sentences each,
with sources spread over 20 names and dates over 1990-2024. Queries are the first 300 squad-dev-a
questions, made into the product's lexical query (query words OR-ed, stopwords left out). Each
engine answers the top 300 by BM25, with no filter and with a date filter, warm (every query run
once before the timed pass). Builds are timed and measured on disk.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sqlite3
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import SHARED_DATA, report, table  # noqa: E402

from search_api.query import query_words  # noqa: E402

SOURCES = [f"Outlet {i:02d}" for i in range(20)]
FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"  # the product's FTS5 tokenizer before tantivy
DEPTH = 300
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def synthetic_passages(count: int, seed: int = 7):
    """`count` (passage id, title, text, source, YYYYMMDD) tuples made of real Reuters sentences."""
    sentences, titles = [], []
    with open(SHARED_DATA / "reuters21578" / "reuters21578.jsonl", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            body = " ".join((record.get("text") or "").split())
            if body:
                sentences += [s for s in _SENTENCE_END.split(body) if 20 < len(s) < 400]
                titles.append(record.get("title") or "")
    rng = random.Random(seed)
    for passage_id in range(1, count + 1):
        text = " ".join(rng.choice(sentences) for _ in range(8))
        day = rng.randrange(1990, 2025) * 10000 + rng.randrange(1, 13) * 100 + rng.randrange(1, 29)
        yield passage_id, rng.choice(titles), text, rng.choice(SOURCES), day


def questions(limit: int = 300) -> list[str]:
    with open(SHARED_DATA / "squad-dev-a" / "queries.jsonl", encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line, _ in zip(handle, range(limit))]


def directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class Fts5:
    """Today's lexical leg: FTS5 with the product's tokenizer, bm25() ORDER BY rank LIMIT 300."""

    name = "SQLite FTS5"

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "fts.sqlite"
        self.conn = sqlite3.connect(self.path)

    def build(self, passages) -> None:
        self.conn.executescript(f"""
            PRAGMA journal_mode = WAL;
            CREATE TABLE meta (id INTEGER PRIMARY KEY, source TEXT NOT NULL, published TEXT NOT NULL);
            CREATE INDEX meta_published ON meta(published);
            CREATE VIRTUAL TABLE fts USING fts5(text, title, tokenize = '{FTS_TOKENIZER}');""")
        batch = []
        for pid, title, text, source, day in passages:
            batch.append((pid, title, text, source, f"{day // 10000}-{day // 100 % 100:02d}-{day % 100:02d}"))
            if len(batch) == 10_000:
                self._insert(batch)
                batch = []
        self._insert(batch)
        self.conn.execute("INSERT INTO fts(fts) VALUES ('optimize')")
        self.conn.commit()

    def _insert(self, batch) -> None:
        self.conn.executemany("INSERT INTO meta VALUES (?, ?, ?)", [(p, s, d) for p, _, _, s, d in batch])
        self.conn.executemany("INSERT INTO fts(rowid, text, title) VALUES (?, ?, ?)", [(p, x, t) for p, t, x, _, _ in batch])
        self.conn.commit()

    def search(self, question: str, date_range: tuple[int, int] | None = None) -> list[int]:
        # The product's FTS5 query before tantivy: every word quoted, any may match.
        expression = " OR ".join(f'"{word}"' for word in query_words(question))
        if date_range is None:
            rows = self.conn.execute("SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY bm25(fts, 1.0, 1.0) LIMIT ?",
                                     (expression, DEPTH))
        else:
            low, high = (f"{d // 10000}-{d // 100 % 100:02d}-{d % 100:02d}" for d in date_range)
            rows = self.conn.execute(
                "SELECT f.rowid FROM fts f JOIN meta m ON m.id = f.rowid WHERE fts MATCH ? "
                "AND m.published BETWEEN ? AND ? ORDER BY bm25(fts, 1.0, 1.0) LIMIT ?", (expression, low, high, DEPTH))
        return [row[0] for row in rows]


class Tantivy:
    """tantivy: the same stemming (Porter-style English stemmer, lower case, ASCII folding), text and
    title fields, the date as an indexed fast field; top-k with block-max WAND."""

    name = "tantivy"

    def __init__(self, folder: Path):
        import tantivy

        self.tantivy = tantivy
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        builder = tantivy.SchemaBuilder()
        builder.add_integer_field("id", stored=True, indexed=True, fast=True)
        builder.add_text_field("text", stored=False, tokenizer_name="news")
        builder.add_text_field("title", stored=False, tokenizer_name="news")
        builder.add_text_field("source", stored=False, tokenizer_name="raw", fast=True)
        builder.add_integer_field("day", stored=False, indexed=True, fast=True)
        self.schema = builder.build()
        self.analyzer = (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
                         .filter(tantivy.Filter.remove_long(40)).filter(tantivy.Filter.lowercase())
                         .filter(tantivy.Filter.ascii_fold()).filter(tantivy.Filter.stemmer("english")).build())
        self.index = tantivy.Index(self.schema, path=str(folder))
        self.index.register_tokenizer("news", self.analyzer)

    def build(self, passages) -> None:
        writer = self.index.writer(heap_size=500_000_000, num_threads=2)
        for pid, title, text, source, day in passages:
            writer.add_document(self.tantivy.Document(id=pid, title=title, text=text, source=source, day=day))
        writer.commit()
        writer.wait_merging_threads()
        self.index.reload()

    def query(self, question: str):
        tantivy = self.tantivy
        terms = dict.fromkeys(t for w in query_words(question) for t in self.analyzer.analyze(w))
        return tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(self.schema, field, term))
             for term in terms for field in ("text", "title")])

    def search(self, question: str, date_range: tuple[int, int] | None = None) -> list[int]:
        tantivy = self.tantivy
        query = self.query(question)
        if date_range is not None:
            dates = tantivy.Query.range_query(self.schema, "day", tantivy.FieldType.Integer, *date_range)
            query = tantivy.Query.boolean_query([(tantivy.Occur.Must, query),
                                                 (tantivy.Occur.Must, tantivy.Query.const_score_query(dates, 0.0))])
        searcher = self.index.searcher()
        hits = searcher.search(query, DEPTH, count=False).hits
        return searcher.fast_field_values("id", [address for _, address in hits])


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49], cuts[89], cuts[98]


def timed(engine, qs: list[str], date_range) -> tuple[list[float], list[list[int]]]:
    for q in qs:  # warm the page cache and the engine's own caches
        engine.search(q, date_range)
    times, results = [], []
    for q in qs:
        started = time.perf_counter()
        results.append(engine.search(q, date_range))
        times.append((time.perf_counter() - started) * 1000)
    return times, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, required=True, help="folder for both engines' indexes (kept)")
    parser.add_argument("--engines", nargs="+", default=["fts5", "tantivy"], choices=["fts5", "tantivy"])
    parser.add_argument("--no-report", action="store_true", help="print, do not append to docs/benchmarks.md")
    args = parser.parse_args()
    qs = questions()
    date_range = (20000101, 20091231)
    rows, rankings = [], {}
    for key in args.engines:
        folder = args.out / key
        fresh = not folder.exists()
        engine = {"fts5": Fts5, "tantivy": Tantivy}[key](folder)
        build_s = None
        if fresh:
            started = time.perf_counter()
            engine.build(synthetic_passages(args.passages))
            build_s = time.perf_counter() - started
        size = directory_bytes(folder)
        plain, rankings[key] = timed(engine, qs, None)
        dated, _ = timed(engine, qs, date_range)
        p, d = percentiles(plain), percentiles(dated)
        rows.append([engine.name, f"{build_s:.0f} s" if build_s else "(reused)", f"{size / 1e6:.0f} MB",
                     *(f"{x:.1f}" for x in p), *(f"{x:.1f}" for x in d)])
        print(rows[-1], flush=True)
    body = table(["engine", "build", "disk", "p50 ms", "p90 ms", "p99 ms", "date filter p50", "p90", "p99"], rows)
    if len(rankings) == 2:
        overlap = statistics.mean(len(set(a[:10]) & set(b[:10])) / max(1, min(10, len(a), len(b)))
                                  for a, b in zip(rankings["fts5"], rankings["tantivy"]))
        body += f"\n\nTop-10 overlap between the two engines (same BM25, different tokenizers): {overlap:.3f}"
    title = f"Lexical engines at {args.passages:,} passages (top {DEPTH}, 300 squad questions, warm)"
    if args.no_report:
        print(body)
    else:
        report(title, body)


if __name__ == "__main__":
    main()
