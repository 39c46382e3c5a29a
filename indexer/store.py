"""The index directory on disk, shared by the writer (`indexer.writer`) and the reader (`search_api`),
and the `Snapshot` that binds its engines to the database for a reader.

    INDEX_DIR/
      manifest.json   format version, model (name, fingerprint, dimension), chunker settings, vector
                      layout, counts at the last save; written atomically, last
      index.sqlite    articles, chunks (text, offsets, vector), which vector segments are current,
                      tombstones; WAL mode, one transaction per batch
      vectors/        immutable FAISS segments over chunk vectors, ids = chunk ids (indexer.vectors)
      lexical/        the lexical index over chunk text and title, ids = chunk ids (indexer.lexical)
      .lock           held by the one process allowed to write

SQLite is the source of truth: it holds every chunk's vector too, so the vector segments and the
lexical index can always be rebuilt from it without re-embedding. Its tables, `meta` keys and
statements are named in indexer.catalog; file helpers are in indexer.files.

Generations. Every committed batch is one transaction that bumps `generation`, and it is the
publication of that generation: the writer first writes the batch's vector segment and commits its
passages to the lexical index, then commits the transaction that holds the batch's rows and names
its segment. The engines are thus never behind the database; they may be ahead of it (a batch
written, not yet committed) and they keep removed passages a while (tombstones; see
indexer.vectors). A `Snapshot` reads its rows in read transactions at its generation (one held
for its life, or one per request: see `Snapshot`), and it answers from the engines only what
those rows hold: candidates whose row it cannot see (not yet committed, or removed) drop out, and
the vectors of tombstoned passages are skipped.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import stat
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from . import catalog
from .files import write_atomically
from .story_rows import stories_of, story_members
from .vectors import FOLDER as VECTOR_SEGMENTS

FORMAT_VERSION = 3
# A writer upgrades these in place, nothing re-embedded: format 1 kept the lexical index in an FTS5
# table; format 2 kept all vectors in one vectors.faiss rewritten at every save, and its lexical
# index lacked the fields of facets and suggestions.
UPGRADABLE_VERSIONS = (1, 2)
MANIFEST = "manifest.json"
DATABASE = "index.sqlite"
VECTORS = "vectors.faiss"  # format 2's one vectors file, replaced by segments on upgrade
LEXICAL = "lexical"
LOCK = ".lock"
BUSY_TIMEOUT_MS = 10_000  # how long a statement waits for a lock inside SQLite

class StoreError(RuntimeError):
    """The index directory is missing, damaged, locked or of another format. The message says
    what to do."""


class IndexLocked(StoreError):
    """Another process held the index's write lock for longer than a write waits for it."""


def manifest_path(index_dir: Path) -> Path:
    return Path(index_dir) / MANIFEST


def read_manifest(index_dir: str | Path, upgradable: bool = False) -> dict:
    """The manifest of `index_dir`, checked; `upgradable` also accepts an older format that a
    writer upgrades in place."""
    path = manifest_path(Path(index_dir))
    if not path.exists():
        if (Path(index_dir) / DATABASE).exists():
            raise StoreError(f"{path} is missing but {DATABASE} is there; repair the index with: "
                             f"article-search index --repair --index {index_dir}")
        raise StoreError(
            f"no index at {index_dir} (no {MANIFEST}); create one with: article-search index PATH --index {index_dir}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(
            f"{path} is damaged ({exc}); repair it with: article-search index --repair --index {index_dir}") from exc
    version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if version in UPGRADABLE_VERSIONS and not upgradable:
        raise StoreError(f"{path} has format version {version}, from an earlier article-search; upgrade it in "
                         f"place (nothing is re-embedded) with: article-search index --rebuild --index {index_dir}")
    if version != FORMAT_VERSION and not (upgradable and version in UPGRADABLE_VERSIONS):
        raise StoreError(
            f"{path} has format version {version!r}; this article-search reads "
            f"version {FORMAT_VERSION}. Re-index into a new --index directory.")
    missing = _missing_keys(manifest)
    if missing:
        raise StoreError(f"{path} is damaged (missing {', '.join(repr(k) for k in missing)}); repair it with: "
                         f"article-search index --repair --index {index_dir}")
    return manifest


