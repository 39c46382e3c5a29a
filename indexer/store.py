"""The index directory on disk, shared by the writer (`indexer.writer`) and the reader (`search_api`).

    INDEX_DIR/
      manifest.json   format version, generation, model (name, fingerprint, dimension), chunker
                      settings, counts, FAISS description; written atomically, last
      index.sqlite    articles, chunks (text, offsets, vector); WAL mode, one transaction per batch
      vectors.faiss   the FAISS index over chunk vectors, ids = chunk ids; written atomically
      lexical/        the lexical index over chunk text and title, ids = chunk ids (indexer.lexical)
      .lock           held by the one process allowed to write

SQLite is the source of truth: it holds every chunk's vector too, so the FAISS file is a cache
that can always be rebuilt without re-embedding. Every committed batch bumps `generation` in the
database; the manifest records the generation its FAISS file was saved at. If the two differ (a
run was killed between its last commit and the final save) the FAISS index is rebuilt from the
database on open, so an interrupted index never answers from stale vectors. The lexical index is
committed after each batch's transaction and the database records the generation it holds
(`lexical_generation`); a writer that finds the two apart (a run killed between them, or an index
of format 1 or 2, whose lexical index is gone or of an older schema) rebuilds it from the database.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path

import numpy as np

FORMAT_VERSION = 3
# Format 1 kept the lexical index in an FTS5 table, format 2's lexical index lacked the fields of
# facets and suggestions; a writer upgrades either in place (its lexical index is rebuilt from the
# database, nothing is re-embedded).
UPGRADABLE_VERSIONS = (1, 2)
MANIFEST = "manifest.json"
DATABASE = "index.sqlite"
VECTORS = "vectors.faiss"
LEXICAL = "lexical"
LOCK = ".lock"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    url TEXT NOT NULL,
    published TEXT NOT NULL,
    author TEXT NOT NULL,
    source TEXT NOT NULL,
    text TEXT NOT NULL,              -- the cleaned text; chunk offsets point into it
    metadata TEXT NOT NULL,          -- JSON object of the input's other fields
    content_hash TEXT NOT NULL,
    indexed_at TEXT NOT NULL,
    minhash BLOB NOT NULL,           -- MinHash signature of the text, see indexer.duplicates
    duplicate_group TEXT NOT NULL    -- opaque id shared by near-identical copies, see indexer.duplicates
);
CREATE INDEX IF NOT EXISTS articles_source ON articles(source);
CREATE INDEX IF NOT EXISTS articles_published ON articles(published);
CREATE INDEX IF NOT EXISTS articles_duplicate_group ON articles(duplicate_group);
CREATE TABLE IF NOT EXISTS minhash_bands (
    band INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    PRIMARY KEY (band, bucket, article_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS minhash_bands_article ON minhash_bands(article_id);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused; also the chunk's FAISS id and lexical id
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL,
    tokens INTEGER NOT NULL,
    vector BLOB NOT NULL,            -- float32, unit length
    sentences TEXT NOT NULL,         -- JSON [[start, end], ...] of its sentences, relative to the chunk
    sentence_vectors BLOB NOT NULL   -- int8 (n_sentences x dimension), see indexer.highlights
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id, position);
"""


class StoreError(RuntimeError):
    """The index directory is missing, damaged, locked or of another format. The message says
    what to do."""


class IndexLocked(StoreError):
    """Another process holds the index's write lock."""


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


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a crash leaves either the old file or the new one."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_manifest(index_dir: Path, manifest: dict) -> None:
    data = json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8")
    write_atomically(manifest_path(index_dir), data)


def connect(index_dir: str | Path, readonly: bool = False) -> sqlite3.Connection:
    """Open the index database. Readers open it read-only and see only committed batches."""
    path = Path(index_dir) / DATABASE
    # A writer creates the database of a new index; where an index was (its manifest or vectors
    # file is there), a missing database is lost data that an empty new one would hide for good.
    if not path.exists() and (readonly or any((Path(index_dir) / name).exists() for name in (MANIFEST, VECTORS))):
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
            conn.executescript(SCHEMA)
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # garbage or truncated: fails here
    except sqlite3.OperationalError:
        raise  # locked, unreadable: not damage
    except sqlite3.DatabaseError as exc:
        raise damaged_database(path, exc) from None
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def damaged_database(path: Path, reason: object) -> StoreError:
    """The error for an index database SQLite cannot read (`reason`, SQLite's own words)."""
    return StoreError(f"{path} is not a valid index database ({reason}); restore it from a backup, or index the "
                      "articles again into a new --index directory")


