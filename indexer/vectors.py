"""The vector index: passage vectors in immutable FAISS segments. The only module that imports faiss.

    INDEX_DIR/vectors/seg-<first>-<last>-<stamp>.faiss   one segment: the vectors of chunk ids
                                                         first..last, exact (flat) or IVF,SQ8

In the spirit of Lucene's segments, a write never rewrites what is there:

- each committed batch of the writer adds one small segment, holding only its own vectors;
- a removed passage becomes a tombstone (indexer.tombstones): readers skip its vector, and it
  leaves the files when its segment is merged;
- segments are merged by size, after Lucene's TieredMergePolicy (indexer.merge_policy): MERGE_FACTOR
  neighbours of similar size become one, never a segment with others many times smaller, never
  past MAX_MERGED vectors, so a vector is copied a few times in its life whatever the archive's
  size; a segment whose passages are mostly tombstones is rewritten alone without them. A merge
  reads the exact float32 vectors from the database, so an IVF,SQ8 segment never loses precision
  twice. Merges run beside the writes (indexer.merging): a merge reads and writes its segment
  without a lock and takes SQLite's write lock only to publish it. `index --optimize` merges
  everything into one segment.

Which segments make up the index is a row of the database (`meta.vector_segments`), written in
the same transaction as the passages they hold: a reader that reads it inside its own read
transaction (indexer.store) gets exactly the vectors of the rows it sees. Segment files are
opened with mmap, so a reader costs neither the RAM nor the start-up time of the archive's
vectors, and readers never build, train or repair anything: only the writer does.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import catalog, checksums
from .files import write_atomically
from .merge_policy import plan_merge
from .tombstones import read_tombstones, tombstones_since
# Imported from here by the writer, the merger and tests written before the tombstones left this
# module for indexer.tombstones (other branches were editing them at the time).
from .catalog import TOMBSTONES_SCHEMA  # noqa: F401
from .tombstones import add_tombstones, create_tombstones, forget_lexical, lexical_deletes  # noqa: F401

FOLDER = "vectors"
INDEX_TYPES = ("auto", "flat", "ivf-sq8")
# `auto` keeps exact search up to this many vectors in a segment: a flat query over 200k 384-d
# vectors takes ~12 ms on one core, over 1M ~58 ms (docs/benchmarks.md, "ANN at scale").
FLAT_LIMIT = 200_000
IVF_MIN = 10_000  # fewer vectors than this train IVF poorly, and exact search is fast anyway
# Inverted lists probed per IVF query. On 1M embedding-like vectors (benchmarks/ann_scale.py,
# IVF4000,SQ8, one thread): nprobe 256 → recall@10 .950–.953 at ~3 ms p50 depending on the real
# vectors the set is made from, 320 → .956 at 3.7 ms, 384 → .957 at 4.4 ms; 398 bytes per vector
# against 1,544 for exact search at 50–57 ms. 320 keeps recall above .95 with room.
IVF_NPROBE = 320
# Tombstoned passages stay in the lexical index and in old segment files this long after they
# left, so that a request reading an older generation finds everything it was promised
# (docs/reliability.md, "Snapshots").
RETENTION_SECONDS = 60.0


class VectorIndexError(RuntimeError):
    """A segment file is missing or damaged; the writer can rebuild it from the database."""


@dataclass(frozen=True)
class Segment:
    """One immutable segment file: the vectors of chunk ids `first`..`last` (those not removed when
    it was written), `count` of them, `kind` flat or ivf-sq8; `size` in bytes, `checksum`
    ("crc32:<hex>") and `sample` (the same of its sampled spans, indexer.checksums) as written (0
    and "" for a segment written before them, see `check_segment`)."""

    file: str
    first: int
    last: int
    count: int
    kind: str
    size: int = 0
    checksum: str = ""
    sample: str = ""


def choose_index_type(requested: str, count: int) -> str:
    """The FAISS kind for a segment of `count` vectors: as requested, `auto` by size; never IVF
    below IVF_MIN."""
    if requested not in INDEX_TYPES:
        raise ValueError(f"index type must be one of {', '.join(INDEX_TYPES)}, got '{requested}'")
    if requested == "flat" or count < IVF_MIN or (requested == "auto" and count < FLAT_LIMIT):
        return "flat"
    return "ivf-sq8"


def describe(segments: list[Segment], nlist: int | None = None) -> str:
    """A one-line description for stats: 'IVF4000,SQ8 + 3 flat segments', 'IDMap2,Flat'."""
    if not segments:
        return "IDMap2,Flat"
    ivf = [s for s in segments if s.kind == "ivf-sq8"]
    head = f"IVF{nlist},SQ8" if ivf and nlist else "IDMap2,Flat"
    rest = len(segments) - 1
    return head if rest == 0 else f"{head} + {rest} more segment{'s' * (rest > 1)}"


# -- layout: which segments make up a generation (a row of the database) -------------------------

def read_layout(conn: sqlite3.Connection) -> list[Segment]:
    row = conn.execute(catalog.META_VALUE, (catalog.VECTOR_SEGMENTS,)).fetchone()
    return [Segment(**entry) for entry in json.loads(row[0])] if row else []


def write_layout(conn: sqlite3.Connection, segments: list[Segment]) -> None:
    """Record `segments` as the index's vectors, inside the caller's transaction."""
    conn.execute(catalog.META_SET, (catalog.VECTOR_SEGMENTS,
                                    json.dumps([asdict(s) for s in sorted(segments, key=lambda s: s.first)])))


# -- FAISS ------------------------------------------------------------------------------------------

def _faiss():
    import faiss

    return faiss


def train_ivf(dimension: int, sample: np.ndarray, count: int):
    """An empty IVF,SQ8 index for `count` vectors (~4·sqrt(count) inverted lists), trained on
    `sample`, vectors drawn from those it will hold (all of them, or a sample of every shard)."""
    faiss = _faiss()
    nlist = max(1, min(int(4 * np.sqrt(count)), len(sample) // 39))
    quantizer = faiss.IndexFlatIP(dimension)
    index = faiss.IndexIVFScalarQuantizer(quantizer, dimension, nlist, faiss.ScalarQuantizer.QT_8bit,
                                          faiss.METRIC_INNER_PRODUCT)
    # 64 training points per list is within FAISS's advice (39 to 256) and trains in a quarter
    # of the time of 256 (measured at 1M: 181 s for the full set).
    if len(sample) > 64 * nlist:
        sample = sample[np.random.default_rng(0).choice(len(sample), 64 * nlist, replace=False)]
    index.train(sample)
    index.nprobe = IVF_NPROBE
    quantizer.this.disown()  # owned by the IVF index from here on
    index.own_fields = True
    return index


def empty_copy(ivf):
    """An empty IVF,SQ8 index with the inverted lists (centroids) and scalar ranges of `ivf`: no
    training. Built anew rather than cloned, since `ivf` may be mmapped, and FAISS cannot empty
    an index whose arrays it only views."""
    faiss = _faiss()
    quantizer = faiss.IndexFlatIP(ivf.d)
    quantizer.add(ivf.quantizer.reconstruct_n(0, ivf.nlist))
    copy = faiss.IndexIVFScalarQuantizer(quantizer, ivf.d, ivf.nlist, faiss.ScalarQuantizer.QT_8bit,
                                         faiss.METRIC_INNER_PRODUCT)
    faiss.copy_array_to_vector(faiss.vector_to_array(ivf.sq.trained), copy.sq.trained)
    copy.is_trained = True
    quantizer.this.disown()  # owned by the IVF index from here on
    copy.own_fields = True
    return copy


def build(kind: str, dimension: int, ids: np.ndarray, vectors: np.ndarray, trained=None):
    """A FAISS index of `kind` holding `vectors` under chunk `ids`. `flat` is exact inner product
    (cosine on unit vectors) behind an id map; `ivf-sq8` clusters the vectors into ~4·sqrt(n)
    inverted lists, trained on (a sample of) them unless `trained`, an empty trained IVF index, is
    given to copy (the segments of one index, and the shards of one archive, share their lists)."""
    faiss = _faiss()
    if kind == "flat":
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
    else:
        index = empty_copy(trained) if trained is not None else train_ivf(dimension, vectors, len(vectors))
        index.nprobe = IVF_NPROBE
    if len(ids):
        index.add_with_ids(vectors, ids)
    return index


def is_ivf(index) -> bool:
    return hasattr(index, "nprobe")


def write_index(path: Path, index) -> tuple[int, str, str]:
    """Write a FAISS index to `path` so that a crash leaves no half-written file under that name
    (and, the folder synced, the transaction that names the file finds it after a power cut);
    returns its size, checksum and sampled checksum."""
    data = _faiss().serialize_index(index).tobytes()
    write_atomically(path, data)
    return len(data), f"crc32:{checksums.crc32(data):08x}", f"crc32:{checksums.sample_crc32(data):08x}"


DAMAGED = "fails its checksum (its bytes changed on disk since it was written)"


def check_segment(folder: Path, segment: Segment, depth: str = "full") -> str | None:
    """What is wrong with `segment`'s file in `folder` ("is missing", "fails its checksum", ...),
    or None. `depth`: "size" checks that it is there with its size; "full" also reads every byte
    against its checksum; "once" does so the first time this process sees the file (a held
    reader's open, see indexer.checksums); "sampled" reads only its sampled spans (a server's
    open, whose background check reads the rest: `VectorReader.verify`). A file this process found
    damaged fails every depth but "full", which reads it again."""
    path = folder / segment.file
    if not path.exists():
        return "is missing"
    size = path.stat().st_size
    if segment.size and size != segment.size:
        return f"is {size:,} bytes, {segment.size:,} when it was written"
    if depth != "full" and checksums.is_damaged(path):
        return DAMAGED
    if depth == "size" or not segment.checksum:
        return None  # without a checksum (written before them), FAISS's own checks at open are all there is
    if depth == "sampled":
        if segment.sample and f"crc32:{checksums.file_sample_crc32(path):08x}" != segment.sample:
            checksums.mark_damaged(path)
            return DAMAGED
        return None

    def matches(path: Path) -> bool:
        return f"crc32:{checksums.file_crc32(path):08x}" == segment.checksum

    if not (checksums.verified_once(path, segment.checksum, matches) if depth == "once" else matches(path)):
        checksums.mark_damaged(path)
        return DAMAGED
    return None


def read_index(path: Path, mmap: bool = True):
    faiss = _faiss()
    return faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC if mmap else 0)


def search_one_thread(index, queries: np.ndarray, k: int, params=None):
    """`index.search` on one OpenMP thread: a few queries at a time gain nothing from threads and
    lose to their start-up (measured at 1M vectors: one exact query 142 ms on 2 threads, 58 ms on 1).
    The setting is per calling thread and restored after, so the model's own threads (the same
    OpenMP runtime) keep both cores for encoding."""
    faiss = _faiss()
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return index.search(queries, k, params=params)
    finally:
        faiss.omp_set_num_threads(previous)


# -- reading ----------------------------------------------------------------------------------------

class Deletes:
    """The tombstones of one segment at one generation, `ids` (sorted), and the FAISS selector that
    skips them (None when there are none), built once: a later generation that removes nothing of
    the segment keeps this object, selector included."""

    def __init__(self, ids: np.ndarray):
        self.ids = ids
        self.skip = None
        if len(ids):
            # Kept on the object: FAISS selectors hold raw pointers to the selectors they combine.
            self._batch = _faiss().IDSelectorBatch(ids)
            self.skip = _faiss().IDSelectorNot(self._batch)

    def plus(self, added: np.ndarray) -> Deletes:
        """These deletes and `added` (sorted ids, none of them here yet): self when there are none."""
        return self if not len(added) else Deletes(np.union1d(self.ids, added))


def segment_deletes(conn: sqlite3.Connection, segments: list[Segment], previous: VectorReader | None = None,
                    since: int | None = None) -> dict[str, Deletes]:
    """{segment file: its Deletes} at the generation `conn`'s transaction sees. With `previous`,
    a reader of generation `since` at or before it, a segment it holds keeps its deletes plus the
    tombstones added since (read by their generation: only those rows); a segment new since then
    (a batch's, a merge's) reads the tombstones of its own id range. Without, every segment
    reads its range: all the tombstones."""
    added = tombstones_since(conn, since) if previous is not None and since is not None else None
    earlier = previous.deletes if added is not None else {}
    deletes = {}
    for segment in segments:
        if segment.file in earlier:
            inside = added[np.searchsorted(added, segment.first):np.searchsorted(added, segment.last, "right")]
            deletes[segment.file] = earlier[segment.file].plus(inside)
        else:
            deletes[segment.file] = Deletes(read_tombstones(conn, "vectors", segment.first, segment.last))
    return deletes


class VectorReader:
    """The vectors of one generation, read-only: its segments, opened with mmap, each minus its
    tombstones (`deletes`, see `segment_deletes`). `previous`, the reader of an earlier generation,
    lends the segments both share (files never change), so moving to a new generation opens only
    the new segments."""

    def __init__(self, index_dir: str | Path, segments: list[Segment], deletes: dict[str, Deletes], *,
                 nprobe: int = IVF_NPROBE, previous: VectorReader | None = None, check: str = "once"):
        """`check`, the depth of `check_segment` that a segment opened here passes first: "once"
        (every byte, once per process), or "sampled" for a server, whose background thread
        then calls `verify`."""
        self.dir = Path(index_dir)
        self.segments = segments
        self.nprobe = nprobe
        lent = previous._open if previous is not None else {}
        self._open = {}
        for segment in segments:
            index = lent.get(segment.file)
            if index is None:
                path = self.dir / FOLDER / segment.file
                problem = check_segment(self.dir / FOLDER, segment, check)
                if problem:
                    raise VectorIndexError(f"{path} {problem}")
                try:
                    index = read_index(path)
                except RuntimeError as exc:  # FAISS's word for a missing, truncated or damaged file
                    raise VectorIndexError(f"{path} cannot be read ({str(exc).splitlines()[0][:200]})") from None
            self._open[segment.file] = index
        self.deletes = deletes
        self.count = sum(s.count - len(deletes[s.file].ids) for s in segments)

    def verify(self) -> list[str]:
        """Check every byte of each segment not verified yet in this process (the background
        check of a server, whose opens read only samples): one line per damaged segment, which
        `search` refuses from then on."""
        folder = self.dir / FOLDER
        problems = [(segment.file, check_segment(folder, segment, "once")) for segment in self.segments]
        return [f"{folder / name} {problem}" for name, problem in problems if problem]

    def _refuse_damaged(self) -> None:
        """A StoreError (a 503 for a server) when a segment of this reader was found damaged since
        it opened (by `verify`, or by another reader's open in this process)."""
        from .store import StoreError  # store imports this module

        damaged = [s.file for s in self.segments if checksums.is_damaged(self.dir / FOLDER / s.file)]
        if damaged:
            raise StoreError(
                f"{self.dir / FOLDER / damaged[0]} {DAMAGED}: dense search is refused until it is rebuilt from the "
                f"database (nothing is re-embedded) with: article-search index --repair --index {self.dir}")

    @property
    def nlist(self) -> int | None:
        ivf = [index for index in self._open.values() if is_ivf(index)]
        return ivf[0].nlist if ivf else None

    def description(self) -> str:
        return describe(self.segments, self.nlist)

    def search(self, queries: np.ndarray, k: int, among: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Scores (cosine) and chunk ids, best first, of the `k` nearest live passages of each
        query vector; -1 pads rows with fewer. `among`, chunk ids, limits the search to them."""
        self._refuse_damaged()
        faiss = _faiss()
        queries = np.ascontiguousarray(queries.reshape(-1, queries.shape[-1]), dtype=np.float32)
        # Locals, not attributes: requests share a reader, and an IDSelectorAnd holds raw pointers
        # to the selectors it combines, which must live until this search ends.
        among_set = faiss.IDSelectorBatch(np.ascontiguousarray(among, dtype=np.int64)) if among is not None else None
        all_scores, all_ids = [], []
        for segment in self.segments:
            index = self._open[segment.file]
            reach = min(k, index.ntotal)
            if reach == 0:
                continue
            selector = self.deletes[segment.file].skip
            if among_set is not None:
                selector = among_set if selector is None else faiss.IDSelectorAnd(among_set, selector)
            if selector is None:
                params = None
            elif is_ivf(index):
                # Parameters replace an IVF index's own settings: without its nprobe it would probe one list.
                params = faiss.SearchParametersIVF(sel=selector, nprobe=self.nprobe)
            else:
                params = faiss.SearchParameters(sel=selector)
            if is_ivf(index) and params is None:
                index.nprobe = self.nprobe
            scores, ids = search_one_thread(index, queries, reach, params)
            all_scores.append(scores)
            all_ids.append(ids)
        if not all_scores:
            return np.full((len(queries), k), -np.inf, np.float32), np.full((len(queries), k), -1, np.int64)
        scores, ids = np.concatenate(all_scores, axis=1), np.concatenate(all_ids, axis=1)
        scores = np.where(ids >= 0, scores, -np.inf)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, order, axis=1), np.take_along_axis(ids, order, axis=1)


# -- writing ----------------------------------------------------------------------------------------

def stored_vectors(conn: sqlite3.Connection, dimension: int, first: int = 0,
                   last: int = 2 ** 62) -> tuple[np.ndarray, np.ndarray]:
    """The chunk ids and exact vectors the database holds for ids first..last, in id order."""
    rows = conn.execute(catalog.STORED_VECTORS, (first, last)).fetchall()
    ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    vectors = np.zeros((len(rows), dimension), dtype=np.float32)
    for i, row in enumerate(rows):
        vectors[i] = np.frombuffer(row[1], dtype=np.float32)
    return ids, vectors


class VectorWriter:
    """The writer's side: new segments for committed batches, merges, `optimize`.

    The writer thread calls `write_segment` before the transaction that commits its passages and
    `publish` inside it. `merge_once` (run by a merge thread, indexer.merging) and `rebuild` read
    their vectors in a read transaction, write their segment without any lock, then publish it
    in a short transaction of their own. The layout is read from the database inside each
    publishing transaction, so writers and merges of any thread or process compose: a merge
    whose segments another merge or a rebuild replaced meanwhile is dropped. Files left behind by
    a crash (written, never published) and files merged away more than RETENTION_SECONDS ago are
    deleted by `collect_garbage`."""

    def __init__(self, index_dir: str | Path, conn: sqlite3.Connection, dimension: int, index_type: str = "auto",
                 trained=None):
        self.dir = Path(index_dir)
        self.folder = self.dir / FOLDER
        self.folder.mkdir(parents=True, exist_ok=True)
        self.conn = conn
        self.dimension = dimension
        self.index_type = index_type
        self.trained = trained  # an empty trained IVF shared by the shards of one archive, if any
        # {segment file: tombstones in its range whose vector it holds} at generation
        # `_tombstoned_at`, kept by `_tombstoned` from one merge plan to the next.
        self._tombstoned_counts: dict[str, int] = {}
        self._tombstoned_at: int | None = None

    @property
    def segments(self) -> list[Segment]:
        """The index's segments as committed now (a merge thread may change them at any time)."""
        return read_layout(self.conn)

    @property
    def count(self) -> int:
        dead = self.conn.execute(catalog.VECTOR_TOMBSTONE_COUNT).fetchone()[0]
        return sum(s.count for s in self.segments) - dead

    def _file_name(self, first: int, last: int) -> str:
        return f"seg-{first:012d}-{last:012d}-{time.time_ns():x}.faiss"

    def write_segment(self, ids: np.ndarray, vectors: np.ndarray, kind: str = "flat", trained=None,
                      retrain: bool = False) -> Segment | None:
        """Write `vectors` (under chunk `ids`, ascending) as a new segment file, not yet part of
        the index (see `publish`); None when there is nothing to write. An IVF segment copies
        `trained`, else the lists of the index's IVF segment, else (or with `retrain`) is trained."""
        if not len(ids):
            return None
        if kind == "ivf-sq8" and trained is None and not retrain:
            trained = self._ivf_template()
        index = build(kind, self.dimension, ids, np.ascontiguousarray(vectors, dtype=np.float32), trained)
        name = self._file_name(int(ids[0]), int(ids[-1]))
        size, checksum, sample = write_index(self.folder / name, index)
        return Segment(name, int(ids[0]), int(ids[-1]), len(ids), kind, size, checksum, sample)

    def _ivf_template(self):
        """The inverted lists new IVF segments copy: the shards' shared ones, else those of the
        index's IVF segment, else None (the caller trains)."""
        if self.trained is not None:
            return self.trained
        for segment in self.segments:
            if segment.kind == "ivf-sq8":
                try:
                    return read_index(self.folder / segment.file)
                except RuntimeError:  # lost or damaged: a repair is under way, and trains anew
                    continue
        return None

    def publish(self, added: Segment | None = None, replaced: list[Segment] | None = ()) -> bool:
        """Make `added` part of the index and drop `replaced` (None: every segment), inside the
        caller's write transaction. False, changing nothing, when a segment of `replaced` is no
        longer in the layout (another merge or a rebuild replaced it meanwhile)."""
        current = read_layout(self.conn)
        replaced = current if replaced is None else replaced
        gone = {s.file for s in replaced}
        if not gone <= {s.file for s in current}:
            return False
        # In id order, always: merges take neighbours in this list as neighbours in ids.
        write_layout(self.conn, [s for s in current if s.file not in gone] + ([added] if added else []))
        if replaced:
            retired = json.loads((self.conn.execute(catalog.META_VALUE, (catalog.RETIRED_SEGMENTS,))
                                  .fetchone() or ["[]"])[0])
            retired += [[s.file, time.time()] for s in replaced]
            self.conn.execute(catalog.META_SET, (catalog.RETIRED_SEGMENTS, json.dumps(retired)))
        return True

    def _tombstoned(self, segments: list[Segment]) -> dict[str, int]:
        """{segment file: tombstones in its range whose vector it holds} for `segments`, the layout
        this connection's read transaction sees. Only what changed since the last call is read:
        the tombstones added since its generation (by their generation), each bucketed into the
        segment of its range, and the range of each segment new since then (a batch's, a merge's).
        A segment's count only grows while it is in the layout: tombstones leave the vectors only
        when a merge replaces their segment, and every removal publishes a generation."""
        row = self.conn.execute(catalog.META_VALUE, (catalog.GENERATION,)).fetchone()
        generation = int(row[0]) if row else 0
        added = tombstones_since(self.conn, self._tombstoned_at) if self._tombstoned_at is not None else None
        known = self._tombstoned_counts if added is not None else {}
        counts = {}
        for s in segments:
            if s.file in known:
                counts[s.file] = known[s.file] + int(np.searchsorted(added, s.last, "right")
                                                     - np.searchsorted(added, s.first))
            else:
                counts[s.file] = self.conn.execute(catalog.VECTOR_TOMBSTONE_COUNT_IN_RANGE,
                                                   (s.first, s.last)).fetchone()[0]
        self._tombstoned_counts, self._tombstoned_at = counts, generation
        return counts

    def merge(self) -> int:
        """Run the merges `plan_merge` asks for, one after another, on this thread; returns how
        many were published."""
        merges = 0
        while (ran := self.merge_once()) is not None:
            merges += ran
        return merges

    def merge_once(self) -> bool | None:
        """Plan one merge and run it: None when there is nothing to merge, else whether it was
        published (False: its segments were replaced meanwhile, and it was dropped)."""
        with self.conn:
            self.conn.execute("BEGIN")
            segments = read_layout(self.conn)
            span = plan_merge(segments, self._tombstoned(segments))
        return None if span is None else self._merge(segments[span[0]:span[1]])

    def _read(self, first: int, last: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """In one read transaction: the chunk ids and vectors stored for ids first..last, and the
        tombstones of that range whose vectors a segment holds (the new segment will not)."""
        with self.conn:
            self.conn.execute("BEGIN")
            ids, vectors = stored_vectors(self.conn, self.dimension, first, last)
            dropped = [row[0] for row in self.conn.execute(catalog.VECTOR_TOMBSTONES_IN_RANGE, (first, last))]
        return ids, vectors, dropped

    def _replace(self, segment: Segment | None, parts: list[Segment] | None, dropped: list[int]) -> bool:
        """Publish `segment` in place of `parts` (None: all), in a transaction of its own. Only
        the tombstones `dropped` (read with the vectors) leave the vectors: a passage removed
        while the segment was written is in it, and stays a tombstone."""
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            published = self.publish(segment, parts)
            if published:
                self.conn.executemany(catalog.FORGET_VECTOR, [(c,) for c in dropped])
                self.conn.execute(catalog.DROP_SPENT_TOMBSTONES)
        if not published and segment is not None:
            (self.folder / segment.file).unlink(missing_ok=True)
        return published

    def _merge(self, parts: list[Segment]) -> bool:
        first, last = parts[0].first, parts[-1].last
        ids, vectors, dropped = self._read(first, last)
        # A merge never turns IVF back into exact search (a rewrite shedding tombstones shrinks a
        # segment): the layout changes only on a rebuild, which sees the whole index.
        kind = "ivf-sq8" if any(p.kind == "ivf-sq8" for p in parts) \
            else choose_index_type(self.index_type, len(ids))
        return self._replace(self.write_segment(ids, vectors, kind), parts, dropped)

    def rebuild(self, kind: str | None = None, trained=None) -> None:
        """Write every stored vector anew as one segment (of `kind`, copying `trained` for IVF) in
        place of all segments: `index --optimize`, --rebuild, --repair, a change of layout."""
        ids, vectors, dropped = self._read(0, 2 ** 62)
        kind = kind or choose_index_type(self.index_type, len(ids))
        if trained is not None:
            self.trained = trained
        # Trained anew on all the vectors (the number of lists grows with the archive), unless the
        # shards of the archive share their lists.
        segment = self.write_segment(ids, vectors, kind, trained=self.trained if kind == "ivf-sq8" else None,
                                     retrain=self.trained is None)
        self._replace(segment, None, dropped)

    def missing(self) -> list[str]:
        """Segment files of the layout that are lost, damaged (every byte checked against its
        checksum) or cannot be opened: a repair rebuilds them."""
        bad = []
        for segment in self.segments:
            try:
                if check_segment(self.folder, segment) is None:
                    read_index(self.folder / segment.file)
                    continue
            except RuntimeError:
                pass
            bad.append(segment.file)
        return bad

    def collect_garbage(self, now: float | None = None) -> None:
        """Delete segment files no generation needs: merged away more than RETENTION_SECONDS ago,
        or unpublished and untouched for as long (written by a run that died before publishing
        them; a younger one may be a merge of another thread about to publish)."""
        now = time.time() if now is None else now
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            row = self.conn.execute(catalog.META_VALUE, (catalog.RETIRED_SEGMENTS,)).fetchone()
            retired = json.loads(row[0]) if row else []
            keep = [[name, at] for name, at in retired if now - at < RETENTION_SECONDS]
            if len(keep) != len(retired):
                self.conn.execute(catalog.META_UPDATE, (json.dumps(keep), catalog.RETIRED_SEGMENTS))
            live = {s.file for s in read_layout(self.conn)} | {name for name, _ in keep}
        for path in [*self.folder.glob("*.faiss"), *self.folder.glob(".*.tmp")]:
            try:
                stale = path.name not in live and now - path.stat().st_mtime >= RETENTION_SECONDS
            except FileNotFoundError:  # deleted meanwhile by another process's collection
                continue
            if stale:
                path.unlink(missing_ok=True)
