"""Vector merges for an archive written to for months: a size-tiered policy that never rewrites the
archive for a one-article write, merges off the request path, and stats that cost no scan."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from indexer import merge_policy, store, vectors
from indexer.article import Article
from indexer.writer import IndexWriter
from search_api.live import LiveIndex
from search_api.searcher import Searcher

from conftest import LLAMA


def note(number: int) -> Article:
    """A one-passage article of its own: a one-article POST."""
    return Article(f"note-{number}", f"Village note {number}",
                   f"The council of village number {number} met on a market day and voted on {number} small matters, "
                   f"among them a new roof for the school and a bench beside the well.")


def segment(name: str, count: int) -> vectors.Segment:
    return vectors.Segment(name, 0, 0, count, "flat")


def test_the_optimized_segment_joins_no_merge_of_segments_many_times_smaller():
    # After --optimize (212 passages), 9 one-article writes: the old policy merged the 10.
    layout = [segment("optimized", 212)] + [segment(f"small-{n}", 3) for n in range(9)]
    assert merge_policy.plan_merge(layout, {}) is None
    # Ten small ones merge with each other, and the optimized segment stays out of it.
    assert merge_policy.plan_merge(layout + [segment("small-9", 2)], {}) == (1, 11)
    # A segment over half the largest merge joins none, however many small ones gather beside it.
    large = [segment("large", merge_policy.MAX_MERGED // 2 + 1)] + [segment(f"s{n}", 100) for n in range(40)]
    span = merge_policy.plan_merge(large, {})
    assert span is not None and span[0] >= 1
    # A segment mostly tombstones is rewritten alone.
    assert merge_policy.plan_merge(layout, {"small-4": 1}) == (5, 6)


def test_thirty_posts_after_optimize_leave_the_optimized_segment_untouched(writable_index, encoder):
    with IndexWriter(writable_index, encoder=encoder, optimize=True):
        pass
    (optimized,) = vectors.read_layout(store.connect(writable_index, readonly=True))
    live = LiveIndex(writable_index, encoder, writable=True, write_encoder=encoder)
    try:
        for number in range(30):
            live.add([note(number)])
    finally:
        live.close()
    from indexer import merging

    conn = store.connect(writable_index)
    merging.open_vector_writer(writable_index).merge()  # whatever the merge threads left to do
    layout = vectors.read_layout(conn)
    assert layout[0] == optimized and (writable_index / vectors.FOLDER / optimized.file).exists()
    assert len(layout) < 31  # the small segments did merge, among themselves
    searcher = Searcher(writable_index, encoder=encoder)
    assert searcher.vector_count == searcher.stats()["passages"]
    assert searcher.search("village number 17 market day", k=1).results[0].article_id == "note-17"


def test_a_merge_runs_while_searches_and_a_post_complete_without_waiting(writable_index, encoder, monkeypatch):
    monkeypatch.setattr(merge_policy, "MERGE_FACTOR", 3)  # three one-article writes call for a merge
    merging_now, release = threading.Event(), threading.Event()
    write_segment = vectors.VectorWriter.write_segment

    def held(self, *args, **kwargs):
        """The merge thread's first segment waits here, its vectors read, until the test lets it go."""
        if threading.current_thread().name.startswith("vector-merger") and not merging_now.is_set():
            merging_now.set()
            assert release.wait(300)
        return write_segment(self, *args, **kwargs)

    monkeypatch.setattr(vectors.VectorWriter, "write_segment", held)
    live = LiveIndex(writable_index, encoder, writable=True, write_encoder=encoder)
    work = ThreadPoolExecutor(max_workers=1)
    try:
        for number in range(3):
            live.add([note(number)])
        assert merging_now.wait(300)
        before = vectors.read_layout(store.connect(writable_index, readonly=True))
        # While the merge is held: a search, a POST and a DELETE of a passage inside the merged range.
        assert work.submit(lambda: live.searcher.search("village number 2", k=1)).result(timeout=300) \
            .results[0].article_id == "note-2"
        work.submit(live.add, [Article(LLAMA["id"], LLAMA["title"], LLAMA["text"])]).result(timeout=300)
        assert work.submit(live.remove, "note-1").result(timeout=300)
        with live.reading() as searcher:
            assert searcher.search("llamas elected to the village council", k=1).results[0].article_id == "llama-1"
        assert not release.is_set()  # all of it done with the merge still under way
        release.set()
    finally:
        release.set()
        live.close()
        work.shutdown()
    after = vectors.read_layout(store.connect(writable_index, readonly=True))
    # The three small ones became one, beside the POST's; the older segments are untouched.
    assert after[:-2] == before[:-3] and len(after) == len(before) - 1
    # note-1's passage, removed while the merge read and wrote it, is still a tombstone for the merged segment.
    searcher = Searcher(writable_index, encoder=encoder)
    assert searcher.vector_count == searcher.stats()["passages"]
    assert "note-1" not in [h.article_id for h in searcher.search("village number 1 market day", mode="dense").results]


