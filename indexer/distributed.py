"""Indexing on a Ray cluster: read → clean + chunk → embed as a Ray Data pipeline, then the index
directory is written exactly as a local run writes it.

    summary = index_with_ray(["archive/"], writer, address="ray://head:10001")

Stages (each row carries its input position: file number, record number):
  1. read      one task per file (the file readers of indexer.inputs); articles and problems
  2. prepare   tasks: skip articles whose content hash the index holds already, clean, chunk
  3. embed     `map_batches` over a pool of actors, each loading the model once; sentence vectors
               for highlighting are pooled there too, so only vectors leave the actor
  4. stage     rows written as Parquet files (passages + vectors) under `staging`: on a cluster a
               shared path or bucket, the intermediate shards of the run
  5. write     the driver reads the staged rows back in input order and hands them to the index's
               writer (`IndexWriter` or `ShardedWriter`), which writes them as it writes its own
               embeddings: same articles, passages, offsets, chunk ids and duplicate groups as a
               local run; vectors equal within float tolerance (other batches, other padding).

The driver holds the index's write lock for the whole run. Workers need this package and the
model installed (a container image, or `pip install article-search[ray]` on every node).
"""

from __future__ import annotations

import pickle
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from . import catalog
from .extras import import_ray
from .inputs import Problem, read_path, walk_paths
from .batches import IndexSummary, embed_articles, pool_sentences, prepare_article

# Articles per embed call in an actor: a few hundred passages, like the local writer's batches.
EMBED_BATCH = 64
# Staged rows read back per block while writing; bounds the driver's memory, not its speed.
WRITE_BATCH = 256


def _read(row: dict) -> list[dict]:
    items = read_path(Path(row["path"]))
    return [{"file": row["file"], "record": number, "payload": pickle.dumps(item)}
            for number, item in enumerate(items)]


class _Chunkers:
    """One chunker per worker process and model: a tokenizer load per task would cost more than the task."""

    cache: dict = {}

    @classmethod
    def get(cls, model_location: str, settings: dict):
        key = (model_location, tuple(sorted(settings.items())))
        if key not in cls.cache:
            from transformers import AutoTokenizer

            from .chunking import Chunker

            tokenizer = AutoTokenizer.from_pretrained(model_location)
            cls.cache[key] = Chunker(tokenizer, settings["max_tokens"], settings["overlap_sentences"],
                                     settings["title_tokens"])
        return cls.cache[key]


def _prepare(batch: dict, model_location: str, chunker_settings: dict, max_article_chars: int, known_ref) -> dict:
    import ray

    known = ray.get(known_ref)  # content hash of every article already indexed
    chunker = _Chunkers.get(model_location, chunker_settings)
    payloads = []
    for payload in batch["payload"]:
        item = pickle.loads(payload)
        if not isinstance(item, Problem) and known.get(item.id) != item.content_hash():
            item = prepare_article(item, chunker, max_article_chars, item.id in known)
        payloads.append(pickle.dumps(item))
    return {"file": batch["file"], "record": batch["record"], "payload": payloads}


class _Embedder:
    """An actor of the embed stage: loads the model once, embeds prepared articles in batches."""

    def __init__(self, model_location: str, backend: str, chunker_settings: dict, threads: int):
        import torch

        from .models import load_encoder

        torch.set_num_threads(threads)
        self.encoder = load_encoder(model_location, backend)
        self.chunker = _Chunkers.get(model_location, chunker_settings)

    def __call__(self, batch: dict) -> dict:
        from .batches import PreparedArticle

        started = time.perf_counter()
        items = [pickle.loads(payload) for payload in batch["payload"]]
        prepared = [item for item in items if isinstance(item, PreparedArticle)]
        embed_articles(self.encoder, self.chunker, prepared)
        for p in prepared:
            pool_sentences(self.encoder.tokenizer, p)
        # The actor's busy time rides on the batch's first row: summed by the driver, it gives the
        # rate of one actor, which is what a cluster multiplies.
        busy = [time.perf_counter() - started] + [0.0] * (len(items) - 1)
        return {"file": batch["file"], "record": batch["record"], "payload": [pickle.dumps(i) for i in items],
                "embed_seconds": busy}


