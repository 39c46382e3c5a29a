"""The lexical index (indexer.lexical, tantivy): what it finds, how filters restrict, deletes, and
that a reader stays on the commit it opened."""

import pytest

from indexer.lexical import LexicalReader, LexicalWriter, text_scores

PASSAGES = [
    dict(chunk_id=1, title="Airline banned", text="Germany banned the Iranian airline Mahan Air.", source="Wire",
         published="2019-01-21"),
    dict(chunk_id=2, title="Building collapse", text="A building collapsed in Magnitogorsk after a gas explosion.",
         source="Daily", published="2018-12-31T23:00:00Z"),
    dict(chunk_id=3, title="Buildings", text="Collapsing buildings were inspected across the region.", source="Wire",
         published=""),
]


def build(folder, passages=PASSAGES):
    with LexicalWriter(folder) as writer:
        for passage in passages:
            writer.add(**passage)
        writer.commit()
    return LexicalReader(folder)


def ids(hits):
    return [chunk_id for chunk_id, _ in hits]


def test_words_match_their_stems_in_text_and_title_best_first(tmp_path):
    reader = build(tmp_path / "lexical")
    hits = reader.search(["collapse", "magnitogorsk"], 10)
    assert ids(hits) == [2, 3]  # 2 has both words, 3 only "collapsing"
    assert hits[0][1] > hits[1][1] > 0
    assert ids(reader.search(["airlines"], 10)) == [1]          # plural finds singular
    assert ids(reader.search(["banned"], 10)) == [1]            # a word of the title and the text
    assert reader.search(["zebra", "nothing-here"], 10) == []


def test_filters_restrict_without_changing_scores(tmp_path):
    reader = build(tmp_path / "lexical")
    unfiltered = dict(reader.search(["buildings"], 10))
    wire = reader.search(["buildings"], 10, source="Wire")
    assert ids(wire) == [3] and wire[0][1] == unfiltered[3]
    assert ids(reader.search(["buildings", "airline"], 10, date_from="2019-01-01")) == [1]
    # The day of a timestamp counts; a passage without a date never passes a date filter.
    assert ids(reader.search(["buildings"], 10, date_to="2018-12-31")) == [2]
    assert ids(reader.search(["buildings"], 10, date_from="2018-12-31", date_to="2018-12-31")) == [2]
    assert reader.search(["airline"], 10, source="Daily") == []


def test_deleted_passages_are_gone_after_commit(tmp_path):
    build(tmp_path / "lexical")
    with LexicalWriter(tmp_path / "lexical") as writer:
        writer.delete([2])
        writer.add(chunk_id=4, title="Collapse", text="Another collapse.", source="Wire", published="2020-01-01")
        writer.commit()
    assert ids(LexicalReader(tmp_path / "lexical").search(["collapse"], 10)) == [4, 3]


def test_a_reader_stays_on_the_commit_it_opened(tmp_path):
    before = build(tmp_path / "lexical")
    with LexicalWriter(tmp_path / "lexical") as writer:
        writer.delete([1])
        writer.add(chunk_id=5, title="Airline", text="A second airline story.", source="Daily")
        writer.commit()
    assert ids(before.search(["airline"], 10)) == [1]
    assert before.passages == 3
    after = LexicalReader(tmp_path / "lexical")
    assert ids(after.search(["airline"], 10)) == [5]
    assert after.passages == 3


def test_uncommitted_changes_are_not_seen(tmp_path):
    build(tmp_path / "lexical")
    writer = LexicalWriter(tmp_path / "lexical")
    writer.delete([1])
    assert ids(LexicalReader(tmp_path / "lexical").search(["airline"], 10)) == [1]
    writer.close()


def test_scores_with_the_statistics_of_several_indexes_equal_one_index(tmp_path):
    """Two halves searched with their summed statistics score every passage as the whole does."""
    passages = [dict(chunk_id=i, title=f"Story {i}", text=text, source="Wire") for i, text in enumerate([
        "The airline was banned after the crash.", "An airline strike grounded flights.",
        "The council banned cars from the square.", "Flights resumed at the airport.",
        "The airline banned smoking on flights long ago.", "Farmers protested the new rules.",
        "Airline shares fell after the ban.", "The ban on flights was lifted."], start=1)]
    whole = build(tmp_path / "whole", passages)
    halves = [build(tmp_path / "odd", passages[0::2]), build(tmp_path / "even", passages[1::2])]
    words = ["airline", "banned", "flights"]
    terms = whole.terms(words)
    collection = halves[0].statistics(terms) + halves[1].statistics(terms)
    assert collection == whole.statistics(terms)
    expected = dict(whole.search(words, 20))
    merged = dict(pair for half in halves for pair in half.search(words, 20, collection=collection))
    local = dict(pair for half in halves for pair in half.search(words, 20))
    assert merged.keys() == expected.keys()
    # Only the average passage length differs between a half and the whole.
    assert all(abs(merged[i] - expected[i]) < 0.05 * expected[i] for i in expected)
    assert sum(abs(merged[i] - expected[i]) for i in expected) < sum(abs(local[i] - expected[i]) for i in expected)