def _missing_keys(manifest: dict) -> list[str]:
    """The keys that readers and writers look up and `manifest` lacks ("model.name" for nested ones)."""
    required = {"model": ("name", "fingerprint"), "dimension": (), "chunker": ()}
    if "shards" in manifest:
        required["shards"] = ("count", "directories")
    else:
        required["faiss"] = ("description",)
    missing = []
    for key, inner in required.items():
        if key not in manifest:
            missing.append(key)
        elif inner and not isinstance(manifest[key], dict):
            missing += [f"{key}.{name}" for name in inner]
        else:
            missing += [f"{key}.{name}" for name in inner if name not in manifest[key]]
    return missing


def sizes(index_dir: Path) -> dict[str, int]:
    """Bytes on disk of the database, the manifest, and each engine's folder of `index_dir`. A file
    that another process deletes while it is listed (a merge's or a purge's garbage) is left
    out, not an error."""
    def size(path: Path) -> int | None:
        try:
            status = path.stat()
        except FileNotFoundError:
            return None
        return status.st_size if stat.S_ISREG(status.st_mode) else None

    files = {name: size(index_dir / name) for name in (DATABASE, MANIFEST)}
    files = {name: bytes_ for name, bytes_ in files.items() if bytes_ is not None}
    for folder in (LEXICAL, VECTOR_SEGMENTS):
        try:
            entries = list((index_dir / folder).iterdir())
        except FileNotFoundError:
            entries = []
        files[folder] = sum(size(path) or 0 for path in entries)
    return files


def write_manifest(index_dir: Path, manifest: dict) -> None:
    data = json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8")
    write_atomically(manifest_path(index_dir), data)


