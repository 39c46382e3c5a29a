"""`LiveIndex`: the server's view of an index directory that may change under it.

Readers take `with live.reading() as searcher:`, a `Searcher` over one snapshot of the index
(indexer.store.Snapshot): rows, vectors and lexical index of one generation, from the first byte
of a response to the last. The block holds a read transaction of that generation, and only the
block: between requests no transaction is held, so the writer's checkpoints keep the WAL short. When the directory moves to a new generation, through this server's
own writes or an `article-search index` run beside it (each committed batch is one), a new
`Searcher` is opened, borrowing the vector segments the two generations share, and swapped in with
one assignment between requests; the old one is closed as soon as the last request reading it is
done.

A server that takes writes (`writable`) loads its write model at start, and merges vector segments
on threads of its own (indexer.merging): a POST or DELETE writes its article and returns, and no
request waits for a merge or a model load.

A server opens each vector segment with a check of its size and of a sample of its bytes, and each
lexical file with a check of its footer (indexer.checksums), so that its start costs the same
whatever the archive's size; a background thread then reads every byte of each file it opened
against its checksum. A file that fails is never searched again: a search that needs it (dense or
hybrid for a segment; lexical, hybrid or filtered for a lexical file) answers 503 naming
`article-search index --repair`, and a new generation holding it is not opened
(docs/reliability.md, "Checksums cheap at a server's open").
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path

from indexer import store
from indexer.models import Encoder, load_encoder
from indexer.writing import Article, IndexSummary, IndexWriter, mergers, open_writer

from .searcher import Searcher
from .stories import assign_stories, keeps_stories

log = logging.getLogger("article_search")
# Times a request opens the newest generation when the database moves on again before it pins it.
PIN_ATTEMPTS = 5


class LiveIndex:
    def __init__(self, index_dir: str | Path, encoder: Encoder | None = None, *, opener=None, writable: bool = False,
                 write_encoder: Encoder | None = None, **searcher_options):
        """`opener`, when given, opens each generation instead of a `Searcher` of `index_dir` (a
        remote searcher, see search_api.ray_serve); `searcher_options` are Searcher's. With
        `writable`, the write model (`write_encoder`, else the index's own model loaded now) and
        the merge threads start here; call `close` when done."""
        self.dir = Path(index_dir)
        self._opener = opener
        # Not held: each request pins its generation with a read transaction of its own (`reading`).
        searcher_options["held"] = False
        self.searcher: Searcher = opener() if opener else Searcher(self.dir, encoder=encoder, **searcher_options)
        # Later searchers share this one's encoder and re-ranker instead of loading them again.
        searcher_options.pop("backend", None)
        if searcher_options.get("reranker") is not None:
            searcher_options["reranker"] = self.searcher.reranker
        self.searcher_options = searcher_options
        self.encoder = self.searcher.encoder
        # Writes embed with a model of their own: with the query encoder (one encode at a time) a
        # large POST held every search for its whole batch. Loaded here, not at the first write:
        # that took 4-8 s on the request path (and timed out a client's 5 s default once).
        model = self.searcher.manifest["model"]
        self._write_encoder = (write_encoder or load_encoder(model["name"], model.get("backend", "torch"))) \
            if writable else None
        self._reload_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._seen = self.searcher.generation
        self._readers_lock = threading.Lock()
        self._readers: dict[Searcher, int] = {}  # requests reading each searcher now
        self.mergers = mergers(self.dir, on_merged=self._merged) if writable else []
        self._wake_mergers()  # merges a previous run left to do
        self._closing = False
        self._check_lock = threading.Lock()  # a swap's wake and the end of a pass, one at a time
        self._check_wake = threading.Event()
        self.segments_checked = threading.Event()  # set when the background check has read what is open
        self._reported: set[str] = set()
        self._checker = threading.Thread(target=self._check_segments, name="segment-check", daemon=True)
        self._checker.start()
        self._check_wake.set()

    @contextmanager
    def reading(self) -> Iterator[Searcher]:
        """The searcher of the generation the database is at when the block starts, pinned to it
        for the block by a read transaction that ends with the block (indexer.store.Snapshot); a
        searcher replaced meanwhile is closed when its last reader leaves."""
        with ExitStack() as stack:
            yield self._pinned(stack)

    def _pinned(self, stack: ExitStack) -> Searcher:
        """The current searcher pinned until `stack` closes, after opening a newer generation
        as often as the database moves on while it tries."""
        for _ in range(PIN_ATTEMPTS):
            searcher = self._enter()
            try:
                pin = searcher.pinned() if hasattr(searcher, "pinned") else nullcontext(searcher)
                pin.__enter__()
            except store.SnapshotMoved:
                self._leave(searcher)
                self.refresh()
                continue
            except BaseException:
                self._leave(searcher)
                raise
            stack.callback(self._leave, searcher)
            stack.push(pin)
            return searcher
        raise store.SnapshotMoved(f"{self.dir} moved on {PIN_ATTEMPTS} times while this request began; try again")

    def _enter(self) -> Searcher:
        with self._readers_lock:
            searcher = self.searcher
            self._readers[searcher] = self._readers.get(searcher, 0) + 1
        return searcher

    def _leave(self, searcher: Searcher) -> None:
        with self._readers_lock:
            self._readers[searcher] -= 1
            retired = self._readers[searcher] == 0 and searcher is not self.searcher
            if self._readers[searcher] == 0:
                del self._readers[searcher]
        if retired:
            searcher.close()

    def _swap(self, fresh: Searcher) -> None:
        """Serve `fresh` from now on; close the previous searcher unless a request still reads it."""
        with self._readers_lock:
            old, self.searcher = self.searcher, fresh
            idle = old not in self._readers
        if idle:
            old.close()
        with self._check_lock:  # its new segments were opened with a sampled check
            self.segments_checked.clear()
            self._check_wake.set()

    def _check_segments(self) -> None:
        """The background check: every byte of each vector segment and lexical file of the current
        searcher that this process has not verified yet, whenever a new searcher is swapped in. A
        damaged file is logged once and refused by the searches that need it from then on."""
        while True:
            self._check_wake.wait()
            self._check_wake.clear()
            if self._closing:
                return
            searcher = self._enter()  # not closed while its files are read
            try:
                verify = getattr(searcher, "verify", None)  # a remote searcher checks its own
                for problem in verify() if verify is not None else []:
                    if problem not in self._reported:
                        self._reported.add(problem)
                        log.error("%s: searches that need it are refused until it is rebuilt with: "
                                  "article-search index --repair --index %s", problem, self.dir)
            except Exception:  # a file deleted meanwhile by another process: the next swap checks again
                log.exception("the background check of %s's files failed", self.dir)
            finally:
                self._leave(searcher)
            with self._check_lock:
                if not self._check_wake.is_set():
                    self.segments_checked.set()

    def _merged(self) -> None:
        """A merge published a new layout (same generation): the next `refresh` opens it, so the
        segments it replaced are let go."""
        self._seen = None

    def _wake_mergers(self) -> None:
        for merger in self.mergers:
            merger.wake()

    def close(self) -> None:
        """Stop the merge threads (after the merge under way) and the background check (after
        the segment it reads)."""
        for merger in self.mergers:
            merger.close()
        self.mergers = []
        self._closing = True
        self._check_wake.set()
        self._checker.join()

    def refresh(self) -> bool:
        """Open the directory's newest generation if it moved on; True when it swapped."""
        current = store.current_generation(self.dir)
        if current == self._seen:
            return False
        with self._reload_lock:
            if current == self._seen:
                return False
            old = self.searcher.generation
            fresh = self._opener() if self._opener else \
                Searcher(self.dir, encoder=self.encoder, previous=self.searcher, **self.searcher_options)
            self._swap(fresh)
            self._seen = current
        if fresh.generation != old:
            log.info("index %s changed on disk: generation %s -> %s, %d vectors; now serving it",
                     self.dir, old, fresh.generation, fresh.vector_count)
        return True

    def _writer(self) -> IndexWriter:
        """A writer for one operation (a ShardedWriter for a sharded index), once another process
        writing lets it (see store.write_lock)."""
        # Merges are left to this server's merge threads, off the request path. The write lock is
        # taken to publish, not while the article is embedded (IndexWriter's `interleave`).
        writer = open_writer(self.dir, encoder=self._write_encoder, merges=not self.mergers, interleave=True)
        self._write_encoder = writer.encoder  # the index's own model, loaded once, kept for later writes
        return writer

    @contextmanager
    def _writing(self) -> Iterator[IndexWriter]:
        """A writer, once this server's earlier writes and other processes' are done: each waited
        for up to store.WRITE_LOCK_TIMEOUT, then `store.IndexLocked`."""
        if not self._write_lock.acquire(timeout=store.WRITE_LOCK_TIMEOUT):
            raise store.IndexLocked(f"this server's earlier writes to {self.dir} took longer than the "
                                    f"{store.WRITE_LOCK_TIMEOUT:g} s this write waited; try again when they are done")
        try:
            with self._writer() as writer:
                yield writer
        finally:
            self._write_lock.release()

    def add(self, articles: list[Article]) -> IndexSummary:
        """Index `articles`; they are searchable, each in its story, when this returns."""
        with self._writing() as writer:
            summary = writer.add(articles)
            if summary.written and keeps_stories(writer):
                self.refresh()  # the searcher that sees them decides their stories
                with self.reading() as searcher:
                    assign_stories(searcher.reader, writer, summary.written)
        self._wake_mergers()
        self.refresh()
        return summary

    def remove(self, article_id: str) -> bool:
        """Remove one article; False when it was not in the index."""
        with self._writing() as writer:
            removed, _ = writer.remove([article_id])
        self._wake_mergers()
        self.refresh()
        return bool(removed)