def test_statistics_count_what_bm25_counts_after_deletes(tmp_path):
    """Deleted passages stay in BM25's counts until a merge, in `doc_freq` and in N alike; the
    statistics of shards must count them the same way, or an archive with updates scores wrong."""
    passages = [dict(chunk_id=i, title="Markets", text=("oil price rises" if i < 6 else "gas price falls"), source="Wire")
                for i in range(12)]
    whole = build(tmp_path / "whole", passages)
    with LexicalWriter(tmp_path / "whole") as writer:
        writer.delete([0, 1, 2])
        writer.commit()
    whole = LexicalReader(tmp_path / "whole")
    stats = whole.statistics(whole.terms(["oil"]))
    assert stats.passages == 12 and stats.doc_freqs == {"oil": 6}  # the three deleted still count
    # So scoring with its own statistics passed as the collection's changes nothing.
    own = whole.search(["oil", "price"], 20)
    collection = whole.statistics(whole.terms(["oil", "price"]))
    assert whole.search(["oil", "price"], 20, collection=collection) == pytest.approx(own)


def test_passages_passing_filters_are_counted_and_listed(tmp_path):
    reader = build(tmp_path / "lexical")
    assert reader.count() == 3
    assert reader.count(source="Wire") == 2
    assert reader.count(date_from="2019-01-01") == 1
    assert sorted(reader.passing(10, source="Wire")) == [1, 3]
    assert reader.passing(10, among=[2, 3], source="Wire") == [3]
    assert reader.passing(10, among=[1, 2, 3], date_to="2018-12-31") == [2]
    assert len(reader.passing(1, source="Wire")) == 1


def test_marking_words_survives_the_stems_cache_emptying_meanwhile(monkeypatch):
    """The cache of stems is emptied when full, by whichever marking fills it (another request's
    thread in a server): words looked up before that must still be marked, not a KeyError (500)."""
    from indexer import lexical
    from indexer.lexical import marking

    monkeypatch.setattr(marking, "_STEMS", {})
    monkeypatch.setattr(marking, "_STEMS_LIMIT", 3)
    assert lexical.TermMarker(["bridge"]).spans("bridge") == [[0, 6]]  # "bridge" is cached now
    # Three new words overflow the cache, which empties while "bridge" is still to be marked.
    assert lexical.TermMarker(["bridges"]).spans("old bridge cables snapped") == [[4, 10]]

def test_scores_from_texts_equal_tantivys(tmp_path):
    """`text_scores` (what a shard scores its best by, with the statistics of all shards) gives the
    scores tantivy gives, typos, completions and passage lengths included: it must stay in step
    with the query `search` builds."""
    passages = [dict(chunk_id=i, title=f"Story {i}", text=text, source="Wire") for i, text in enumerate([
        "The airline was banned after the crash.", "An airline strike grounded flights and flights again.",
        "The council banned cars from the square, " + "a long aside about nothing much " * 12,
        "Airliners resumed flights at the airport.", "The airline banned smoking on flights long ago.",
        "Farmers protested the new rules.", "Airline shares fell after the ban.", "The ban on flights was lifted."],
        start=1)]
    reader = build(tmp_path / "whole", passages)
    texts = {p["chunk_id"]: f"{p['title']}\n{p['text']}" for p in passages}
    for words, prefix in ((["airline", "banned", "flights"], None), (["airlnie", "councel"], "fli"), ([], "air")):
        hits = reader.search(words, 20, prefix=prefix, typos=True)
        assert len(hits) >= 3
        scores = text_scores({i: texts[i] for i, _ in hits}, words, prefix, True,
                             reader.query_statistics(words, prefix, typos=True))
        assert [scores[i] for i, _ in hits] == pytest.approx([score for _, score in hits], rel=1e-5), (words, prefix)