def connect(index_dir: str | Path, readonly: bool = False) -> sqlite3.Connection:
    """Open the index database. Readers open it read-only and see only committed batches."""
    path = Path(index_dir) / DATABASE
    # A writer creates the database of a new index; where an index was (its manifest or vectors
    # file is there), a missing database is lost data that an empty new one would hide for good.
    if not path.exists() and (readonly or any((Path(index_dir) / name).exists()
                                              for name in (MANIFEST, VECTORS, VECTOR_SEGMENTS))):
        raise StoreError(f"{path} is missing: it holds the index's articles and vectors and nothing can rebuild "
                         "it; restore it from a backup, or index the articles again into a new --index directory")
    try:
        if readonly:
            # A URI, so that SQLite opens it read-only; as_uri() escapes '#', '?' and '%', which would
            # otherwise end the path or fail to decode.
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
        else:
            conn = sqlite3.connect(path, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            conn.executescript(catalog.SCHEMA)
        conn.execute(catalog.READABLE).fetchone()  # garbage or truncated: fails here
    except sqlite3.OperationalError:
        raise  # locked, unreadable: not damage
    except sqlite3.DatabaseError as exc:
        raise damaged_database(path, exc) from None
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return conn


def damaged_database(path: Path, reason: object) -> StoreError:
    """The error for an index database SQLite cannot read (`reason`, SQLite's own words)."""
    return StoreError(f"{path} is not a valid index database ({reason}); restore it from a backup, or index the "
                      "articles again into a new --index directory")


def check_integrity(conn: sqlite3.Connection, path: Path) -> None:
    """SQLite's quick_check of every page (seconds for a large index: for --repair, not every open);
    raises the damaged-database error if it finds anything."""
    try:
        findings = [row[0] for row in conn.execute(catalog.QUICK_CHECK)]
    except sqlite3.DatabaseError as exc:
        raise damaged_database(path, exc) from None
    if findings != ["ok"]:
        raise damaged_database(path, " ".join(" ".join(findings).split()))  # its report spans lines: one line here


def db_generation(conn: sqlite3.Connection, key: str = catalog.GENERATION) -> int:
    """The database's generation (every committed batch bumps it); with key 'lexical_generation',
    the generation the lexical index was last committed at."""
    row = conn.execute(catalog.META_VALUE, (key,)).fetchone()
    return int(row[0]) if row else 0


def initialize_counts(conn: sqlite3.Connection) -> None:
    """Count the articles and passages once, for an index made before the counts were kept (a
    writer calls this at open; after it, `adjust_counts` keeps them)."""
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        for name, count in catalog.COUNTED.items():
            key = catalog.COUNT_KEYS[name]
            if conn.execute(catalog.META_HAS, (key,)).fetchone() is None:
                conn.execute(catalog.META_INSERT, (key, str(conn.execute(count).fetchone()[0])))


def forget_counts(conn: sqlite3.Connection) -> None:
    """Drop the kept counts, for a tool that writes rows itself, not through the writer (a
    benchmark's archive): the next writer to open counts them anew (`initialize_counts`)."""
    keys = list(catalog.COUNT_KEYS.values())
    conn.execute(catalog.placeholders(catalog.META_DELETE_IN, len(keys)), keys)


def adjust_counts(conn: sqlite3.Connection, articles: int = 0, passages: int = 0) -> None:
    """Add to the kept counts, inside the caller's transaction that adds or removes the rows."""
    for name, delta in (("articles", articles), ("passages", passages)):
        if delta:
            conn.execute(catalog.META_ADD, (delta, catalog.COUNT_KEYS[name]))


def read_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """{'articles': n, 'passages': m} as kept in `meta`; counted for an index no writer of this
    version has opened yet."""
    keys = list(catalog.COUNT_KEYS.values())
    kept = dict(conn.execute(catalog.placeholders(catalog.META_VALUES_IN, len(keys)), keys))
    return {name: int(kept[key]) if (key := catalog.COUNT_KEYS[name]) in kept else conn.execute(count).fetchone()[0]
            for name, count in catalog.COUNTED.items()}


def current_generation(index_dir: str | Path) -> int:
    """The generation the database of `index_dir` is at now (for a sharded index, the sum of its
    shards'): cheap enough to ask before every request."""
    index_dir = Path(index_dir)
    manifest = read_manifest(index_dir)
    if "shards" in manifest:
        return sum(current_generation(index_dir / name) for name in manifest["shards"]["directories"])
    conn = connect(index_dir, readonly=True)
    try:
        return db_generation(conn)
    finally:
        conn.close()


class SnapshotMoved(StoreError):
    """The database moved past a snapshot's generation since it opened: a request that pins it
    goes to a newer snapshot instead (search_api.live)."""


class _ReadTransaction:
    """One read transaction of a `Snapshot`'s generation, on a connection of its own."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.lock = threading.Lock()  # one statement at a time on the connection
        self.users = 1                # the pins and statements using it; ended at 0


class Snapshot:
    """One generation of an unsharded index directory, read-only, for as long as it is open: the
    database at that generation, that generation's vector segments minus its tombstones (mmapped;
    `previous`, the snapshot of an earlier generation, lends the segments both have), and the
    lexical index at a commit holding at least that generation's passages.

    Its rows are read in read transactions that see that generation. `held` (a library user's or
    the CLI's searcher) keeps the one opened with the snapshot until `close`, so the snapshot
    answers from its generation however long it lives. A server opens it not held: every request
    pins it (`pinned`) with a read transaction of its own, begun when the request starts and
    ended when it ends, and refused (`SnapshotMoved`) once the database has moved on, so the
    request goes to a newer snapshot. No transaction then outlives a request, and the writer's
    checkpoints can empty the WAL between them (docs/reliability.md, "A bounded WAL").
    Any transaction at the snapshot's generation answers a statement alike (every commit that
    changes articles or passages bumps the generation), so `rows` takes whichever is free."""

    IDLE_CONNECTIONS = 4  # kept open between requests for the next ones

    def __init__(self, index_dir: str | Path, manifest: dict, previous: Snapshot | None = None, held: bool = True):
        from .tombstones import lexical_deletes
        from .vectors import IVF_NPROBE, VectorIndexError, VectorReader, read_layout, segment_deletes

        self.dir = Path(index_dir)
        self._lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._open: list[_ReadTransaction] = []
        self._closed = False
        first = self._begin()
        conn = first.conn
        try:
            self.generation = db_generation(conn)
            check_generation(manifest, self.generation, self.dir)
            self.counts = read_counts(conn)  # for stats, which then need no transaction
            segments = read_layout(conn)
            if not segments and conn.execute(catalog.ANY_CHUNK).fetchone():
                raise StoreError(f"{self.dir} has passages but no vector segments; rebuild them from the database "
                                 f"(nothing is re-embedded) with: article-search index --repair --index {self.dir}")
            # The deletes of the segments `previous` holds, plus what was removed since: a new
            # generation reads the tombstones it added, not every tombstone of the archive.
            since = previous.generation if previous and previous.generation <= self.generation else None
            try:
                deletes = segment_deletes(conn, segments, previous.vectors if previous else None, since)
                self.vectors = VectorReader(self.dir, segments, deletes,
                                            nprobe=manifest.get("faiss", {}).get("nprobe") or IVF_NPROBE,
                                            previous=previous.vectors if previous else None,
                                            # A server reads samples at open, the rest in the
                                            # background (search_api.live); others read all once.
                                            check="once" if held else "sampled")
            except VectorIndexError as exc:
                raise StoreError(f"{exc}; rebuild it from the database (nothing is re-embedded) with: "
                                 f"article-search index --repair --index {self.dir}") from None
            # Opened after the generation was read: the writer commits a batch to the lexical index
            # before the transaction that publishes it, so this commit holds every passage seen here.
            newest = conn.execute(catalog.NEWEST_CHUNK).fetchone()
            self.lexical_deletes = lexical_deletes(conn, previous.lexical_deletes if previous else None, since)
            self.lexical = open_lexical(self.dir, hidden=self.lexical_deletes.ids, newest=newest[0] if newest else 0,
                                        check="once" if held else "sampled")
            self._probes = probe_vectors(conn)
        except BaseException:
            conn.close()
            raise
        self._open.append(first)
        self._held = held
        if not held:
            self._unpin(first)

    def _begin(self) -> _ReadTransaction:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        conn = conn or connect(self.dir, readonly=True)
        conn.execute("BEGIN")  # the transaction's view of the database starts at its first read
        return _ReadTransaction(conn)

    def _pin(self) -> _ReadTransaction:
        """A new read transaction, checked to be at this snapshot's generation."""
        transaction = self._begin()
        try:
            now = db_generation(transaction.conn)
        except BaseException:
            transaction.conn.close()
            raise
        if now != self.generation:
            self._end(transaction)
            raise SnapshotMoved(f"{self.dir} moved on from generation {self.generation} to {now}")
        with self._lock:
            self._open.append(transaction)
        return transaction

    def _unpin(self, transaction: _ReadTransaction) -> None:
        with self._lock:
            transaction.users -= 1
            if transaction.users:
                return
            self._open.remove(transaction)
        self._end(transaction)

    def _end(self, transaction: _ReadTransaction) -> None:
        """End `transaction` and keep its connection for a later one (or close it)."""
        transaction.conn.rollback()  # a read transaction: nothing to commit
        with self._lock:
            if len(self._idle) < self.IDLE_CONNECTIONS and not self._closed:
                self._idle.append(transaction.conn)
                return
        transaction.conn.close()

    @contextmanager
    def pinned(self):
        """This snapshot's generation, held for the block by a read transaction of its own;
        `SnapshotMoved` when the database has moved on since the snapshot opened. A held snapshot
        is pinned already."""
        if self._held:
            yield self
            return
        transaction = self._pin()
        try:
            yield self
        finally:
            self._unpin(transaction)

    def probe_vectors(self) -> np.ndarray | None:
        """The vectors this index stored for the probe sentences (`probe_vectors`; see
        indexer.models.check_backend)."""
        return self._probes

    def rows(self, sql: str, params=()) -> list[sqlite3.Row]:
        """All rows of one statement at this snapshot's generation (see `read`)."""
        return self.read(lambda conn: conn.execute(sql, params).fetchall())

    def read(self, reading):
        """`reading(conn)` at this snapshot's generation: in a transaction that a pin holds (a free
        one if any), else in one of its own (`SnapshotMoved` if the database has moved on)."""
        with self._lock:
            free = [t for t in self._open if not t.lock.locked()] or self._open
            transaction = free[0] if free else None
            if transaction is not None:
                transaction.users += 1
        transaction = transaction or self._pin()
        try:
            with transaction.lock:
                return reading(transaction.conn)
        finally:
            self._unpin(transaction)

    def stories_of(self, article_ids: list[str]) -> dict[str, str]:
        """{article id: story id} of those of `article_ids` assigned a story (`stories_of`)."""
        return self.read(lambda conn: stories_of(conn, article_ids))

    def story_members(self, story_id: str) -> list[str]:
        return self.read(lambda conn: story_members(conn, story_id))

    def close(self) -> None:
        """End the read transactions and close their connections (call when no request uses it)."""
        with self._lock:
            self._closed = True
            connections = self._idle + [t.conn for t in self._open]
            self._idle, self._open = [], []
        for conn in connections:
            conn.close()