def check_integrity(conn: sqlite3.Connection, path: Path) -> None:
    """SQLite's quick_check of every page (seconds for a large index: for --repair, not every open);
    raises the damaged-database error if it finds anything."""
    try:
        findings = [row[0] for row in conn.execute("PRAGMA quick_check(3)")]
    except sqlite3.DatabaseError as exc:
        raise damaged_database(path, exc) from None
    if findings != ["ok"]:
        raise damaged_database(path, " ".join(" ".join(findings).split()))  # its report spans lines: one line here


def db_generation(conn: sqlite3.Connection, key: str = "generation") -> int:
    """The database's generation (every committed batch bumps it); with key 'lexical_generation',
    the generation the lexical index was last committed at."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return int(row[0]) if row else 0


def open_lexical(index_dir: Path):
    """A reader of the index's lexical index at its newest commit (see indexer.lexical)."""
    from .lexical import LexicalReader, exists

    folder = Path(index_dir) / LEXICAL
    rebuild = f"rebuild it from the database (nothing is re-embedded) with: article-search index --rebuild --index {index_dir}"
    if not exists(folder):
        raise StoreError(f"{index_dir} has no lexical index ({LEXICAL}/); {rebuild}")
    try:
        return LexicalReader(folder)
    except ValueError as exc:  # tantivy's word for files it cannot read
        raise StoreError(f"{folder} is damaged ({exc}); {rebuild}") from None


INDEX_TYPES = ("auto", "flat", "ivf-sq8")
# `auto` keeps exact search up to this many vectors: a flat query over 200k 384-d vectors takes
# ~12 ms on one core, over 1M ~58 ms (docs/benchmarks.md, "ANN at scale").
FLAT_LIMIT = 200_000
# Inverted lists probed per IVF query. On 1M embedding-like vectors (benchmarks/ann_scale.py,
# IVF4000,SQ8, one thread): nprobe 256 → recall@10 .950–.953 at ~3 ms p50 depending on the real
# vectors the set is made from, 320 → .956 at 3.7 ms, 384 → .957 at 4.4 ms; 398 bytes per vector
# against 1,544 for exact search at 50–57 ms. 320 keeps recall above .95 with room.
IVF_NPROBE = 320


IVF_MIN = 10_000  # fewer vectors than this train IVF poorly, and exact search is fast anyway


def choose_index_type(requested: str, count: int) -> str:
    """The FAISS kind for `count` vectors: as requested, `auto` by size; never IVF below IVF_MIN."""
    if requested not in INDEX_TYPES:
        raise StoreError(f"index type must be one of {', '.join(INDEX_TYPES)}, got '{requested}'")
    if requested == "flat" or count < IVF_MIN or (requested == "auto" and count < FLAT_LIMIT):
        return "flat"
    return "ivf-sq8"


def index_kind(index) -> str:
    return "ivf-sq8" if hasattr(index, "nprobe") else "flat"


def build_faiss(kind: str, dimension: int, ids: np.ndarray, vectors: np.ndarray, trained=None):
    """A FAISS index of `kind` holding `vectors` under chunk `ids`; returns (index, description).

    Both kinds take int64 ids and allow removal. `flat` is exact inner product (cosine on unit
    vectors) behind an id map; `ivf-sq8` clusters the vectors into ~4·sqrt(n) inverted lists,
    trained on (a sample of) the vectors given, and stores each as 8-bit scalars (384 bytes).
    `trained`, an empty trained IVF index (see `train_ivf`), is copied instead of training anew:
    the shards of one index share their inverted lists that way.
    """
    import faiss

    if kind == "flat":
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        description = "IDMap2,Flat"
    else:
        index = faiss.clone_index(trained) if trained is not None else train_ivf(dimension, vectors, len(vectors))
        index.nprobe = IVF_NPROBE
        description = f"IVF{index.nlist},SQ8"
    if len(ids):
        index.add_with_ids(vectors, ids)
    return index, description


def train_ivf(dimension: int, sample: np.ndarray, count: int):
    """An empty IVF,SQ8 index for `count` vectors (~4·sqrt(count) inverted lists), trained on
    `sample`, vectors drawn from those it will hold (all of them, or a sample of every shard)."""
    import faiss

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


