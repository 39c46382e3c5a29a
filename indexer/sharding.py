"""Sharded indexes: N complete index directories under one parent, articles split by a hash of their id.

    INDEX_DIR/
      manifest.json        format version, model, "shards": {count, partition, directories}, counts
      ivf-trained.faiss    the empty IVF index all shards share once the archive is large enough
      shard-000/ ...       each a complete index directory (see indexer.store)

An article always lands in shard `shard_of(id, count)` (indexer.partition), so an update or a
removal finds it there, a shard can be built or served by another machine, and search over the
shards (see search_api.sharded) returns what one index of the same articles returns.

    with open_writer("index", shards=4) as writer:   # ShardedWriter; an IndexWriter without shards
        writer.add(read_paths(["data/"]))
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from . import store, vectors
from .article import Article
from .models import load_encoder
from .partition import PARTITION, shard_of
from .inputs import Problem
from .batches import IndexSummary
from .progress import close_progress_bar, progress_bar
from .writer import IndexWriter, _now

TRAINED = "ivf-trained.faiss"
# Articles handed to a shard's writer at a time: enough for its embedding batches to fill.
ROUTE_BATCH = 64
# Vectors drawn from each shard to train the shared IVF, at most.
TRAIN_SAMPLE = 100_000


def shard_name(number: int) -> str:
    return f"shard-{number:03d}"


def is_sharded(index_dir: str | Path) -> bool:
    try:
        return "shards" in store.read_manifest(index_dir, upgradable=True)
    except store.StoreError:
        return False


def open_writer(index_dir: str | Path, model: str | None = None, *, shards: int | None = None, **options):
    """The writer of `index_dir`: a `ShardedWriter` for a sharded index (or a new one with `shards`),
    else an `IndexWriter`. `options` are IndexWriter's."""
    if shards or is_sharded(index_dir):
        return ShardedWriter(index_dir, model, shards=shards, **options)
    return IndexWriter(index_dir, model, **options)


