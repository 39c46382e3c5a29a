"""`Merger`: the vector merges of an index directory, run on a thread of their own.

    (merger,) = mergers("index")  # a server that takes writes (one per shard), or an IndexWriter's run
    merger.wake()                 # after each committed batch or removal
    merger.close()                # finishes the merges planned, then stops

A merge (indexer.merge_policy.plan_merge) reads its vectors in a read transaction, writes its segment
file without any lock, and takes SQLite's write lock (BEGIN IMMEDIATE) only for the moment that
publishes it. So a request or a batch commit never waits for a merge, only, at most, for that one
short transaction. A merge does not take the index's file lock (indexer.store.write_lock) either:
another process's writer may hold that for hours (an `index` run), and merges of several
processes (a CLI run's and a server's) compose, since each publishes against the layout as it is
in the database then and drops its segment when another merge got there first.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from . import store, vectors

log = logging.getLogger("article_search")


def open_vector_writer(index_dir: Path) -> vectors.VectorWriter:
    """A VectorWriter over the unsharded index directory `index_dir`, on a connection of its own,
    with the layout settings and shared IVF lists of its manifest."""
    manifest = store.read_manifest(index_dir)
    conn = store.connect(index_dir)
    vectors.create_tombstones(conn)
    shared = manifest["faiss"].get("trained")  # the IVF lists of all shards (indexer.sharding)
    return vectors.VectorWriter(index_dir, conn, manifest["dimension"], manifest["faiss"].get("index_type", "auto"),
                                vectors.read_index(index_dir / shared, mmap=False) if shared else None)


class Merger:
    """A thread that runs the merges of one unsharded index directory whenever it is woken, until
    `plan_merge` finds none, through `writer`, a VectorWriter on a connection only this thread
    uses (the Merger closes it). `on_merged()` is called after each published merge."""

    def __init__(self, writer: vectors.VectorWriter, on_merged=None):
        self.dir = writer.dir
        self.on_merged = on_merged
        self._vectors = writer
        self._wanted = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"vector-merger-{self.dir.name}", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look for merges to run: call after every committed batch or removal."""
        self._wanted.set()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            try:
                while (published := self._vectors.merge_once()) is not None:
                    if published and self.on_merged is not None:
                        self.on_merged()
                    if self._stopping:
                        break
            except Exception:  # a merge failed (disk full, a damaged file): the writes go on, the next wake retries
                log.exception("a vector merge of %s failed; it is tried again after the next write", self.dir)
            if self._stopping:
                return

    def close(self) -> None:
        """Stop after the merge under way (the rest wait for the next merger, or `index --optimize`)."""
        self._stopping = True
        self._wanted.set()
        self._thread.join()
        self._vectors.conn.close()


def mergers(index_dir: str | Path, on_merged=None) -> list[Merger]:
    """One Merger per unsharded directory of `index_dir` (each shard of a sharded index)."""
    index_dir = Path(index_dir)
    manifest = store.read_manifest(index_dir)
    names = manifest["shards"]["directories"] if "shards" in manifest else ["."]
    return [Merger(open_vector_writer(index_dir / name), on_merged) for name in names]
