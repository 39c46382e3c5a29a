"""`IndexWriter`: adds, updates and removes articles in an index directory.

    with IndexWriter("index") as writer:          # creates the index, or opens it for writing
        summary = writer.add(read_paths(["data/"]))
        writer.remove(["wn-e8d671d30811"])

Work is committed in batches of about `commit_chunks` passages, and each committed batch is a new
generation that readers can open (see indexer.store): the batch is embedded; its vectors are
written as a new segment (indexer.vectors) and its passages committed to the lexical index
(indexer.lexical); then one SQLite transaction writes its articles and chunks, marks the passages
it replaces as tombstones, and names the new segment. So a write costs what it changes: one
article's rows, one small segment, a few lexical documents. The writing of one batch runs on a
second thread while the next one is embedded. A run that is killed keeps every committed batch;
a rerun skips the articles already indexed because their content hash is unchanged.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import boilerplate, catalog, duplicates, store
from .boilerplate import LearnedBoilerplate, Observation, source_of
from .article import MAX_ARTICLE_CHARS, Article, normalize_date
from .chunking import Chunk, Chunker, split_sentences
from .cleaning import clean_text
from .highlights import pooled_sentence_vectors
from .lexical import LexicalReader, LexicalWriter
from .lexical import damaged_files as lexical_damaged
from .lexical import exists as lexical_exists
from .lexical import has_article_keys
from .merging import Merger
from .models import PROBE_SENTENCES, Encoder, check_backend, check_model, load_encoder, prepare_query_model
from .inputs import Problem
from .vectors import FOLDER as VECTORS_FOLDER
from .vectors import (INDEX_TYPES, IVF_NPROBE, RETENTION_SECONDS, VectorWriter, add_tombstones,
                      check_segment, create_tombstones, describe, forget_lexical,
                      read_index, read_tombstones)
from .wording import counted


# Problems a summary keeps; the rest are counted, and each is still given to `on_problem` as it
# comes (the CLI prints them all), so a run over a million bad records does not hold them all.
KEPT_PROBLEMS = 1000


@dataclass
class IndexSummary:
    """What one `add` did. `problems` are the first KEPT_PROBLEMS records skipped, each with where
    and why; `skipped` counts them all. `on_problem`, when set, is called with each as it comes."""

    indexed: int = 0
    updated: int = 0
    unchanged: int = 0
    chunks: int = 0
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)
    written: list[str] = field(default_factory=list)  # ids of the articles indexed or updated, in order
    phases: dict[str, float] = field(default_factory=dict)  # seconds per stage, where a run reports them
    dropped: int = 0  # problems counted but not kept in `problems`
    on_problem: Callable[[Problem], None] | None = field(default=None, repr=False)

    @property
    def skipped(self) -> int:
        return len(self.problems) + self.dropped

    def report(self, problem: Problem) -> None:
        """Count `problem`, give it to `on_problem`, and keep it while fewer than KEPT_PROBLEMS are."""
        if self.on_problem is not None:
            self.on_problem(problem)
        if len(self.problems) < KEPT_PROBLEMS:
            self.problems.append(problem)
        else:
            self.dropped += 1

    def merge(self, other: IndexSummary) -> None:
        """Add the counts and problems of `other` (another add, another shard) to this summary;
        `other`'s problems were given to its own `on_problem` already."""
        self.indexed += other.indexed
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.chunks += other.chunks
        kept = other.problems[:max(0, KEPT_PROBLEMS - len(self.problems))]
        self.problems += kept
        self.dropped += other.skipped - len(kept)
        self.written += other.written

    def __str__(self) -> str:
        rate = self.chunks / self.seconds if self.seconds else 0.0
        return (f"{self.indexed:,} indexed, {self.updated:,} updated, {self.unchanged:,} unchanged, "
                f"{self.skipped:,} skipped; {counted(self.chunks, 'passage')} embedded in {self.seconds:.1f} s "
                f"({rate:.1f} passages/s)")


@dataclass
class EmbeddedChunks:
    """The model's output for the chunks of one or more articles, in chunk order: the embedded
    texts (title context + passage), their vectors, and either the token embeddings or, once
    pooled (`pool_sentences`), each chunk's sentence spans and int8 sentence vectors."""

    texts: list[str]
    vectors: np.ndarray
    tokens: list[np.ndarray] | None = None
    spans: list[list[tuple[int, int]]] | None = None
    sentence_vectors: list[np.ndarray] | None = None

    @staticmethod
    def concat(parts: list[EmbeddedChunks]) -> EmbeddedChunks:
        pooled = all(part.spans is not None for part in parts)
        return EmbeddedChunks(
            [text for part in parts for text in part.texts],
            np.concatenate([part.vectors for part in parts]) if parts else np.zeros((0, 0), np.float32),
            None if pooled else [t for part in parts for t in part.tokens],
            [s for part in parts for s in part.spans] if pooled else None,
            [v for part in parts for v in part.sentence_vectors] if pooled else None)


@dataclass
class PreparedArticle:
    """An article cleaned, chunked and fingerprinted, ready to embed (`embedded` once it is)."""

    article: Article
    text: str
    author: str
    chunks: list[Chunk]
    content_hash: str
    is_update: bool
    minhash: np.ndarray
    embedded: EmbeddedChunks | None = None
    observed: Observation | None = None  # what LearnedBoilerplate.observe counted
    cleaned_with: int | None = None  # the source's template version it was cleaned with; None: patterns only

    @property
    def id(self) -> str:
        return self.article.id