def check_generation(manifest: dict, generation: int, index_dir: Path) -> None:
    """Refuse a database behind the generation its manifest recorded at the last save: committed
    writes are missing, because its WAL was lost after a crash or it was restored from an older copy."""
    saved = manifest.get("generation", 0)
    if generation < saved:
        raise StoreError(
            f"{Path(index_dir) / DATABASE} is at generation {generation}, but the index was saved at generation "
            f"{saved}: {saved - generation} generation(s) of committed writes are missing, most likely because its "
            f"write-ahead log ({DATABASE}-wal) was lost after a crash, or the database was restored from an older "
            f"copy. Put the -wal file back if you have it; or accept the database as it is with: article-search "
            f"index --repair --index {index_dir} (then index the lost articles again)")


# A WAL that grew during a burst is cut back to this size when it is next reset.
WAL_SIZE_LIMIT = 64 * 1024 * 1024


# The WAL size from which a writer's closing checkpoint waits for readers to empty the file, and
# how long it waits. Below it the checkpoint never waits: a server closes a writer after every
# POST, and a TRUNCATE that waited for the requests searching meanwhile held each write up to its
# wait (2 s of a 2.6 s POST at 1M passages with one client searching; docs/reliability.md, "A
# bounded WAL"). Under a stream of overlapping requests a waiting TRUNCATE rarely gets through
# (each new request pins the WAL again), so it is worth its wait only when the WAL has grown.
WAL_WAIT_FROM = 16 * 1024 * 1024
CHECKPOINT_WAIT_MS = 500