def _known_hashes(writer) -> dict[str, str]:
    writers = getattr(writer, "writers", [writer])
    known: dict[str, str] = {}
    for shard in writers:
        known.update(shard.conn.execute(catalog.CONTENT_HASHES).fetchall())
    return known


def index_with_ray(paths: list[str | Path], writer, *, address: str | None = None, actors: int | None = None,
                   staging: str | Path | None = None, progress: bool = False,
                   on_problem: Callable[[Problem], None] | None = None) -> IndexSummary:
    """Embed the articles of `paths` on Ray and write them with `writer` (an open IndexWriter or
    ShardedWriter, whose model, backend and chunker settings the workers use). `address` is a
    running cluster's (default: start a local Ray instance); `actors` embed in parallel (default:
    one per CPU of the cluster); the intermediate Parquet shards go into a folder of the run's own
    under `staging` (default: the index directory), removed when the run ends. `on_problem` sees
    each problem as the writer meets it (see `IndexSummary.report`)."""
    started = time.perf_counter()
    ray = import_ray()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    connected = time.perf_counter()
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = progress
    cpus = int(ray.cluster_resources().get("CPU", 1))
    actors = actors or max(1, cpus)
    # Ray's CPUs are scheduling tokens; the actors' threads are set apart (`threads`). One CPU's
    # worth is left to the read, repartition and prepare tasks (light beside the model), which
    # would otherwise wait forever behind actors that hold every CPU and wait for their input.
    actor_cpus = max(0.1, min(1.0, (cpus - 1) / actors)) if cpus > 1 else 0.5
    first = getattr(writer, "writers", [writer])[0]
    model, settings = first.encoder.location, first.chunker.settings()
    backend = first.encoder.backend
    # A folder of this run's own: `staging` may be shared (other runs, other files), and only what
    # this run created is removed, whether it succeeds or fails (a rerun starts afresh anyway).
    parent = Path(staging) if staging else Path(writer.dir)
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".ray-staging-", dir=parent))
    try:
        items = [{"file": n, "path": str(path)} for n, path in enumerate(walk_paths(paths))]
        known_ref = ray.put(_known_hashes(writer))
        dataset = (ray.data.from_items(items, override_num_blocks=max(1, min(len(items), 4 * cpus)))
                   .flat_map(_read, num_cpus=0.25)
                   # One big JSONL file is one block: split it, or a single actor would get all the work.
                   .repartition(target_num_rows_per_block=EMBED_BATCH)
                   .map_batches(_prepare, batch_size=EMBED_BATCH, num_cpus=0.25,
                                fn_kwargs={"model_location": model, "chunker_settings": settings,
                                           "max_article_chars": first.max_article_chars, "known_ref": known_ref})
                   .map_batches(_Embedder, batch_size=EMBED_BATCH, num_cpus=actor_cpus,
                                compute=ray.data.ActorPoolStrategy(size=actors),
                                fn_constructor_kwargs={"model_location": model, "backend": backend,
                                                       "chunker_settings": settings,
                                                       "threads": max(1, round(cpus / actors))}))
        dataset.write_parquet(str(staging))
        embedded = time.perf_counter()

        staged = ray.data.read_parquet(str(staging)).sort(["file", "record"])

        actor_seconds = 0.0

        def in_order():
            nonlocal actor_seconds
            for batch in staged.iter_batches(batch_size=WRITE_BATCH, batch_format="pyarrow"):
                actor_seconds += sum(batch.column("embed_seconds").to_pylist())
                for payload in batch.column("payload").to_pylist():
                    yield pickle.loads(payload)

        summary = writer.add(in_order(), progress=progress, on_problem=on_problem)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    finished = time.perf_counter()
    summary.seconds = finished - started
    summary.phases = {"ray start": connected - started, "read, chunk, embed, stage": embedded - connected,
                      "sort and write": finished - embedded, "actor-seconds embedding": actor_seconds}
    return summary