def unindexable(article: Article, max_article_chars: int = MAX_ARTICLE_CHARS) -> Problem | None:
    """Why `prepare_article` would refuse `article`, or None: for callers that must check a whole
    batch before writing any of it (POST /articles writes all of a request or nothing)."""
    if len(article.text) > max_article_chars:
        return Problem(article.origin, f"article '{article.id}' has {len(article.text):,} characters of text, over "
                                       f"the limit of {max_article_chars:,} (--max-article-chars); not indexed")
    if not clean_text(article.text).text:
        return Problem(article.origin, f"article '{article.id}' has no text left after removing boilerplate")
    return None


def prepare_article(article: Article, chunker: Chunker, max_article_chars: int,
                    is_update: bool, learned: LearnedBoilerplate | None = None) -> PreparedArticle | Problem:
    """Clean and chunk one article (no model call); a Problem when it cannot be indexed. With
    `learned`, the article's lines are counted for its source first, and the lines learned as that
    source's boilerplate are removed too."""
    if problem := unindexable(article, max_article_chars):
        return problem
    source = source_of(article.source, article.url)
    observed = learned.observe(source, article.id, article.text) if learned else None
    # Cleaned again: cleaning costs ~0.1 ms per article, next to ~1 s of embedding.
    cleaned = clean_text(article.text, learned.for_source(source) if learned else None)
    if not cleaned.text:
        return Problem(article.origin, f"article '{article.id}' has no text left after removing boilerplate")
    chunks = chunker.chunk(cleaned.text, article.title)
    return PreparedArticle(article, cleaned.text, article.author or cleaned.author, chunks, article.content_hash(),
                           is_update, duplicates.signature(cleaned.text), observed=observed,
                           cleaned_with=learned.version(source) if learned else None)


# Texts per model call: one forward batch (about 1.3 s at 25 passages/s), so that a progress bar
# moves that often rather than once a commit (256 passages).
EMBED_GROUP = 32


def embed_articles(encoder: Encoder, chunker: Chunker, batch: list[PreparedArticle],
                   done: Callable[[float], None] | None = None) -> None:
    """Embed the chunks of every article of `batch` (title + text; see `Chunker.embedded_text`) and
    set each article's `embedded` (token embeddings not yet pooled). The texts are embedded longest
    first in groups of EMBED_GROUP: the order and batches that sentence-transformers makes of one
    call, so the padding and the work are the same, and `done(articles)`, when given, is called
    after each group with the share of the batch's articles it embedded (a chunk is 1/chunks of its
    article)."""
    texts = [chunker.embedded_text(p.article.title, c.text) for p in batch for c in p.chunks]
    shares = [1 / len(p.chunks) for p in batch for _ in p.chunks]
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    vectors, tokens = np.zeros((len(texts), encoder.dimension), np.float32), [None] * len(texts)
    for start in range(0, len(order), EMBED_GROUP):
        group = order[start:start + EMBED_GROUP]
        group_vectors, group_tokens = encoder.encode_with_tokens([texts[i] for i in group])
        for i, vector, token in zip(group, group_vectors, group_tokens):
            vectors[i], tokens[i] = vector, token
        if done is not None:
            done(sum(shares[i] for i in group))
    start = 0
    for p in batch:
        end = start + len(p.chunks)
        p.embedded = EmbeddedChunks(texts[start:end], vectors[start:end], tokens[start:end])
        start = end


def pool_sentences(tokenizer, p: PreparedArticle) -> None:
    """Replace the token embeddings of `p.embedded` by each chunk's sentence spans and pooled
    int8 sentence vectors (see indexer.highlights)."""
    embedded = p.embedded
    offsets = tokenizer(embedded.texts, return_offsets_mapping=True)["offset_mapping"] if embedded.texts else []
    embedded.spans = [split_sentences(chunk.text) for chunk in p.chunks]
    embedded.sentence_vectors = [
        pooled_sentence_vectors(tokens, token_offsets, len(text) - len(chunk.text), spans)
        for tokens, token_offsets, text, chunk, spans
        in zip(embedded.tokens, offsets, embedded.texts, p.chunks, embedded.spans)]
    embedded.tokens = None


def progress_bar(total: int | None, shown: bool, desc: str = "indexing", unit: str = "items"):
    """A tqdm bar on stderr counting `unit` (by default input items: articles and problems) out of
    `total`, with a rate and an ETA; a count can be fractional (a part of an article's passages
    embedded), shown rounded."""
    from tqdm import tqdm

    return tqdm(desc=desc, total=total, unit=f" {unit}", disable=not shown, dynamic_ncols=True,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:,.0f}/{total_fmt} [{elapsed}<{remaining}, "
                           "{rate_noinv_fmt}]" if total else "{desc}: {n:,.0f} " + unit + " [{elapsed}, {rate_noinv_fmt}]")