def checkpoint(conn: sqlite3.Connection, truncate: bool = False) -> bool:
    """Copy the WAL's committed pages into the database file, outside any transaction of `conn`,
    as far as readers allow; with `truncate`, also empty the WAL file if no reader is in it, waiting
    up to CHECKPOINT_WAIT_MS for readers only when the file holds WAL_WAIT_FROM bytes or more.
    True when the whole WAL was copied."""
    if not truncate:
        busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return not busy and frames == copied
    database = conn.execute(catalog.DATABASE_FILE).fetchone()[2]
    try:
        grown = os.path.getsize(f"{database}-wal") >= WAL_WAIT_FROM
    except OSError:  # no WAL file: nothing to wait for
        grown = False
    conn.execute(f"PRAGMA busy_timeout={CHECKPOINT_WAIT_MS if grown else 0}")
    try:
        busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return not busy


def open_lexical(index_dir: Path, hidden=(), newest: int | None = None, check: str = "once"):
    """A reader of the index's lexical index at its newest commit, `hidden` chunk ids and those
    above `newest` left out (see indexer.lexical), its files checked to `check` depth first
    ("once", or "sampled" for a server: see indexer.lexical.damaged_files)."""
    from .lexical import LexicalReader, damaged_files, exists

    folder = Path(index_dir) / LEXICAL
    rebuild = f"rebuild it from the database (nothing is re-embedded) with: article-search index --rebuild --index {index_dir}"
    if not exists(folder):
        raise StoreError(f"{index_dir} has no lexical index ({LEXICAL}/); {rebuild}")
    damaged = damaged_files(folder, check)
    if damaged:
        raise StoreError(f"{folder} is damaged ({'; '.join(damaged)}); {rebuild}")
    try:
        return LexicalReader(folder, hidden, newest)
    except ValueError as exc:  # tantivy's word for files it cannot read
        raise StoreError(f"{folder} is damaged ({exc}); {rebuild}") from None


