"""BM25 over an index's FTS5 table with collection statistics given from outside.

SQLite's own `bm25()` ranks with the statistics of one table: its row count, average row length
and each term's document frequency. A sharded index has one table per shard, so the same passage
would score differently in each shard and merged rankings would depend on the partition. Like a
search cluster's distributed term statistics ("DFS" in Elasticsearch), a query here runs in two
phases: every shard reports its `LexicalStats` for the query's terms, the sums are sent back, and
each shard scores its matches with them. The formula is FTS5's own (k1 = 1.2, b = 0.75, column
weights multiply term frequencies, IDF floored at 1e-6, length = all columns' tokens), so over one
shard the scores equal `bm25()` (tested in tests/test_shards.py).

    terms = query_terms("OPEC oil prices")            # ['opec', 'oil', 'price']: FTS5's own tokens
    stats = collection_stats(conn_a, terms) + collection_stats(conn_b, terms)
    hits = score(conn_a, terms, stats, depth=300)      # [(chunk_id, score), ...] best first
"""

from __future__ import annotations

import math
import sqlite3
import threading
from dataclasses import dataclass, field

import numpy as np

from indexer.store import FTS_TOKENIZER

K1, B = 1.2, 0.75
MIN_IDF = 1e-6
_local = threading.local()


@dataclass
class LexicalStats:
    """Collection statistics of one or more FTS tables for a query's terms; add them to merge."""

    rows: int = 0
    tokens: int = 0  # all columns of all rows
    doc_freq: dict[str, int] = field(default_factory=dict)

    def __add__(self, other: LexicalStats) -> LexicalStats:
        freq = dict(self.doc_freq)
        for term, count in other.doc_freq.items():
            freq[term] = freq.get(term, 0) + count
        return LexicalStats(self.rows + other.rows, self.tokens + other.tokens, freq)

    def idf(self, term: str) -> float:
        hits = self.doc_freq.get(term, 0)
        value = math.log((self.rows - hits + 0.5) / (hits + 0.5)) if self.rows else 0.0
        return value if value > 0 else MIN_IDF


def _tokenizer() -> sqlite3.Connection:
    """An in-memory FTS5 table with the index's tokenizer, per thread: query words become exactly
    the terms the index holds (stemmed, folded) without a second implementation of the stemmer."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = sqlite3.connect(":memory:")
        conn.execute(f"CREATE VIRTUAL TABLE q USING fts5(t, tokenize = '{FTS_TOKENIZER}')")
        conn.execute("CREATE VIRTUAL TABLE q_terms USING fts5vocab(q, instance)")
    return conn


def query_terms(words: list[str]) -> list[str]:
    """The FTS terms of `words`, in order. Two words with one stem ("elect", "elections") give the
    term twice: FTS5 scores each query word as a phrase of its own, so the term counts twice."""
    conn = _tokenizer()
    with conn:
        conn.execute("DELETE FROM q")
        conn.execute("INSERT INTO q (t) VALUES (?)", (" ".join(words),))
        return [row[0] for row in conn.execute("SELECT term FROM q_terms ORDER BY offset")]


def _varints(data: bytes) -> list[int]:
    """SQLite's variable-length integers, as FTS5 stores its sizes."""
    values, value, count = [], 0, 0
    for byte in data:
        count += 1
        if count == 9:  # the ninth byte carries eight bits
            values.append((value << 8) | byte)
            value, count = 0, 0
        elif byte & 0x80:
            value = (value << 7) | (byte & 0x7F)
        else:
            values.append((value << 7) | byte)
            value, count = 0, 0
    return values


def _ensure_vocab(conn: sqlite3.Connection) -> None:
    # fts5vocab tables live in the connection's temp schema, so a read-only database can have them.
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_terms USING fts5vocab(main, chunks_fts, row)")
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_instances "
                 "USING fts5vocab(main, chunks_fts, instance)")


def collection_stats(conn: sqlite3.Connection, terms: list[str]) -> LexicalStats:
    """Row count, total tokens and the document frequency of each term in one index's FTS table."""
    _ensure_vocab(conn)
    # FTS5 keeps its totals in the "averages" record (block 1 of %_data): the row count, then the
    # token count of each column.
    row = conn.execute("SELECT block FROM chunks_fts_data WHERE id = 1").fetchone()
    totals = _varints(row[0]) if row and row[0] else [0]
    freq = {}
    for term in terms:
        found = conn.execute("SELECT doc FROM chunks_terms WHERE term = ?", (term,)).fetchone()
        freq[term] = found[0] if found else 0
    return LexicalStats(totals[0], sum(totals[1:]), freq)


def score(conn: sqlite3.Connection, terms: list[str], stats: LexicalStats, depth: int,
          weights: tuple[float, ...] = (1.0, 1.0), allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
    """The `depth` best chunk ids of this FTS table for `terms` by BM25 under `stats` (higher is
    better; ties by id), optionally only among `allowed` ids."""
    _ensure_vocab(conn)
    columns = [row[1] for row in conn.execute("PRAGMA table_info(chunks_fts)")]
    weight_of = {name: weights[i] if i < len(weights) else 1.0 for i, name in enumerate(columns)}
    per_term: list[tuple[str, np.ndarray, np.ndarray]] = []
    for term in dict.fromkeys(terms):
        rows = conn.execute("SELECT doc, col, COUNT(*) FROM chunks_instances WHERE term = ? GROUP BY doc, col",
                            (term,)).fetchall()
        if not rows:
            continue
        data = np.array([(doc, weight_of[col] * count) for doc, col, count in rows], dtype=np.float64)
        docs, inverse = np.unique(data[:, 0].astype(np.int64), return_inverse=True)
        per_term.append((term, docs, np.bincount(inverse, weights=data[:, 1])))
    if not per_term:
        return []
    docs = np.unique(np.concatenate([d for _, d, _ in per_term]))
    if allowed is not None:
        docs = docs[np.isin(docs, allowed)]
    if len(docs) == 0:
        return []
    lengths = _row_lengths(conn, docs)
    average = stats.tokens / stats.rows if stats.rows else 1.0
    norm = K1 * (1 - B + B * lengths / average)
    total = np.zeros(len(docs))
    for term, term_docs, freq in per_term:
        positions = np.searchsorted(term_docs, docs)
        positions[positions == len(term_docs)] = 0
        tf = np.where(term_docs[positions] == docs, freq[positions], 0.0)
        total += terms.count(term) * stats.idf(term) * (tf * (K1 + 1)) / (tf + norm)
    order = np.lexsort((docs, -total))[:depth]
    return [(int(docs[i]), float(total[i])) for i in order]


def _row_lengths(conn: sqlite3.Connection, docs: np.ndarray) -> np.ndarray:
    """Tokens in all columns of each row, from FTS5's %_docsize table."""
    sizes: dict[int, int] = {}
    ids = docs.tolist()
    for i in range(0, len(ids), 900):
        part = ids[i:i + 900]
        for rowid, blob in conn.execute(
                f"SELECT id, sz FROM chunks_fts_docsize WHERE id IN ({','.join('?' * len(part))})", part):
            sizes[rowid] = sum(_varints(blob))
    return np.array([sizes.get(d, 0) for d in ids], dtype=np.float64)