def close_progress_bar(bar) -> None:
    """Close `bar` at the count it reached: a total counted ahead (see `inputs.count_records`) can
    be a little off, and the last line must not say 99% or 101% of a finished run."""
    if bar.total is not None and round(bar.n) != bar.total:
        bar.total = round(bar.n)
    bar.n = round(bar.n)
    bar.close()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class IndexWriter:
    """The one writer of an index directory (others are kept out by a file lock).

    `model` is a sentence-transformers name or path; for an existing index leave it out to use the
    index's own model (a different one is refused). `encoder` may be passed to share a loaded model.
    `repair=True` rewrites a missing or damaged manifest from the configuration kept in the database.
    `index_type` (auto, flat, ivf-sq8) sets the FAISS layout of the vector segments, kept in the
    manifest; `auto` moves from exact to IVF search as segments grow. `rebuild=True` rebuilds the
    lexical index, and the vectors as one segment from the stored vectors (no re-embedding) when the
    writer saves; `optimize=True` merges the vector segments into one at the save. With `merges`
    (the default) the writer merges vector segments on a thread of its own while it writes
    (indexer.merging), and at its close; without, it never merges, and leaves that to the caller's
    Merger (a server's).

    With `interleave` (an `index` run), a writer that only adds or removes holds the index's
    write lock and the lexical index's writer only while it publishes: it opens with them, lets
    them go, and takes them again (waiting up to store.WRITE_LOCK_TIMEOUT) for each batch, the
    re-clean, each group of story assignments, each removal and the save, never while it embeds.
    Other processes' writes go in between its batches instead of waiting for its whole run (a
    server's writers interleave too). A rebuild, an optimize, a repair or an upgrade holds them for
    the writer's life.
    """

    def __init__(self, index_dir: str | Path, model: str | None = None, *, encoder: Encoder | None = None,
                 backend: str | None = None, index_type: str | None = None, rebuild: bool = False,
                 max_tokens: int | None = None, overlap: int = 1, title_tokens: int = 32, commit_chunks: int = 256,
                 max_article_chars: int = MAX_ARTICLE_CHARS,
                 repair: bool = False, optimize: bool = False, merges: bool = True, interleave: bool = False,
                 progress: bool = False):
        self.dir = Path(index_dir)
        self._progress = progress  # a bar for the open's long work: rewriting the lexical index
        self.conn = self._reader = self.lexical = self._merger = None
        if interleave and encoder is None:
            # Loaded before the lock: seconds (a minute on a loaded machine) that other processes'
            # writes would wait for. `_open` checks it is the index's model, under the lock.
            encoder = self._index_model(model, backend)
        self._lock = store.write_lock(self.dir)
        self._lock.__enter__()
        try:
            if index_type is not None and index_type not in INDEX_TYPES:
                raise store.StoreError(f"index type must be one of {', '.join(INDEX_TYPES)}, got '{index_type}'")
            self._open(model, encoder, backend, max_tokens, overlap, title_tokens, repair, rebuild)
        except BaseException:
            self._release()
            raise
        self.commit_chunks = commit_chunks
        self.max_article_chars = max_article_chars
        self._seen: dict[str, str] = {}  # id -> where it was read, across the `add` calls of this writer
        # Lexical tombstones are purged at close and, in a long run, once per RETENTION_SECONDS
        # between batches: a re-clean or a long update run would otherwise pile them up.
        self._next_purge = time.monotonic() + RETENTION_SECONDS
        # A layout asked for, a rebuild or an optimize rewrite the vectors as one segment at the save.
        self._rebuild = self._rebuild or rebuild or optimize or (
            index_type is not None and index_type != self.manifest["faiss"].get("index_type", "auto"))
        if index_type is not None:
            self.manifest["faiss"]["index_type"] = index_type
            self.vectors.index_type = index_type
        self._dirty = self._dirty or self._rebuild
        self.merges = merges
        if merges and not self._rebuild:  # a rebuild writes one segment at the save: nothing to merge before
            self._merger = Merger(VectorWriter(self.dir, store.connect(self.dir), self.vectors.dimension,
                                               self.vectors.index_type, self.vectors.trained))
        if interleave and not self._dirty:  # nothing to rewrite at the save: only publications need the lock
            self._let_go()

    def _index_model(self, model: str | None, backend: str | None) -> Encoder | None:
        """`model` (else the model the manifest names) loaded with `backend` (else the manifest's),
        as `_open` would load it; None when the manifest cannot be read (`_open` says why)."""
        try:
            built = store.read_manifest(self.dir, upgradable=True)["model"] \
                if store.manifest_path(self.dir).exists() else {}
        except store.StoreError:
            return None
        return load_encoder(model or built.get("name"), backend or built.get("backend", "torch"))

    def _open(self, model, encoder, backend, max_tokens, overlap, title_tokens, repair, rebuild) -> None:
        self.conn = store.connect(self.dir)
        if repair:  # a repair must not vouch for a database it has not read through
            store.check_integrity(self.conn, self.dir / store.DATABASE)
        config_row = self.conn.execute(catalog.META_VALUE, (catalog.CONFIG,)).fetchone()
        repaired = False
        try:
            self.manifest = store.read_manifest(self.dir, upgradable=True)
        except store.StoreError:
            if config_row is None and not store.manifest_path(self.dir).exists():
                self.manifest = None  # a new index
            elif repair and config_row is not None:
                self.manifest = json.loads(config_row[0])
                repaired = True
            else:
                raise
        if self.manifest is not None and not repair:
            store.check_generation(self.manifest, store.db_generation(self.conn), self.dir)
        elif self.manifest is not None and store.db_generation(self.conn) < self.manifest.get("generation", 0):
            repaired = True  # a database behind its manifest (a lost WAL), accepted as it is: saved anew
        if self.manifest is not None:
            built_with = self.manifest["model"].get("backend", "torch")
            self.encoder = encoder or load_encoder(model or self.manifest["model"]["name"], backend or built_with)
            check_model(self.manifest, self.encoder.name, self.encoder.fingerprint, self.dir)
            check_backend(self.manifest, store.probe_vectors(self.conn), self.encoder, self.dir)
            settings = self.manifest["chunker"]
            self.chunker = Chunker(self.encoder.tokenizer, settings["max_tokens"], settings["overlap_sentences"],
                                   settings["title_tokens"])
        else:
            self.encoder = encoder or load_encoder(model, backend or "torch")
            limit = self.encoder.max_seq_length
            self.chunker = Chunker(self.encoder.tokenizer, min(max_tokens or limit, limit), overlap, title_tokens)
            self.manifest = self._new_manifest()
            # The manifest goes first, so that a run killed before its first save leaves an index
            # that the next run simply continues.
            store.write_manifest(self.dir, dict(self.manifest, generation=0))
            probes = self.encoder.encode(PROBE_SENTENCES).astype(np.float32).tobytes().hex()
            with self.conn:
                self.conn.execute(catalog.META_REPLACE, (catalog.CONFIG, json.dumps(self.manifest)))
                self.conn.execute(catalog.META_REPLACE, (catalog.PROBE_VECTORS, probes))
        create_tombstones(self.conn)
        store.initialize_counts(self.conn)
        shared = self.manifest["faiss"].get("trained")  # the IVF lists of all shards (indexer.sharding)
        self.vectors = VectorWriter(self.dir, self.conn, self.manifest["dimension"],
                                    self.manifest["faiss"].get("index_type", "auto"),
                                    read_index(self.dir / shared, mmap=False) if shared else None)
        # A format-2 index (one vectors.faiss), segments lost or damaged: written anew at the save.
        has_chunks = self.conn.execute(catalog.ANY_CHUNK).fetchone() is not None
        self._rebuild = bool(has_chunks and (not self.vectors.segments or (repair and self.vectors.missing())))
        if not (repair or rebuild):
            lost = [s.file for s in self.vectors.segments if check_segment(self.vectors.folder, s, "size")]
            if lost:
                raise store.StoreError(
                    f"{len(lost)} vector segment(s) of {self.dir} are missing or cut short ({lost[0]}); rebuild them "
                    f"from the database (nothing is re-embedded) with: article-search index --repair --index {self.dir}")
        folder = self.dir / store.LEXICAL
        if (repair or rebuild) and lexical_exists(folder) and lexical_damaged(folder):
            shutil.rmtree(folder)  # files failing their checksums: written anew below from the database
        if self.manifest.get("format_version") in store.UPGRADABLE_VERSIONS and folder.exists():
            shutil.rmtree(folder)  # an older lexical schema: written anew below from the database
        elif (repair or rebuild) and lexical_exists(folder) and not has_article_keys(folder):
            # Written before articles were counted by a number (indexer.lexical.ARTICLE_KEY): it
            # still serves as it is; a repair or a rebuild writes it anew to gain the key.
            shutil.rmtree(folder)
        existed = lexical_exists(folder)
        try:
            self.lexical = LexicalWriter(folder)
        except ValueError:  # damaged: it is written anew below from the database, which holds all it held
            shutil.rmtree(folder)
            existed, self.lexical = False, LexicalWriter(folder)
        upgrade = self.manifest.get("format_version") != store.FORMAT_VERSION
        if rebuild or upgrade or not existed or self._lexical_out_of_step():
            self._rebuild_lexical()
        else:
            self._drop_unpublished_lexical()
        boilerplate.migrate(self.conn)  # an index made before learned boilerplate (or its versions) gains its tables
        self._reader = store.connect(self.dir, readonly=True)
        self.boilerplate = LearnedBoilerplate(self._reader)  # read and counted on the reading thread
        # Where near-duplicates are looked for: this index, and the other shards of a sharded one
        # (set by ShardedWriter), so that copies of a story group together whichever shard they land in.
        self.duplicate_sources: list[sqlite3.Connection] = [self.conn]
        self._dirty = self._rebuild or repaired or upgrade

    def _lexical_out_of_step(self) -> bool:
        """Whether the lexical index misses a batch (a run killed between the database's commit and
        its own), or holds other passages than the last save counted (a folder or a database
        restored from another time)."""
        if store.db_generation(self.conn, "lexical_generation") != store.db_generation(self.conn):
            return True
        passages = store.read_counts(self.conn)["passages"]  # kept by each batch: no scan per writer open
        held = passages + len(read_tombstones(self.conn, "lexical"))
        return LexicalReader(self.lexical.folder).passages < held

    def _next_chunk_id(self) -> int:
        """The id the next chunk gets: ids are never reused, since engines keep removed ones a while."""
        row = self.conn.execute(catalog.NEWEST_CHUNK).fetchone()
        return (row[0] if row else 0) + 1

    def _drop_unpublished_lexical(self) -> None:
        """Remove the lexical documents of a batch committed to the lexical index by a run killed
        before the transaction that would have published it: their ids will be given again."""
        orphans = LexicalReader(self.lexical.folder).ids_from(self._next_chunk_id())
        if orphans:
            self.lexical.delete(orphans)
            self.lexical.commit()

    def _rebuild_lexical(self) -> None:
        """Write the lexical index anew from the database: when it is missing, damaged or holds fewer
        passages than the database, or to upgrade a format-1 or format-2 index (an FTS5 table, or a
        schema without the fields of facets). Reads every passage's text; embeds nothing."""
        self.lexical.delete_all()
        # Minutes at a million passages: the bar says how far it is (store.read_counts costs no scan).
        bar = progress_bar(store.read_counts(self.conn)["passages"], self._progress, "lexical index", "passages")
        # An article's key is the id of its first passage, as `_publish` gives it.
        rows = self.conn.execute(catalog.LEXICAL_SOURCE_ROWS)
        for chunk_id, text, position, article_id, key, title, source, published, author, metadata in rows:
            self.lexical.add(chunk_id=chunk_id, title=title, text=text, source=source, published=published,
                             article_id=article_id, article_key=key, author=author, metadata=json.loads(metadata),
                             position=position)
            bar.update()
        close_progress_bar(bar)
        self._commit_lexical()
        with self.conn:
            self.conn.execute(catalog.DROP_FTS)
        forget_lexical(self.conn)
        self.manifest["format_version"] = store.FORMAT_VERSION

    def _commit_lexical(self) -> None:
        """Commit the rebuilt lexical index and record that it holds the database's current generation."""
        self.lexical.commit()
        with self.conn:
            self.conn.execute(catalog.META_SET, (catalog.LEXICAL_GENERATION, str(store.db_generation(self.conn))))

    def _new_manifest(self) -> dict:
        return {
            "format_version": store.FORMAT_VERSION,
            "created": _now(),
            "model": {"name": self.encoder.name, "fingerprint": self.encoder.fingerprint,
                      "max_seq_length": self.encoder.max_seq_length, "backend": self.encoder.backend},
            "dimension": self.encoder.dimension,
            "chunker": self.chunker.settings(),
            "faiss": {"description": "IDMap2,Flat", "index_type": "auto", "metric": "inner_product",
                      "folder": VECTORS_FOLDER},
        }

    # -- context manager -------------------------------------------------------------------------

    def __enter__(self) -> IndexWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Save the FAISS index and manifest for everything committed, and release the lock."""
        if self.conn is None:
            return
        try:
            if self._dirty:
                self.save()
        finally:
            self._release()
        prepare_query_model(self.encoder)

    def _release(self) -> None:
        """Close whatever is open and let the lock go, even when a close fails: a writer that kept
        the lock after an error would turn every later write of this process into a 409."""
        with ExitStack() as closing:
            if self._lock is not None:
                closing.callback(self._lock.__exit__, None, None, None)
            for resource in (self.conn, self._reader, self.lexical, self._merger):
                if resource is not None:
                    closing.callback(resource.close)
            self.conn = self._merger = self._lock = self.lexical = None

    def _let_go(self) -> None:
        """Close the lexical index's writer (its own lock) and release the index's write lock:
        an interleaving writer between two publications."""
        lexical, self.lexical = self.lexical, None
        lock, self._lock = self._lock, None
        try:
            if lexical is not None:
                lexical.close()
        finally:
            lock.__exit__(None, None, None)

    @contextmanager
    def _holding(self, lexical: bool = True):
        """The write lock and (with `lexical`) the lexical writer for one publication. A writer
        holding them for its life has them; an interleaving one takes them here, waiting up to
        store.WRITE_LOCK_TIMEOUT (then store.IndexLocked), and lets them go after."""
        if self._lock is not None:
            yield
            return
        lock = store.write_lock(self.dir)
        lock.__enter__()
        self._lock = lock
        try:
            if lexical:
                self.lexical = LexicalWriter(self.dir / store.LEXICAL)
                # Another process's writer killed between its lexical commit and its transaction
                # left passages whose ids this writer is about to give.
                self._drop_unpublished_lexical()
            yield
        finally:
            self._let_go()

    def save(self, kind: str | None = None, trained: tuple[str, object] | None = None) -> None:
        """Bring the vector segments into shape and write the manifest for everything committed.
        Everything is published already (each batch is a generation); this rewrites the vectors as
        one segment where asked (--rebuild, --optimize, a new --index-type, an upgrade or repair),
        else merges small segments (indexer.vectors.plan_merge), and lets go of tombstones and
        files no reader can need any more. `kind` and `trained` (file name, empty trained IVF index)
        come from a sharded index, which chooses the layout by its total size."""
        if self._merger is not None:  # the merges of the run stop here; the rest run below, on this thread
            self._merger.close()
            self._merger = None
        with self._holding():
            self._save_held(kind, trained)

    def _save_held(self, kind: str | None, trained: tuple[str, object] | None) -> None:
        """The rest of `save`, the write lock held."""
        settings = self.manifest["faiss"]
        if trained is not None:
            self.vectors.trained = trained[1]
            settings["trained"] = f"../{trained[0]}"
        if self._rebuild or (kind == "ivf-sq8" and not any(s.kind == kind for s in self.vectors.segments)):
            self.vectors.rebuild(kind)
            self._rebuild = False
        elif self.merges:
            self.vectors.merge()
        self._purge_tombstones()
        self.vectors.collect_garbage()
        if any(s.kind == "ivf-sq8" for s in self.vectors.segments):
            settings["nprobe"] = settings.get("nprobe") or IVF_NPROBE
        segments = self.vectors.segments
        nlist = next((read_index(self.vectors.folder / s.file).nlist for s in segments if s.kind == "ivf-sq8"), None)
        settings["description"] = describe(segments, nlist)
        settings["segments"] = len(segments)
        settings.pop("file", None)
        settings.pop("generation", None)
        (self.dir / store.VECTORS).unlink(missing_ok=True)  # format 2's single file, superseded by segments
        generation = store.db_generation(self.conn)
        self.manifest.update(generation=generation, updated=_now(), counts=self.counts())
        store.write_manifest(self.dir, self.manifest)
        # The copy that --repair restores follows the manifest (layout, counts), not just its first form.
        with self.conn:
            self.conn.execute(catalog.META_UPDATE, (json.dumps(self.manifest), catalog.CONFIG))
        store.checkpoint(self.conn, truncate=True)
        self._dirty = False

    def counts(self) -> dict:
        """Articles, passages and vectors in the index now, kept as each batch publishes: no scan."""
        return {**store.read_counts(self.conn), "vectors": self.vectors.count}

    # -- adding ----------------------------------------------------------------------------------

    def add(self, items: Iterable[Article | PreparedArticle | Problem], progress: bool = False,
            total: int | None = None, on_problem: Callable[[Problem], None] | None = None,
            on_done: Callable[[float], None] | None = None) -> IndexSummary:
        """Index every `Article` of `items`: new ones are added, changed ones re-embedded, unchanged
        ones skipped without embedding. A `PreparedArticle` (prepared and embedded elsewhere) is
        written as it is. `Problem`s (and articles that cannot be indexed) are reported to the
        summary (see `IndexSummary.report`; `on_problem` sees each). With `progress`, a bar on
        stderr counts the items done out of `total` (`inputs.count_records`), moving as each group
        of passages is embedded; `on_done(items)` is told the same (a caller's own bar). Returns
        the summary; the index is saved at `close()`."""
        summary = IndexSummary(on_problem=on_problem)
        started = time.perf_counter()
        seen = self._seen
        pending: list[PreparedArticle] = []
        bar = progress_bar(total, progress)

        def advance(items: float) -> None:
            bar.update(items)
            if on_done is not None:
                on_done(items)

        # Batch n is written (sentence pooling, SQLite, FAISS) on a second thread while batch n+1
        # is read, chunked and embedded here: the model and the writing overlap instead of taking
        # turns. One write in flight at a time, in order.
        writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="index-writer")
        in_flight: Future | None = None

        def flush(batch: list[PreparedArticle]) -> None:
            nonlocal in_flight
            if not batch:
                return
            advance(sum(p.embedded is not None for p in batch))  # embedded elsewhere already
            embedded = self._embed(batch, advance)
            if in_flight is not None:
                in_flight.result()
            in_flight = writes.submit(self._write, batch, embedded, summary)

        try:
            for item in items:
                if isinstance(item, Problem):
                    summary.report(item)
                    advance(1)
                    continue
                article = item.article if isinstance(item, PreparedArticle) else item
                if article.id in seen:
                    summary.report(Problem(article.origin, f"duplicate id '{article.id}' (first seen at "
                                                           f"{seen[article.id]}); this copy is skipped"))
                    advance(1)
                    continue
                seen[article.id] = article.origin
                prepared = self._count_prepared(item) if isinstance(item, PreparedArticle) else self._prepare(item)
                if prepared is None or isinstance(prepared, Problem):
                    advance(1)
                if prepared is None:
                    summary.unchanged += 1
                elif isinstance(prepared, Problem):
                    summary.report(prepared)
                else:
                    pending.append(prepared)
                    if sum(len(p.chunks) for p in pending) >= self.commit_chunks:
                        flush(pending)
                        pending = []
            flush(pending)
            if in_flight is not None:
                in_flight.result()
            self._reclean(summary)
        finally:
            # An interrupted run still finishes the write in flight: it is one transaction, and
            # its batch is embedded already.
            writes.shutdown(wait=True)
            close_progress_bar(bar)
            summary.seconds = time.perf_counter() - started
        return summary

    def _prepare(self, article: Article) -> PreparedArticle | Problem | None:
        """Clean and chunk one article; None when it is indexed already with the same content."""
        content_hash = article.content_hash()
        # Its own connection: the writer thread may be inside a transaction on self.conn.
        row = self._reader.execute(catalog.CONTENT_HASH, (article.id,)).fetchone()
        if row and row[0] == content_hash:
            return None
        return prepare_article(article, self.chunker, self.max_article_chars, row is not None, self.boilerplate)

    def _count_prepared(self, p: PreparedArticle) -> PreparedArticle:
        """An article prepared elsewhere (a Ray worker, see indexer.distributed), cleaned by the
        patterns alone: its lines are counted here, where its source's counts are, and it is
        recorded as cleaned with version 0 (nothing learned), so that the end-of-run cleaning
        applies whatever its source has learned."""
        if p.cleaned_with is None:
            p.observed = self.boilerplate.observe(source_of(p.article.source, p.article.url), p.id, p.article.text)
            p.cleaned_with = 0
        return p

    def _reclean(self, summary: IndexSummary) -> None:
        """Clean again the stored articles cleaned with an older template version than their
        source's current one, whichever run learned the new line (this one, or one killed before
        it got here), and rewrite those whose text changes; only their passages whose text changed
        are embedded again (the others keep their stored vectors). Each counts as updated. Reads
        only those articles (`cleaned_with` by source and version), never a whole source."""
        for source, version in boilerplate.sources_behind(self._reader):
            is_learned = self.boilerplate.for_source(source)
            batch: list[PreparedArticle] = []
            unchanged = []
            for article_id in boilerplate.articles_behind(self._reader, source, version):
                row = self._reader.execute(catalog.STORED_ARTICLE, (article_id,)).fetchone()
                if not (text := clean_text(row[6], is_learned).text) or text == row[6]:
                    unchanged.append(article_id)
                    continue
                article = Article(row[0], row[1], text, row[2], row[3] or "", row[4], row[5], json.loads(row[7]))
                p = PreparedArticle(article, text, row[4], self.chunker.chunk(text, article.title), row[8], True,
                                    duplicates.signature(text), cleaned_with=version)
                p.embedded = self._embed_changed_chunks(p)
                batch.append(p)
                if sum(len(p.chunks) for p in batch) >= self.commit_chunks:
                    self._write(batch, EmbeddedChunks.concat([p.embedded for p in batch]), summary)
                    batch = []
            if batch:
                self._write(batch, EmbeddedChunks.concat([p.embedded for p in batch]), summary)
            with self._holding(lexical=False), self.conn:
                self.conn.execute("BEGIN IMMEDIATE")
                for article_id in unchanged:
                    boilerplate.record_cleaning(self.conn, article_id, source, version)
                boilerplate.mark_recleaned(self.conn, source, version)

    def _embed_changed_chunks(self, p: PreparedArticle) -> EmbeddedChunks:
        """`p`'s embedded chunks, pooled: those whose embedded text an indexed chunk of the article
        has already are taken from the database, the others embedded now."""
        stored = {self.chunker.embedded_text(p.article.title, text): (vector, json.loads(spans), sentences)
                  for text, vector, spans, sentences in self._reader.execute(catalog.STORED_CHUNKS, (p.id,))}
        texts = [self.chunker.embedded_text(p.article.title, chunk.text) for chunk in p.chunks]
        changed = PreparedArticle(p.article, p.text, p.author, [c for c, t in zip(p.chunks, texts) if t not in stored],
                                  p.content_hash, True, p.minhash)
        if changed.chunks:
            embed_articles(self.encoder, self.chunker, [changed])
            pool_sentences(self.encoder.tokenizer, changed)
            fresh = iter(zip(changed.embedded.vectors, changed.embedded.spans, changed.embedded.sentence_vectors))
        parts = []
        dimension = self.encoder.dimension
        for text in texts:
            if text in stored:
                vector, spans, sentences = stored[text]
                parts.append((np.frombuffer(vector, dtype=np.float32),
                              [tuple(span) for span in spans],
                              np.frombuffer(sentences, dtype=np.int8).reshape(len(spans), dimension)))
            else:
                parts.append(next(fresh))
        return EmbeddedChunks(texts, np.stack([vector for vector, _, _ in parts]).astype(np.float32), None,
                              [spans for _, spans, _ in parts], [sentences for _, _, sentences in parts])

    def _embed(self, batch: list[PreparedArticle], done: Callable[[float], None] | None = None) -> EmbeddedChunks:
        """The model's part of a batch: vectors and token embeddings of every chunk (title + text).
        Articles embedded elsewhere already (a Ray pipeline, see indexer.distributed) are kept.
        `done` as for `embed_articles`."""
        missing = [p for p in batch if p.embedded is None]
        if missing:
            embed_articles(self.encoder, self.chunker, missing, done)
        return EmbeddedChunks.concat([p.embedded for p in batch])

    def _write(self, batch: list[PreparedArticle], embedded: EmbeddedChunks, summary: IndexSummary) -> None:
        """Publish an embedded batch as one generation: its vectors as a new segment and its
        passages in the lexical index first, then one transaction with its rows that names the
        segment (see indexer.store: the engines are never behind the database)."""
        for p in batch:
            if p.embedded.spans is None:
                pool_sentences(self.encoder.tokenizer, p)
        texts, vectors = embedded.texts, embedded.vectors
        spans = [s for p in batch for s in p.embedded.spans]
        sentence_vectors = [v for p in batch for v in p.embedded.sentence_vectors]
        with self._holding():  # the ids are given under the lock: another process may publish between batches
            first = self._next_chunk_id()
            chunk_ids = np.arange(first, first + len(texts), dtype=np.int64)
            segment = self.vectors.write_segment(chunk_ids, vectors)
            try:
                self._publish(batch, chunk_ids, segment, vectors, spans, sentence_vectors)
            except BaseException:
                # Nothing of the batch may outlive its transaction: these ids will be given again.
                self.lexical.delete(chunk_ids.tolist())
                self.lexical.commit()
                if segment is not None:
                    (self.vectors.folder / segment.file).unlink(missing_ok=True)
                raise
            if self._merger is not None:
                self._merger.wake()
            if time.monotonic() >= self._next_purge:
                self._purge_tombstones()
            store.checkpoint(self.conn)  # the WAL stays short through a long run (docs/reliability.md)
        self._dirty = True
        for p in batch:
            p.embedded = None  # written: its vectors need not stay in memory
            summary.written.append(p.id)
            if p.is_update:
                summary.updated += 1
            else:
                summary.indexed += 1
        summary.chunks += len(texts)

    def _publish(self, batch: list[PreparedArticle], chunk_ids: np.ndarray, segment, vectors: np.ndarray,
                 spans: list, sentence_vectors: list) -> None:
        """The lexical documents of a batch, then the one transaction that publishes it."""
        ids = chunk_ids.tolist()
        first = 0  # the article's first passage's place in `ids`: its id is the article's key
        for p in batch:
            published = normalize_date(p.article.published)
            for position, chunk in enumerate(p.chunks):
                self.lexical.add(chunk_id=ids[first + position], title=p.article.title, text=chunk.text,
                                 source=p.article.source, published=published, article_id=p.article.id,
                                 article_key=ids[first], author=p.article.author, metadata=p.article.metadata,
                                 position=position)
            first += len(p.chunks)
        self.lexical.commit()
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            for p in batch:
                removed = self._delete_chunks(p.article.id)
                added = self._upsert_article(p)
                store.adjust_counts(self.conn, articles=added, passages=len(p.chunks) - removed)
                self.boilerplate.save(self.conn, p.observed)
                if p.cleaned_with is not None:
                    boilerplate.record_cleaning(self.conn, p.id, source_of(p.article.source, p.article.url),
                                                p.cleaned_with)
            ids = iter(chunk_ids.tolist())
            row = 0
            for p in batch:
                for position, chunk in enumerate(p.chunks):
                    self.conn.execute(catalog.INSERT_CHUNK, (
                        next(ids), p.article.id, position, chunk.start, chunk.end, chunk.text, chunk.tokens,
                        vectors[row].tobytes(), json.dumps(spans[row]), sentence_vectors[row].tobytes()))
                    row += 1
            self.vectors.publish(segment)
            self._bump_generation()

    def _upsert_article(self, p: PreparedArticle) -> int:
        """Insert or update `p`'s article row and its MinHash bands; 1 when the article is new, else 0."""
        a = p.article
        before = self.conn.execute(catalog.DUPLICATE_GROUP, (a.id,)).fetchone()
        self.conn.execute(catalog.DELETE_BANDS, (a.id,))
        keys = duplicates.band_keys(p.minhash)
        group = self._duplicate_group(a.id, p.minhash, keys) or duplicates.new_group_id(a.id, p.content_hash)
        self.conn.execute(catalog.UPSERT_ARTICLE, (
            a.id, a.title, a.url, normalize_date(a.published), p.author, a.source, p.text,
            json.dumps(a.metadata, ensure_ascii=False), p.content_hash, _now(), p.minhash.tobytes(), group))
        self.conn.executemany(catalog.INSERT_BAND, [(band, key, a.id) for band, key in enumerate(keys)])
        if before is not None:  # an update: the copies of its old text may no longer be copies of it
            self._regroup(before[0], a.id)
        return int(before is None)

    def _duplicate_group(self, article_id: str, minhash: np.ndarray, keys: list[int],
                         exclude: frozenset[str] | set[str] = frozenset()) -> str | None:
        """The group of the most similar indexed article at or above the threshold (other than
        `article_id` and those in `exclude`), else None."""
        where = " OR ".join(catalog.BAND_MATCH for _ in keys)
        params = [value for band, key in enumerate(keys) for value in (band, key)]
        candidates = [row for conn in self.duplicate_sources for row in conn.execute(
            catalog.BAND_CANDIDATES.format(where), [*params, article_id])]
        best, group = duplicates.THRESHOLD, None
        for other_id, other, other_group in candidates:
            if other_id in exclude:
                continue
            score = duplicates.similarity(minhash, np.frombuffer(other, dtype=np.uint32))
            if score >= best:
                best, group = score, other_group
        return group

    def _regroup(self, group: str, leaving: str) -> None:
        """Group the other members of `group` again now that `leaving` has left it (updated or
        removed): each, in id order, as if it were added anew, matched only against articles
        already settled, so that none stays grouped with a text it no longer resembles. Members
        may live in other shards (see `duplicate_sources`)."""
        members = sorted((row[0], row[1], row[2], conn) for conn in self.duplicate_sources for row in conn.execute(
            catalog.GROUP_MEMBERS, (group, leaving)))
        unsettled = {member[0] for member in members}
        for article_id, minhash, content_hash, conn in members:
            unsettled.discard(article_id)
            signature = np.frombuffer(minhash, dtype=np.uint32)
            regrouped = (self._duplicate_group(article_id, signature, duplicates.band_keys(signature), unsettled)
                         or duplicates.new_group_id(article_id, content_hash))
            if conn is self.conn:  # inside the caller's transaction
                conn.execute(catalog.SET_DUPLICATE_GROUP, (regrouped, article_id))
            else:
                # Another shard's database: a transaction of its own that is a new generation of
                # that shard, so its readers see the change with the generation, not inside one.
                with conn:
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute(catalog.SET_DUPLICATE_GROUP, (regrouped, article_id))
                    self._bump_generation(conn)

    def _delete_chunks(self, article_id: str) -> int:
        """Delete an article's chunks, inside the caller's transaction, and say how many; the
        engines keep them as tombstones until no reader can need them (indexer.vectors)."""
        ids = [r[0] for r in self.conn.execute(catalog.ARTICLE_CHUNK_IDS, (article_id,))]
        if ids:
            self.conn.execute(catalog.DELETE_ARTICLE_CHUNKS, (article_id,))
            add_tombstones(self.conn, ids)
        return len(ids)

    def _bump_generation(self, conn: sqlite3.Connection | None = None) -> None:
        """Inside the transaction that publishes a generation (on `conn`, another shard's, or this
        writer's); the lexical index holds it already."""
        conn = conn or self.conn
        conn.execute(catalog.META_INCREMENT, (catalog.GENERATION,))
        conn.execute(catalog.LEXICAL_AT_GENERATION)

    def write_stories(self, assign) -> dict[str, str]:
        """Assign stories in one transaction that publishes a generation: `assign(conn)` puts
        articles in stories (indexer.story_rows.set_story) through `conn`, which sees its own assignments, and
        returns {article id: story id}, which this returns."""
        with self._holding(lexical=False), self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            assigned = assign(self.conn)
            if assigned:
                self._bump_generation()
        return assigned

    def _purge_tombstones(self) -> None:
        """Delete from the lexical index the passages removed more than RETENTION_SECONDS ago: no
        request reads a generation that old (docs/reliability.md, "Snapshots")."""
        self._next_purge = time.monotonic() + RETENTION_SECONDS
        cutoff = time.time() - RETENTION_SECONDS
        old = [row[0] for row in self.conn.execute(catalog.LEXICAL_TOMBSTONES_BEFORE, (cutoff,))]
        if not old:
            return
        self.lexical.delete(old)
        self.lexical.commit()
        forget_lexical(self.conn, old)

    # -- removing --------------------------------------------------------------------------------

    def remove(self, article_ids: Iterable[str]) -> tuple[list[str], list[str]]:
        """Remove articles and all their passages; returns (removed ids, ids not in the index)."""
        removed_ids, missing = [], []
        with self._holding(lexical=False), self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            for article_id in article_ids:
                group = self.conn.execute(catalog.DUPLICATE_GROUP, (article_id,)).fetchone()
                if group is None:
                    missing.append(article_id)
                    continue
                store.adjust_counts(self.conn, articles=-1, passages=-self._delete_chunks(article_id))
                self.conn.execute(catalog.DELETE_ARTICLE, (article_id,))
                self._regroup(group[0], article_id)
                removed_ids.append(article_id)
            if removed_ids:
                self._bump_generation()
        if removed_ids:
            if self._merger is not None:  # a segment now mostly tombstones is rewritten without them
                self._merger.wake()
            store.checkpoint(self.conn)
            self._dirty = True
        return removed_ids, missing