def test_a_writing_server_loads_its_write_model_before_the_first_write(writable_index, encoder, monkeypatch):
    live = LiveIndex(writable_index, encoder, writable=True)
    try:
        def no_load(*args, **kwargs):
            raise AssertionError("a model was loaded on the request path")

        monkeypatch.setattr("indexer.writer.load_encoder", no_load)
        monkeypatch.setattr("indexer.sharding.load_encoder", no_load)
        assert live.add([note(1)]).indexed == 1
    finally:
        live.close()


def test_stats_are_read_without_a_scan_and_kept_by_the_writer(writable_index, encoder):
    with IndexWriter(writable_index, encoder=encoder) as writer:
        writer.add([note(1), note(2)])
        writer.remove(["note-2", "wn-e8d671d30811"])
    searcher = Searcher(writable_index, encoder=encoder)
    statements: list[str] = []
    searcher.reader.snapshot.read(lambda conn: conn.set_trace_callback(statements.append))  # its held transaction
    stats = searcher.stats()
    counted = sqlite3.connect(writable_index / store.DATABASE)
    assert stats["articles"] == counted.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
    assert stats["passages"] == counted.execute("SELECT COUNT(*) FROM chunks").fetchone()[0] == stats["vectors"]
    assert stats["sources"] == [r[0] for r in counted.execute(
        "SELECT DISTINCT source FROM articles WHERE source != '' ORDER BY 1")]
    plans = [" ".join(row[-1] for row in counted.execute(f"EXPLAIN QUERY PLAN {sql}")) for sql in statements]
    assert not [plan for plan in plans if any(f"SCAN {table}" in plan for table in ("articles", "chunks"))], plans
    assert searcher.stats() == stats and len(statements) <= 1  # the sources are read once per snapshot


def test_stats_leave_out_a_file_deleted_while_they_are_listed(writable_index, encoder, monkeypatch):
    """Another process's garbage collection deletes lexical files at any time: between the listing
    and the stat, or between two stats of one file."""
    folder = writable_index / store.LEXICAL
    for name in ("gone-before-stat", "gone-after-stat"):
        (folder / name).write_bytes(b"x" * 100)
    real_stat = Path.stat

    def racing_stat(self, *args, **kwargs):
        if self.name == "gone-before-stat":
            self.unlink(missing_ok=True)
        status = real_stat(self, *args, **kwargs)
        if self.name == "gone-after-stat":
            self.unlink(missing_ok=True)
        return status

    monkeypatch.setattr(Path, "stat", racing_stat)
    stats = Searcher(writable_index, encoder=encoder).stats()
    assert stats["bytes"][store.LEXICAL] > 0 and stats["bytes"][vectors.FOLDER] > 0


def test_a_merge_plan_reads_only_the_tombstones_added_since_the_last_one(tmp_path):
    """The merge thread plans after every write: it counts each segment's tombstones (a segment
    mostly tombstones is rewritten), and must not count them all again each time."""

    def publish_removals(conn, chunk_ids) -> None:  # as a removal does: tombstones, then the generation
        with conn:
            vectors.add_tombstones(conn, chunk_ids)
            conn.execute("INSERT INTO meta VALUES ('generation', '1') "
                         "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1")

    steps_of_next_plan = []
    for removed in (100, 2000):
        (tmp_path / f"removed-{removed}").mkdir()
        conn = store.connect(tmp_path / f"removed-{removed}")
        vectors.create_tombstones(conn)
        old, new = vectors.Segment("old", 1, 10_000, 10_000, "flat"), vectors.Segment("new", 10_001, 10_100, 100, "flat")
        with conn:
            vectors.write_layout(conn, [old, new])
        publish_removals(conn, list(range(1, removed + 1)))
        writer = vectors.VectorWriter(tmp_path / f"removed-{removed}", conn, 4)
        assert writer.merge_once() is None  # under the share that rewrites a segment
        publish_removals(conn, [5_000, 10_050])  # the next write removes one passage of each
        steps = [0]

        def count() -> int:
            steps[0] += 1
            return 0

        conn.set_progress_handler(count, 10)
        assert writer.merge_once() is None
        conn.set_progress_handler(None, 0)
        steps_of_next_plan.append(steps[0])
        counted = vectors.VectorWriter(tmp_path / f"removed-{removed}", conn, 4)._tombstoned([old, new])
        assert writer._tombstoned([old, new]) == counted == {"old": removed + 1, "new": 1}
    small, large = steps_of_next_plan
    # Before: every plan counted every tombstone (20 times as many in the second index).
    assert large < small * 1.5 + 20, steps_of_next_plan
