"""Serving a sharded index with Ray Serve: one deployment per shard (with replicas) and a router
deployment that ranks over a `ShardedReader` of them, as a `Searcher` of a sharded index does in one process.

    handle = deploy("index", replicas=2)          # on the Ray cluster of ray.init()
    searcher = RemoteSearcher(handle, "index")    # what `article-search serve --ray` answers from
    searcher.search("OPEC output quotas", k=5)

The HTTP API stays the FastAPI app of `search_api.app`, which calls the router through its
handle; writes still go to the index directory (through its file lock) and every replica, router
included, opens the new generation when the database it serves moves on. Each shard replica opens
its shard read-only, so shards may live on different nodes as long as each node sees its shard's
directory (a shared file system, or a copy per node).
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from indexer import store

from .live import LiveIndex
from .schemas import SearchResponse

APP_NAME = "article-search"
RELOAD_CHECK_SECONDS = 1.0


class _Followed:
    """An index opened through `LiveIndex`, re-checked for a new generation at most once a second
    (a replica has no event loop of ours to run a watcher in). Calls go to its `Searcher`, or with
    `reader` to the searcher's index reader (a shard answers the reader's questions)."""

    def __init__(self, opener, reader: bool = False):
        self._opener = opener
        self._reader = reader
        self.live = opener()
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    def call(self, method: str, *args, **kwargs):
        if time.monotonic() - self._checked > RELOAD_CHECK_SECONDS:
            with self._lock:
                self._checked = time.monotonic()
                self.live.refresh()
        with self.live.reading() as searcher:
            member = getattr(searcher.reader if self._reader else searcher, method)
            return member(*args, **kwargs) if callable(member) else member


def _shard_deployment():
    from ray import serve

    @serve.deployment
    class Shard:
        """One shard of the index, answering an index reader's questions (search_api.index_readers)."""

        def __init__(self, shard_dir: str, backend: str | None):
            self.index = _Followed(lambda: LiveIndex(shard_dir, backend=backend), reader=True)

        def call(self, method: str, *args, **kwargs):
            return self.index.call(method, *args, **kwargs)

    return Shard


def _router_deployment():
    from ray import serve

    from .searcher import Searcher
    from .sharded import ShardedReader

    @serve.deployment
    class Router:
        """Embeds the query and ranks over the shard deployments (a `ShardedReader` of them)."""

        def __init__(self, index_dir: str, shards: list, backend: str | None):
            remote = [_RemoteShard(handle) for handle in shards]
            encoder = {}

            def open_sharded():
                reader = ShardedReader(index_dir, store.read_manifest(index_dir), remote)
                searcher = Searcher(reader=reader, backend=backend, encoder=encoder.get("model"))
                encoder["model"] = searcher.encoder  # loaded once, shared by later generations
                return searcher

            self.index = _Followed(lambda: LiveIndex(index_dir, opener=open_sharded))

        def call(self, method: str, *args, **kwargs):
            return self.index.call(method, *args, **kwargs)

    return Router


class _RemoteShard:
    """A shard deployment's handle with the methods of an index reader (search_api.index_readers)."""

    def __init__(self, handle):
        self._handle = handle

    def __getattr__(self, method: str):
        if method.startswith("_"):
            raise AttributeError(method)
        return lambda *args, **kwargs: self._handle.call.remote(method, *args, **kwargs).result()

    @contextmanager
    def pinned(self):
        """Nothing to pin here: a replica answers each call from its own current generation."""
        yield self

    def close(self) -> None:
        """Nothing to close here: each shard replica closes its own searchers."""


class RemoteSearcher:
    """The router deployment behind the interface the HTTP app uses (`search`, `suggest`, `related`,
    `story`, `article`, `stats`, `generation`, `vector_count`, `manifest`)."""

    encoder = None  # queries are embedded by the router; a write loads its own model

    def __init__(self, handle, index_dir: str | Path):
        self._handle = handle
        self.manifest = store.read_manifest(index_dir)

    def _call(self, method: str, *args, **kwargs):
        return self._handle.call.remote(method, *args, **kwargs).result()

    def search(self, *args, **kwargs) -> SearchResponse:
        return self._call("search", *args, **kwargs)

    def related(self, article_id: str, k: int = 10, scope: str = "story"):
        return self._call("related", article_id, k, scope)

    def story(self, article_id: str) -> dict:
        return self._call("story", article_id)

    def suggest(self, text: str, k: int = 8) -> list[dict]:
        return self._call("suggest", text, k)

    def article(self, article_id: str):
        return self._call("article", article_id)

    def stats(self) -> dict:
        return self._call("stats")

    def close(self) -> None:
        """Nothing to close here: the router and shard replicas close their own searchers."""

    @property
    def generation(self) -> int:
        return self._call("generation")

    @property
    def vector_count(self) -> int:
        return self._call("vector_count")


def deploy(index_dir: str | Path, *, replicas: int = 1, router_replicas: int = 1, backend: str | None = None,
           replica_cpus: float = 0.25):
    """Deploy the shards and the router of a sharded index on the connected Ray cluster (Ray Serve
    application `article-search`); returns the router's handle. `replicas` per shard, each
    reserving `replica_cpus` of Ray's CPUs (all replicas must fit, or the deployment waits)."""
    import ray
    from ray import serve

    index_dir = Path(index_dir).resolve()
    manifest = store.read_manifest(index_dir)
    if "shards" not in manifest:
        raise store.StoreError(f"{index_dir} is not a sharded index; --ray serves the shards of an index built "
                               "with --shards N")
    needed = (len(manifest["shards"]["directories"]) * replicas + router_replicas) * replica_cpus
    available = ray.cluster_resources().get("CPU", 0)
    if needed > available:
        raise ValueError(f"{needed:g} CPUs are needed for the replicas ({replica_cpus:g} each) but the Ray cluster "
                         f"has {available:g}; lower --ray-replicas or --ray-replica-cpus")
    options = {"num_replicas": replicas, "ray_actor_options": {"num_cpus": replica_cpus}}
    shard = _shard_deployment()
    shards = [shard.options(name=f"shard-{number}", **options).bind(str(index_dir / name), backend)
              for number, name in enumerate(manifest["shards"]["directories"])]
    router = _router_deployment().options(name="router", num_replicas=router_replicas,
                                          ray_actor_options={"num_cpus": replica_cpus})
    # The FastAPI app is the only ingress and calls the router through its handle: Serve's own
    # HTTP proxy would only take a port (8000 by default, where the app itself may listen).
    serve.start(proxy_location="Disabled")
    return serve.run(router.bind(str(index_dir), shards, backend), name=APP_NAME, route_prefix=None)


def connect(address: str | None) -> None:
    """Join the Ray cluster at `address`, or start a local instance with this machine's CPUs."""
    from indexer.extras import import_ray

    ray = import_ray()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False,
                 num_cpus=None if address else os.cpu_count())