def vectors_from_db(conn: sqlite3.Connection, dimension: int) -> tuple[np.ndarray, np.ndarray]:
    """All chunk ids and vectors stored in the database, in id order."""
    rows = conn.execute("SELECT id, vector FROM chunks ORDER BY id").fetchall()
    ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    vectors = np.zeros((len(rows), dimension), dtype=np.float32)
    for i, row in enumerate(rows):
        vectors[i] = np.frombuffer(row[1], dtype=np.float32)
    return ids, vectors


def load_faiss(index_dir: Path, manifest: dict, conn: sqlite3.Connection) -> tuple[object, bool]:
    """The FAISS index matching the database's committed state, and whether it had to be rebuilt.

    The saved file is used when it was saved at the database's generation and holds as many
    vectors as the database has chunks; otherwise (an interrupted run, a missing or truncated file)
    it is rebuilt from the vectors stored in the database.
    """
    import faiss

    path = Path(index_dir) / VECTORS
    generation = db_generation(conn)
    saved_at = manifest.get("faiss", {}).get("generation")
    chunk_count = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    if path.exists() and saved_at == generation:
        try:
            index = faiss.read_index(str(path))
            if index.ntotal == chunk_count and index.d == manifest["dimension"]:
                if hasattr(index, "nprobe"):
                    index.nprobe = manifest["faiss"].get("nprobe", IVF_NPROBE)
                return index, False
        except RuntimeError:
            pass  # truncated or damaged: rebuilt below
    ids, vectors = vectors_from_db(conn, manifest["dimension"])
    kind = "ivf-sq8" if manifest["faiss"]["description"].startswith("IVF") else "flat"
    shared = manifest["faiss"].get("trained")
    trained = faiss.read_index(str(Path(index_dir) / shared)) if kind == "ivf-sq8" and shared else None
    index, _ = build_faiss(kind, manifest["dimension"], ids, vectors, trained)
    return index, True


def save_faiss(index_dir: Path, index) -> None:
    import faiss

    data = faiss.serialize_index(index)
    write_atomically(Path(index_dir) / VECTORS, data.tobytes())


@contextmanager
def write_lock(index_dir: Path):
    """Hold the index's write lock; a second writer gets a clear error instead of a corrupt index."""
    Path(index_dir).mkdir(parents=True, exist_ok=True)
    handle = open(Path(index_dir) / LOCK, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise IndexLocked(
            f"another process is writing the index at {index_dir} (lock {Path(index_dir) / LOCK}); "
            "wait for it to finish and run again") from None
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def check_model(manifest: dict, name: str, model_fingerprint: str, index_dir: Path) -> None:
    """Refuse a model other than the one the index was built with: its vectors would not compare."""
    built = manifest["model"]
    if built["fingerprint"] != model_fingerprint:
        raise StoreError(
            f"the index at {index_dir} was built with model '{built['name']}' (fingerprint "
            f"{built['fingerprint'][:12]}); the model given, '{name}' (fingerprint {model_fingerprint[:12]}), "
            "embeds differently. Leave out --model to use the index's own, or index into a new --index directory.")


def check_backend(manifest: dict, conn: sqlite3.Connection, encoder, index_dir: Path) -> None:
    """Refuse a query backend whose embeddings differ from the index's own (for example int8
    queries on a float index): it would rank by a slightly different geometry."""
    from .embedding import PROBE_MIN_COSINE, PROBE_SENTENCES

    built_with = manifest["model"].get("backend", "torch")
    if encoder.backend == built_with:
        return
    row = conn.execute("SELECT value FROM meta WHERE key = 'probe_vectors'").fetchone()
    if row is None:
        return
    stored = np.frombuffer(bytes.fromhex(row[0]), dtype=np.float32).reshape(len(PROBE_SENTENCES), -1)
    cosine = float((encoder.encode(PROBE_SENTENCES) * stored).sum(axis=1).min())
    if cosine < PROBE_MIN_COSINE:
        raise StoreError(
            f"the index at {index_dir} was embedded with the {built_with} backend; the {encoder.backend} backend "
            f"embeds differently (cosine {cosine:.4f} < {PROBE_MIN_COSINE} on the probe sentences). "
            f"Use --backend {built_with}, or re-index with --backend {encoder.backend}.")
