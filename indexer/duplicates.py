"""Near-duplicate articles (syndicated wire copy republished by several outlets), found by MinHash.

Each article's cleaned text is cut into overlapping 5-word shingles; its MinHash signature (128
hash minima) estimates the Jaccard similarity of two shingle sets. Signatures are split into 16
bands of 8 rows for locality-sensitive lookup: two articles share a band bucket with high
probability when their similarity is above ~0.7, so finding the candidates of a new article is a
few indexed SQLite lookups, not a scan. An article joins the group of its most similar
candidate whose estimated similarity reaches `THRESHOLD`, else founds a group of its own
(`new_group_id`). When a member is updated or removed, the other members of its group are
grouped again, as if each were added anew. `duplicate_group` and `regroup` do both in the
index's database, for `IndexWriter` (indexer.writer), inside its transactions.

The same wire story under another headline, with the outlet's own boilerplate and a trimmed last
paragraph, keeps most of its shingles (the headline is not part of the text compared, boilerplate
is removed by cleaning), so it stays far above the threshold; two reports of the same event
written independently share few 5-word runs and stay far below it.
"""

from __future__ import annotations

import hashlib
import sqlite3
import zlib
from collections.abc import Callable

import numpy as np

from . import catalog
from .words import WORD

NUM_PERM = 128
BANDS, ROWS = 16, 8
SHINGLE_WORDS = 5
THRESHOLD = 0.8
_PRIME = (1 << 31) - 1
_rng = np.random.default_rng(20240116)  # fixed: signatures must be the same in every process
_A = _rng.integers(1, _PRIME, NUM_PERM, dtype=np.int64)
_B = _rng.integers(0, _PRIME, NUM_PERM, dtype=np.int64)


def shingles(text: str) -> np.ndarray:
    """crc32 hashes of the text's lower-cased 5-word shingles (the whole text if shorter). A text
    with no words (emoji only) is shingled on its characters instead: with no shingles at all,
    every such text would have one and the same signature and all would group together."""
    words = WORD.findall(text.lower()) or [c for c in text if not c.isspace()]
    if len(words) <= SHINGLE_WORDS:
        pieces = [" ".join(words)]
    else:
        pieces = [" ".join(words[i:i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)]
    return np.unique(np.fromiter((zlib.crc32(p.encode("utf-8")) for p in pieces), dtype=np.int64, count=len(pieces)))


def signature(text: str) -> np.ndarray:
    """The MinHash signature of `text`: NUM_PERM uint32 values."""
    hashed = shingles(text) % _PRIME
    # (a * x + b) mod p for every permutation and shingle; a, x < 2^31 keeps it within int64.
    values = (_A[:, None] * hashed[None, :] + _B[:, None]) % _PRIME
    return values.min(axis=1).astype(np.uint32)


def new_group_id(article_id: str, content_hash: str) -> str:
    """The id of a group founded by an article with this content: opaque, never an article's id
    (one that outlived its founder would otherwise collect whatever next took that id), and the
    same in every run that indexes the same articles."""
    digest = hashlib.sha1(f"{article_id}\0{content_hash}".encode("utf-8")).hexdigest()[:20]
    return f"dup-{digest}"


def band_keys(sig: np.ndarray) -> list[int]:
    """One bucket key per band (crc32 of the band's rows)."""
    return [zlib.crc32(sig[b * ROWS:(b + 1) * ROWS].tobytes()) for b in range(BANDS)]


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of the texts behind two signatures."""
    return float(np.mean(a == b))


def duplicate_group(sources: list[sqlite3.Connection], article_id: str, minhash: np.ndarray, keys: list[int],
                    exclude: frozenset[str] | set[str] = frozenset()) -> str | None:
    """The group of the most similar indexed article at or above the threshold (other than
    `article_id` and those in `exclude`) in the databases `sources` (an index, or every shard of a
    sharded one), else None."""
    where = " OR ".join(catalog.BAND_MATCH for _ in keys)
    params = [value for band, key in enumerate(keys) for value in (band, key)]
    candidates = [row for conn in sources for row in conn.execute(
        catalog.BAND_CANDIDATES.format(where), [*params, article_id])]
    best, group = THRESHOLD, None
    for other_id, other, other_group in candidates:
        if other_id in exclude:
            continue
        score = similarity(minhash, np.frombuffer(other, dtype=np.uint32))
        if score >= best:
            best, group = score, other_group
    return group


def regroup(conn: sqlite3.Connection, sources: list[sqlite3.Connection], group: str, leaving: str,
            bump_generation: Callable[[sqlite3.Connection], None]) -> None:
    """Group the other members of `group` again now that `leaving` has left it (updated or
    removed): each, in id order, as if it were added anew, matched only against articles
    already settled, so that none stays grouped with a text it no longer resembles. Members
    may live in any of `sources`; those in `conn` are changed inside the caller's transaction,
    those in another shard's database in a transaction of their own that `bump_generation`
    publishes."""
    members = sorted((row[0], row[1], row[2], source) for source in sources for row in source.execute(
        catalog.GROUP_MEMBERS, (group, leaving)))
    unsettled = {member[0] for member in members}
    for article_id, minhash, content_hash, source in members:
        unsettled.discard(article_id)
        sig = np.frombuffer(minhash, dtype=np.uint32)
        regrouped = (duplicate_group(sources, article_id, sig, band_keys(sig), unsettled)
                     or new_group_id(article_id, content_hash))
        if source is conn:  # inside the caller's transaction
            conn.execute(catalog.SET_DUPLICATE_GROUP, (regrouped, article_id))
        else:
            # Another shard's database: a transaction of its own that is a new generation of
            # that shard, so its readers see the change with the generation, not inside one.
            with source:
                source.execute("BEGIN IMMEDIATE")
                source.execute(catalog.SET_DUPLICATE_GROUP, (regrouped, article_id))
                bump_generation(source)
