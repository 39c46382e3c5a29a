"""`LiveIndex`: the server's view of an index directory that may change under it.

Readers get `live.searcher`, an immutable snapshot (a `Searcher` over one saved generation).
When the directory moves to a new generation, through this server's own writes or an
`article-search index` run beside it, a new `Searcher` is opened and swapped in with one
assignment, so a request sees either the old state or the new one, never a mixture.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from indexer import store
from indexer.article import Article
from indexer.embedding import Encoder
from indexer.sharding import open_writer
from indexer.writer import IndexSummary, IndexWriter

from .searcher import Searcher
from .sharded import open_searcher

log = logging.getLogger("article_search")


class LiveIndex:
    def __init__(self, index_dir: str | Path, encoder: Encoder | None = None, *, opener=None, **searcher_options):
        """`opener`, when given, opens each generation instead of `open_searcher` (a remote
        searcher, see search_api.ray_serve); `searcher_options` are open_searcher's."""
        self.dir = Path(index_dir)
        self._opener = opener
        self.searcher: Searcher = opener() if opener else open_searcher(self.dir, encoder=encoder, **searcher_options)
        # Later searchers share this one's encoder and re-ranker instead of loading them again.
        searcher_options.pop("backend", None)
        if searcher_options.get("reranker") is not None:
            searcher_options["reranker"] = self.searcher.reranker
        self.searcher_options = searcher_options
        self.encoder = self.searcher.encoder
        self._reload_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._seen = self._manifest_stamp()

    def _manifest_stamp(self) -> tuple[int, int] | None:
        try:
            stat = store.manifest_path(self.dir).stat()
        except FileNotFoundError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def refresh(self) -> bool:
        """Open the directory's new generation if the manifest changed; True when it swapped."""
        stamp = self._manifest_stamp()
        if stamp == self._seen or stamp is None:
            return False
        with self._reload_lock:
            if stamp == self._seen:
                return False
            old = self.searcher.generation
            fresh = self._opener() if self._opener else \
                open_searcher(self.dir, encoder=self.encoder, **self.searcher_options)
            self.searcher, self._seen = fresh, stamp
        if fresh.generation != old:
            log.info("index %s changed on disk: generation %s -> %s, %d vectors; now serving it",
                     self.dir, old, fresh.generation, fresh.vector_count)
        return True

    def _writer(self) -> IndexWriter:
        """A writer for one operation (a ShardedWriter for a sharded index); raises
        `store.IndexLocked` while another process writes."""
        writer = open_writer(self.dir, encoder=self.encoder)
        self.encoder = writer.encoder  # a remote searcher has none here: load the model once, keep it
        return writer

    def add(self, articles: list[Article]) -> IndexSummary:
        """Index `articles`; they are searchable when this returns."""
        with self._write_lock, self._writer() as writer:
            summary = writer.add(articles)
        self.refresh()
        return summary

    def remove(self, article_id: str) -> bool:
        """Remove one article; False when it was not in the index."""
        with self._write_lock, self._writer() as writer:
            removed, _ = writer.remove([article_id])
        self.refresh()
        return bool(removed)