# How long a write waits for another process's write lock before it gives up with IndexLocked. A
# one-article write holds the lock for well under a second and a batch of `index` for a few seconds
# (docs/reliability.md, "Writers queue"); 20 s lets a queue of them pass and stays under the 30-60 s
# that HTTP clients commonly wait for an answer. An `index` run that adds takes the lock per batch
# (IndexWriter's `interleave`), so other processes' writes go in between its batches.
WRITE_LOCK_TIMEOUT = 20.0
WRITE_LOCK_POLL = 0.05  # seconds between tries: flock has no timed wait


def check_index(index_dir: str | Path) -> list[str]:
    """Everything wrong with the index at `index_dir` that reading all of it finds, each with the
    command that mends it; [] when nothing is: the manifest, every page of the database, its
    generation against the manifest's, every vector segment's bytes against its checksum and
    every lexical file's against tantivy's (`article-search index --check`). Each shard of a
    sharded index is checked."""
    from .lexical import damaged_files, exists
    from .vectors import check_segment, read_layout

    index_dir = Path(index_dir)
    try:
        manifest = read_manifest(index_dir)
        if "shards" in manifest:
            return [problem for name in manifest["shards"]["directories"] for problem in check_index(index_dir / name)]
        conn = connect(index_dir, readonly=True)
    except StoreError as exc:
        return [str(exc)]
    repair = f"rebuild it from the database (nothing is re-embedded) with: article-search index --repair --index {index_dir}"
    problems = []
    try:
        check_integrity(conn, index_dir / DATABASE)
        check_generation(manifest, db_generation(conn), index_dir)
        for segment in read_layout(conn):
            problem = check_segment(index_dir / VECTOR_SEGMENTS, segment)
            if problem:
                problems.append(f"{index_dir / VECTOR_SEGMENTS / segment.file} {problem}; {repair}")
    except StoreError as exc:
        problems.append(str(exc))
    finally:
        conn.close()
    folder = index_dir / LEXICAL
    damaged = damaged_files(folder) if exists(folder) else [f"{LEXICAL}/ is missing"]
    if damaged:
        problems.append(f"{folder}: {'; '.join(damaged)}; {repair}")
    return problems


@contextmanager
def write_lock(index_dir: Path, timeout: float | None = None):
    """Hold the index's write lock, waiting up to `timeout` seconds (default WRITE_LOCK_TIMEOUT)
    while another process holds it; IndexLocked, saying how long it waited, when it runs out."""
    Path(index_dir).mkdir(parents=True, exist_ok=True)
    timeout = WRITE_LOCK_TIMEOUT if timeout is None else timeout
    handle = open(Path(index_dir) / LOCK, "a+")
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                handle.close()
                raise IndexLocked(
                    f"another process has been writing the index at {index_dir} for the {timeout:g} s this write "
                    f"waited (lock {Path(index_dir) / LOCK}); try again when it is done") from None
            time.sleep(WRITE_LOCK_POLL)
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def probe_vectors(conn: sqlite3.Connection) -> np.ndarray | None:
    """The vectors of the probe sentences (indexer.models.PROBE_SENTENCES) that the index stored when
    it was created, as one flat float32 array (the models read it as one row per sentence); None
    for an index without them."""
    row = conn.execute(catalog.META_VALUE, (catalog.PROBE_VECTORS,)).fetchone()
    if row is None:
        return None
    return np.frombuffer(bytes.fromhex(row[0]), dtype=np.float32)
