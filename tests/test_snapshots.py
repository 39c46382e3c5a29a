"""Snapshots and the cost of writes (indexer.store, indexer.vectors): a reader answers from one
generation whatever the writer does meanwhile, and a one-article write touches that article's data."""

from __future__ import annotations

import hashlib
import threading

import pytest

from indexer import store, vectors
from indexer.article import Article
from indexer.writer import IndexWriter
from search_api.live import LiveIndex
from search_api.searcher import Searcher

UPDATED = "wn-e8d671d30811"   # the Magnitogorsk explosion
REMOVED = "wn-e55f7744e3c4"  # the Koszalin escape room fire
ADDED = Article("zebra-1", "Zebra stripes confuse horse flies",
                "Researchers in Somerset filmed horse flies approaching zebras and found that the stripes "
                "stop the flies from landing. Horses wearing striped coats were spared bites in the same way.")


@pytest.fixture
def index(writable_index):
    return writable_index


def _files(folder) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in folder.iterdir() if path.is_file()}


def _ids(searcher: Searcher, query: str, mode: str) -> list[str]:
    return [hit.article_id for hit in searcher.search(query, k=10, mode=mode).results]


def test_a_reader_answers_from_its_generation_while_the_writer_moves_on(index, encoder):
    old = Searcher(index, encoder=encoder)
    before_text = old.article(UPDATED)["text"]
    before = {mode: _ids(old, "apartment building explosion Magnitogorsk", mode) for mode in ("dense", "lexical", "hybrid")}
    assert all(UPDATED in ids for ids in before.values()), before
    with IndexWriter(index, encoder=encoder) as writer:
        article = old.article(UPDATED)
        writer.add([Article(UPDATED, "Magnitogorsk inquiry reopens", "An inquiry into the gas blast in the city of "
                            "Magnitogorsk reopened on Monday. Investigators said the apartment building's gas "
                            "supply had been inspected a year earlier.", article["url"], article["published"])])
        writer.remove([REMOVED])
        writer.add([ADDED])
    # The old reader still sees its generation: every mode, the article texts, the removed article.
    for mode, ids in before.items():
        assert _ids(old, "apartment building explosion Magnitogorsk", mode) == ids, mode
    assert old.article(UPDATED)["text"] == before_text
    assert old.article(REMOVED) is not None and old.article(ADDED.id) is None
    for mode in ("dense", "lexical", "hybrid"):
        hit = next(h for h in old.search("apartment building explosion Magnitogorsk", mode=mode).results
                   if h.article_id == UPDATED)
        assert all(p.text in before_text for p in hit.passages), mode
        assert ADDED.id not in _ids(old, "zebra stripes horse flies", mode)
    # A reader opened now sees the new generation, and nothing of the old one.
    new = Searcher(index, encoder=encoder)
    assert new.generation > old.generation
    assert new.article(REMOVED) is None and new.article(UPDATED)["title"] == "Magnitogorsk inquiry reopens"
    for mode in ("dense", "lexical", "hybrid"):
        assert _ids(new, "zebra stripes horse flies", mode)[0] == ADDED.id, mode
        assert REMOVED not in _ids(new, old.article(REMOVED)["title"], mode), mode
        hit = next(h for h in new.search("Magnitogorsk inquiry gas supply inspected", mode=mode).results
                   if h.article_id == UPDATED)
        assert all(p.text in new.article(UPDATED)["text"] for p in hit.passages), mode
    old.close()
    new.close()


def test_removed_passages_count_nowhere_while_the_lexical_index_still_holds_them(index, encoder):
    """Facet counts and filter counts come from the lexical index, which keeps removed passages a
    while as tombstones: a snapshot hides them there too."""
    def facet_count(searcher: Searcher) -> int:
        facets = searcher.search("escape room fire Koszalin", mode="lexical", facets=["source"]).facets
        return sum(value.count for value in facets["source"])

    before = Searcher(index, encoder=encoder)
    with IndexWriter(index, encoder=encoder) as writer:
        writer.remove([REMOVED])
    after = Searcher(index, encoder=encoder)
    assert after.reader.snapshot.rows("SELECT COUNT(*) FROM tombstones WHERE in_lexical = 1")[0][0] > 0
    assert facet_count(after) == facet_count(before) - 1
    assert after.reader.lexical_index.count() == after.stats()["passages"] < before.reader.lexical_index.count()
    assert after.reader.lexical_index.count(source="Wikinews") == after.stats()["passages"]