class ShardedWriter:
    """Adds, updates and removes articles of a sharded index, each in its shard; one `IndexWriter`
    per shard, all sharing one model. `shards` is required for a new index and must match an
    existing one's count. The FAISS layout is chosen by the total size: when that calls for IVF,
    one IVF is trained on a sample of every shard's vectors and copied into each shard."""

    def __init__(self, index_dir: str | Path, model: str | None = None, *, shards: int | None = None,
                 encoder=None, backend: str | None = None, **options):
        self.dir = Path(index_dir)
        # The lock first: a run holding it may be about to write the manifest read below.
        self._lock = store.write_lock(self.dir)
        self._lock.__enter__()
        self.writers: list[IndexWriter] = []
        try:
            existing = store.read_manifest(self.dir, upgradable=True) if store.manifest_path(self.dir).exists() else None
            if existing is None and (self.dir / store.DATABASE).exists():
                store.read_manifest(self.dir)  # an unsharded index with a damaged manifest: its error says what to do
            if existing is not None and "shards" not in existing:
                raise store.StoreError(f"{self.dir} is an unsharded index; --shards applies to a new --index directory")
            count = existing["shards"]["count"] if existing else shards
            if not count or count < 1:
                raise store.StoreError(f"the number of shards must be at least 1, got {shards}")
            if existing and shards and shards != count:
                raise store.StoreError(f"{self.dir} has {count} shards, not {shards}; leave out --shards to add to "
                                       "it, or index into a new --index directory")
            if encoder is None:
                built = existing["model"] if existing else {}
                encoder = load_encoder(model or built.get("name"), backend or built.get("backend", "torch"))
            for number in range(count):
                self.writers.append(IndexWriter(self.dir / shard_name(number), model, encoder=encoder, **options))
            for writer in self.writers:  # copies of a story are grouped across shards
                writer.duplicate_sources = [w.conn for w in self.writers]
            self.index_type = self.writers[0].manifest["faiss"].get("index_type", "auto")
            self.manifest = existing or self._new_manifest(count)
            if existing is None:
                store.write_manifest(self.dir, self.manifest)
        except BaseException:
            self._close_writers()
            self._lock.__exit__(None, None, None)
            raise
        self.encoder = encoder

    def _new_manifest(self, count: int) -> dict:
        first = self.writers[0].manifest
        return {"format_version": store.FORMAT_VERSION, "created": _now(), "model": first["model"],
                "dimension": first["dimension"], "chunker": first["chunker"],
                "shards": {"count": count, "partition": PARTITION,
                           "directories": [shard_name(n) for n in range(count)]}}

    def __enter__(self) -> ShardedWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def add(self, items: Iterable[Article | Problem], progress: bool = False, total: int | None = None,
            on_problem: Callable[[Problem], None] | None = None) -> IndexSummary:
        """Index every article of `items` in its shard; as `IndexWriter.add`."""
        summary = IndexSummary(on_problem=on_problem)
        started = time.perf_counter()
        pending: list[list[Article]] = [[] for _ in self.writers]
        bar = progress_bar(total, progress)

        def flush(number: int) -> None:
            if pending[number]:
                summary.merge(self.writers[number].add(pending[number], on_problem=on_problem, on_done=bar.update))
                pending[number] = []

        try:
            for item in items:
                if isinstance(item, Problem):
                    summary.report(item)
                    bar.update(1)
                    continue
                number = shard_of(item.id, len(self.writers))
                pending[number].append(item)
                if len(pending[number]) >= ROUTE_BATCH:
                    flush(number)
            for number in range(len(self.writers)):
                flush(number)
        finally:
            close_progress_bar(bar)
            summary.seconds = time.perf_counter() - started
        return summary

    def remove(self, article_ids: Iterable[str]) -> tuple[list[str], list[str]]:
        """Remove articles from their shards; returns (removed ids, ids not in the index)."""
        by_shard: dict[int, list[str]] = {}
        for article_id in article_ids:
            by_shard.setdefault(shard_of(article_id, len(self.writers)), []).append(article_id)
        removed, missing = [], []
        for number, ids in by_shard.items():
            gone, absent = self.writers[number].remove(ids)
            removed += gone
            missing += absent
        return removed, missing

    def counts(self) -> dict:
        totals = {"articles": 0, "passages": 0, "vectors": 0}
        for writer in self.writers:
            for key, value in writer.counts().items():
                totals[key] += value
        return totals

    def close(self) -> None:
        """Save every shard (FAISS layout by the total size) and the top manifest; release the locks."""
        if not self.writers:
            return
        try:
            total = sum(writer.vectors.count for writer in self.writers)
            kind = vectors.choose_index_type(self.index_type, total)
            trained = None
            if kind == "ivf-sq8" and any(w._rebuild or not any(s.kind == kind for s in w.vectors.segments)
                                         for w in self.writers):
                trained = (TRAINED, self._train_shared_ivf(total))
            for writer in self.writers:
                writer.save(kind, trained)
            first = self.writers[0].manifest
            self.manifest.update(format_version=store.FORMAT_VERSION, updated=_now(), counts=self.counts(),
                                 faiss={"index_type": self.index_type, "description": first["faiss"]["description"],
                                        "trained": TRAINED if first["faiss"].get("trained") else None})
            store.write_manifest(self.dir, self.manifest)
        finally:
            self._close_writers()
            self._lock.__exit__(None, None, None)

    def _close_writers(self) -> None:
        for writer in self.writers:
            writer._dirty = False  # saved above, or not to be saved after a failure
            writer.close()
        self.writers = []

    def _train_shared_ivf(self, total: int):
        """Train one IVF on vectors drawn from every shard in proportion to its size, and keep it
        beside the shards (a shard rebuilt later copies it instead of training its own)."""
        samples = []
        for writer in self.writers:
            _, stored = vectors.stored_vectors(writer.conn, writer.manifest["dimension"])
            share = max(1, TRAIN_SAMPLE * len(stored) // max(total, 1))
            if len(stored) > share:
                stored = stored[np.random.default_rng(0).choice(len(stored), share, replace=False)]
            samples.append(stored)
        trained = vectors.train_ivf(self.writers[0].manifest["dimension"], np.concatenate(samples), total)
        vectors.write_index(self.dir / TRAINED, trained)
        return trained
