"""Tombstones: passages removed from the database whose data an engine still holds (a vector in
a segment file, a document in the lexical index), in the `tombstones` table (indexer.catalog).
Readers skip them; they leave a segment when it is merged (indexer.vectors) and the lexical index
when it is purged (indexer.writer), and their row goes once no engine holds them. Each is stamped
with the generation whose transaction removed it, so a reader of a later generation reads only
the tombstones added since the one it had."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

import numpy as np

from . import catalog
from .catalog import TOMBSTONES_SCHEMA


def create_tombstones(conn: sqlite3.Connection) -> None:
    """Create the tombstones table, or give one made before tombstones were stamped with their
    generation that column (0 for the rows it holds), and its index (a writer's or merger's open)."""
    conn.executescript(TOMBSTONES_SCHEMA)
    if not stamps_generations(conn):
        try:
            conn.execute(catalog.ADD_TOMBSTONE_GENERATION)
        except sqlite3.OperationalError as exc:  # another process's writer or merger added it meanwhile
            if "duplicate column" not in str(exc):
                raise
    conn.execute(catalog.TOMBSTONES_GENERATION_INDEX)


def stamps_generations(conn: sqlite3.Connection) -> bool:
    """Whether the tombstones of this database carry their generation (no writer of an older
    version left them without it: a reader opens such a database read-only and reads them all)."""
    return any(row[1] == "generation" for row in conn.execute(catalog.TOMBSTONE_COLUMNS))


def read_tombstones(conn: sqlite3.Connection, engine: str = "vectors", first: int = 0,
                    last: int = 2 ** 62) -> np.ndarray:
    """Chunk ids first..last removed whose data `engine` ('vectors' or 'lexical') still holds,
    sorted (a range of the primary key: it reads only the tombstones in it)."""
    return np.fromiter((row[0] for row in conn.execute(catalog.TOMBSTONES_IN_RANGE[engine], (first, last))),
                       dtype=np.int64)


def tombstones_since(conn: sqlite3.Connection, generation: int, engine: str = "vectors") -> np.ndarray | None:
    """Chunk ids removed after `generation` whose data `engine` still holds, sorted (by the index on
    generation: only those rows are read); None for a database whose tombstones carry no generation."""
    if not stamps_generations(conn):
        return None
    return np.sort(np.fromiter((row[0] for row in conn.execute(catalog.TOMBSTONES_SINCE[engine], (generation,))),
                               dtype=np.int64))


@dataclass(frozen=True)
class LexicalDeletes:
    """The chunk ids a lexical reader of one generation hides (removed, still in the lexical
    index), and the number of lexical purges the database had recorded then."""

    ids: np.ndarray
    purges: int


def lexical_deletes(conn: sqlite3.Connection, previous: LexicalDeletes | None = None,
                    since: int | None = None) -> LexicalDeletes:
    """The lexical tombstones at the generation `conn`'s transaction sees. With `previous`, those
    of generation `since`, and no purge since then, they are `previous` plus the tombstones added
    since (only those rows read); after a purge (which leaves the tombstones of the last
    RETENTION_SECONDS) they are read anew."""
    row = conn.execute(catalog.META_VALUE, (catalog.LEXICAL_PURGES,)).fetchone()
    purges = int(row[0]) if row else 0
    if previous is not None and since is not None and previous.purges == purges:
        added = tombstones_since(conn, since, "lexical")
        if added is not None:
            return LexicalDeletes(np.union1d(previous.ids, added), purges)
    return LexicalDeletes(read_tombstones(conn, "lexical"), purges)


def forget_lexical(conn: sqlite3.Connection, chunk_ids: list[int] | None = None) -> None:
    """Record that the lexical index no longer holds `chunk_ids` (None: any removed passage), in
    a transaction of its own, counted as one lexical purge (see `lexical_deletes`)."""
    with conn:
        if chunk_ids is None:
            conn.execute(catalog.FORGET_ALL_LEXICAL)
        else:
            conn.executemany(catalog.FORGET_LEXICAL, [(c,) for c in chunk_ids])
        conn.execute(catalog.DROP_SPENT_TOMBSTONES)
        conn.execute(catalog.META_INCREMENT, (catalog.LEXICAL_PURGES,))


def add_tombstones(conn: sqlite3.Connection, chunk_ids: list[int]) -> None:
    """Mark removed passages, inside the caller's transaction that deletes their rows and
    publishes the next generation (stamped on them, so that a reader of a later generation reads
    only the tombstones added since the one it had: `tombstones_since`)."""
    now = time.time()
    row = conn.execute(catalog.META_NEXT_GENERATION).fetchone()
    publishing = row[0] if row else 1
    conn.executemany(catalog.ADD_TOMBSTONE, [(c, now, publishing) for c in chunk_ids])