def test_tombstones_leave_the_engines_once_older_than_the_retention(index, encoder, monkeypatch):
    with IndexWriter(index, encoder=encoder) as writer:
        writer.remove([UPDATED])
    conn = store.connect(index, readonly=True)
    assert conn.execute("SELECT COUNT(*) FROM tombstones WHERE in_lexical = 1").fetchone()[0] > 0
    monkeypatch.setattr(vectors, "RETENTION_SECONDS", 0.0)
    monkeypatch.setattr("indexer.writer.RETENTION_SECONDS", 0.0)
    with IndexWriter(index, encoder=encoder, optimize=True):
        pass
    assert conn.execute("SELECT COUNT(*) FROM tombstones").fetchone()[0] == 0
    searcher = Searcher(index, encoder=encoder)
    assert searcher.reader.lexical_index.passages == searcher.stats()["passages"] == searcher.vector_count
    assert UPDATED not in _ids(searcher, "apartment building explosion Magnitogorsk", "hybrid")


def test_a_one_article_write_touches_only_that_articles_data(index, encoder):
    with IndexWriter(index, encoder=encoder, optimize=True):
        pass
    folder = index / vectors.FOLDER
    (only,) = Searcher(index, encoder=encoder).reader.vectors.segments
    segments_before = {only.file: _files(folder)[only.file]}
    lexical_before = {name: digest for name, digest in _files(index / store.LEXICAL).items()
                      if not name.endswith(".json") and name != ".tantivy-meta.lock"}
    with IndexWriter(index, encoder=encoder) as writer:
        summary = writer.add([ADDED])
    segments_after = _files(folder)
    # The index's vectors are untouched; the article's passages went to one new small segment.
    assert {name: segments_after[name] for name in segments_before} == segments_before
    layout = Searcher(index, encoder=encoder).reader.vectors.segments
    assert [s.file for s in layout][0] == only.file and len(layout) == 2
    new, segment = layout[1].file, layout[1]
    assert segment.count == summary.chunks
    assert (folder / new).stat().st_size < 0.05 * sum((folder / name).stat().st_size for name in segments_before)
    lexical_after = _files(index / store.LEXICAL)
    assert all(lexical_after.get(name) == digest for name, digest in lexical_before.items()
               if name in lexical_after)  # tantivy's segments are immutable; a background merge may retire some


def test_a_server_switches_generations_between_requests_during_a_long_run(index, encoder):
    """Queries run while an `index` run commits batch after batch: each answer comes from one
    generation, so an article being re-indexed never drops out of one mode and stays in another."""
    live = LiveIndex(index, encoder)
    start = live.searcher.generation
    ids = [row[0] for row in live.searcher.reader.snapshot.rows("SELECT id FROM articles ORDER BY id")]
    articles = [live.searcher.article(article_id) for article_id in ids]
    done = threading.Event()
    failures: list[str] = []

    def run():
        try:
            with IndexWriter(index, encoder=encoder, commit_chunks=1) as writer:
                writer.add([Article(a["id"], a["title"], a["text"] + " A correction was appended later.", a["url"],
                                    a["published"]) for a in articles])
        finally:
            done.set()

    writer = threading.Thread(target=run)
    writer.start()
    seen = set()
    checked = 0
    while not done.is_set() or not seen:
        live.refresh()
        article = articles[checked % len(articles)]
        checked += 1
        with live.reading() as searcher:
            seen.add(searcher.generation)
            found = {mode: article["id"] in _ids(searcher, article["title"], mode) for mode in ("dense", "lexical")}
            if not all(found.values()):
                failures.append(f"generation {searcher.generation}: {article['id']} found {found}")
    writer.join()
    assert not failures, failures[:5]
    assert len(seen) > 1 and max(seen) > start


def test_segments_stay_in_id_order_whatever_order_they_are_written_in(tmp_path):
    """Merges take neighbours in the layout as neighbours in chunk ids: a segment rewritten in the
    middle (shedding tombstones) must not move to the end."""
    import numpy as np

    conn = store.connect(tmp_path)
    conn.executescript(vectors.TOMBSTONES_SCHEMA)
    writer = vectors.VectorWriter(tmp_path, conn, 4)
    rng = np.random.default_rng(0)

    def segment(first, last):
        ids = np.arange(first, last + 1, dtype=np.int64)
        return writer.write_segment(ids, rng.random((len(ids), 4), dtype=np.float32))

    for first in (1, 11, 21):
        with conn:
            writer.publish(segment(first, first + 9))
    middle = writer.segments[1]
    with conn:
        writer.publish(segment(13, 19), [middle])  # the middle one, rewritten smaller
    assert [(s.first, s.last) for s in writer.segments] == [(1, 10), (13, 19), (21, 30)]
    assert [(s.first, s.last) for s in vectors.read_layout(conn)] == [(1, 10), (13, 19), (21, 30)]


