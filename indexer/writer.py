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

`IndexWriter` holds the opening of an index, the write lock and its interleaving, and adding,
removing, publishing and saving. Around it: the batches it writes and their preparation
(indexer.batches), progress bars (indexer.progress), near-duplicate grouping
(indexer.duplicates), re-cleaning (indexer.recleaning), and keeping the lexical index in step
with the database (indexer.lexical_upkeep).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import boilerplate, catalog, duplicates, lexical_upkeep, store
from .boilerplate import LearnedBoilerplate, source_of
from .article import MAX_ARTICLE_CHARS, Article, normalize_date
from .batches import EmbeddedChunks, IndexSummary, PreparedArticle, embed_articles, pool_sentences, prepare_article
from .chunking import Chunker
from .lexical import LexicalWriter
from .merging import Merger
from .models import PROBE_SENTENCES, Encoder, check_backend, check_model, load_encoder, prepare_query_model
from .inputs import Problem
from .progress import close_progress_bar, progress_bar
from .recleaning import reclean
from .vectors import FOLDER as VECTORS_FOLDER
from .vectors import (INDEX_TYPES, IVF_NPROBE, RETENTION_SECONDS, VectorWriter, add_tombstones,
                      check_segment, create_tombstones, describe, read_index)


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
        self.lexical, existed = lexical_upkeep.open_lexical(self.dir / store.LEXICAL, self.manifest, repair or rebuild)
        upgrade = self.manifest.get("format_version") != store.FORMAT_VERSION
        if rebuild or upgrade or not existed or lexical_upkeep.out_of_step(self.conn, self.lexical.folder):
            lexical_upkeep.rewrite(self.conn, self.lexical, self._progress)
            self.manifest["format_version"] = store.FORMAT_VERSION
        else:
            lexical_upkeep.drop_unpublished(self.lexical, self._next_chunk_id())
        boilerplate.migrate(self.conn)  # an index made before learned boilerplate (or its versions) gains its tables
        self._reader = store.connect(self.dir, readonly=True)
        self.boilerplate = LearnedBoilerplate(self._reader)  # read and counted on the reading thread
        # Where near-duplicates are looked for: this index, and the other shards of a sharded one
        # (set by ShardedWriter), so that copies of a story group together whichever shard they land in.
        self.duplicate_sources: list[sqlite3.Connection] = [self.conn]
        self._dirty = self._rebuild or repaired or upgrade

    def _next_chunk_id(self) -> int:
        """The id the next chunk gets: ids are never reused, since engines keep removed ones a while."""
        row = self.conn.execute(catalog.NEWEST_CHUNK).fetchone()
        return (row[0] if row else 0) + 1

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
                lexical_upkeep.drop_unpublished(self.lexical, self._next_chunk_id())
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
            reclean(self, summary)
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
        group = (duplicates.duplicate_group(self.duplicate_sources, a.id, p.minhash, keys)
                 or duplicates.new_group_id(a.id, p.content_hash))
        self.conn.execute(catalog.UPSERT_ARTICLE, (
            a.id, a.title, a.url, normalize_date(a.published), p.author, a.source, p.text,
            json.dumps(a.metadata, ensure_ascii=False), p.content_hash, _now(), p.minhash.tobytes(), group))
        self.conn.executemany(catalog.INSERT_BAND, [(band, key, a.id) for band, key in enumerate(keys)])
        if before is not None:  # an update: the copies of its old text may no longer be copies of it
            duplicates.regroup(self.conn, self.duplicate_sources, before[0], a.id, self._bump_generation)
        return int(before is None)

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
        articles in stories (story_rows.set_story) through `conn`, which sees its own assignments, and
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
        lexical_upkeep.purge_tombstones(self.conn, self.lexical, time.time() - RETENTION_SECONDS)

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
                duplicates.regroup(self.conn, self.duplicate_sources, group[0], article_id, self._bump_generation)
                removed_ids.append(article_id)
            if removed_ids:
                self._bump_generation()
        if removed_ids:
            if self._merger is not None:  # a segment now mostly tombstones is rewritten without them
                self._merger.wake()
            store.checkpoint(self.conn)
            self._dirty = True
        return removed_ids, missing