def test_a_long_run_purges_lexical_tombstones_on_the_retention_clock(index, encoder, monkeypatch):
    """Not only at the writer's close: a run of many batches (a re-clean, a long update run)
    purges what it removed once the retention has passed, between its batches."""
    monkeypatch.setattr(vectors, "RETENTION_SECONDS", 0.0)
    monkeypatch.setattr("indexer.writer.RETENTION_SECONDS", 0.0)
    writer = IndexWriter(index, encoder=encoder)
    try:
        writer.remove([UPDATED])
        writer.add([ADDED])  # the next batch: the removed passages are past the retention by now
        assert writer.conn.execute("SELECT COUNT(*) FROM tombstones WHERE in_lexical = 1").fetchone()[0] == 0
    finally:
        writer.close()

def test_a_server_holds_a_read_transaction_only_for_a_request_so_the_wal_empties(index, encoder):
    """A request keeps its generation while the writer moves on, but between requests nothing
    holds the WAL: each write's closing checkpoint empties it, however many writes a server sees."""
    live = LiveIndex(index, encoder)
    wal = index / (store.DATABASE + "-wal")
    with live.reading() as searcher:
        with IndexWriter(index, encoder=encoder) as writer:
            writer.remove([REMOVED])
        assert searcher.article(REMOVED) is not None  # the request's generation, to its end
        assert REMOVED in _ids(searcher, "escape room fire Koszalin", "hybrid")
    for number in range(3):
        live.add([Article(f"{ADDED.id}-{number}", f"{ADDED.title} {number}", ADDED.text)])
        with live.reading() as searcher:
            assert searcher.article(REMOVED) is None and searcher.article(f"{ADDED.id}-{number}") is not None
        assert not wal.exists() or wal.stat().st_size == 0, wal.stat().st_size


def test_a_new_generation_reads_the_tombstones_it_added_not_every_earlier_one(index, encoder, monkeypatch):
    """Deletes cost what they delete (issue 20): a snapshot opened after one DELETE, from the
    snapshot before it, reads that article's tombstones, not the archive's earlier ones; and it
    answers exactly as a snapshot opened from nothing."""
    import sqlite3

    conn = store.connect(index, readonly=True)
    ids = [row[0] for row in conn.execute("SELECT id FROM articles ORDER BY id")]
    conn.close()
    with IndexWriter(index, encoder=encoder) as writer:
        writer.remove(ids[:30])
    old = Searcher(index, encoder=encoder)
    conn = store.connect(index, readonly=True)
    earlier = conn.execute("SELECT COUNT(*) FROM tombstones WHERE in_vectors = 1 OR in_lexical = 1").fetchone()[0]
    passages = conn.execute("SELECT COUNT(*) FROM chunks WHERE article_id = ?", (ids[40],)).fetchone()[0]
    conn.close()
    assert earlier >= 50 and passages >= 1
    with IndexWriter(index, encoder=encoder) as writer:
        assert writer.remove([ids[40]])[0] == [ids[40]]

    read = []  # the tombstone rows the new snapshot reads out of SQLite
    real_connect = store.connect

    def counting_connect(*args, **kwargs):
        conn = real_connect(*args, **kwargs)
        statement = [""]
        conn.set_trace_callback(lambda sql: statement.__setitem__(0, sql))

        def row(cursor, values):
            if statement[0].lstrip().upper().startswith("SELECT") and "FROM tombstones" in statement[0]:
                read.append(values)
            return sqlite3.Row(cursor, values)

        conn.row_factory = row
        return conn

    monkeypatch.setattr(store, "connect", counting_connect)
    new = Searcher(index, encoder=encoder, previous=old)
    monkeypatch.setattr(store, "connect", real_connect)
    assert len(read) <= 2 * passages, f"read {len(read)} tombstone rows for one article of {passages} passages"

    fresh = Searcher(index, encoder=encoder)
    assert new.vector_count == fresh.vector_count == old.vector_count - passages
    assert new.reader.lexical_index.passages == fresh.reader.lexical_index.passages
    for query in ("apartment building explosion", "election results", "football match", "virus outbreak"):
        for mode in ("dense", "lexical", "hybrid"):
            assert [(h.article_id, [p.text for p in h.passages]) for h in new.search(query, k=10, mode=mode).results] \
                == [(h.article_id, [p.text for p in h.passages]) for h in fresh.search(query, k=10, mode=mode).results]
            assert ids[40] not in _ids(new, query, mode)
