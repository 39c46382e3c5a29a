"""The work of a search-box keystroke (issue 22): what one keystroke computed is not computed again
by the next, and nothing kept between queries changes an answer."""

import sqlite3

import pytest

from search_api import matching
from search_api.searcher import Searcher

FACETS = ["source", "author", "year"]


def _typed(index_dir, titles: int) -> list[str]:
    """Every text a search box holds while the first titles of the index are typed."""
    conn = sqlite3.connect(index_dir / "index.sqlite")
    rows = conn.execute("SELECT title FROM articles ORDER BY id LIMIT ?", (titles,)).fetchall()
    conn.close()
    return [title[:end] for (title,) in rows for end in range(2, len(title) + 1)]


def _answer(searcher: Searcher, text: str, mode: str) -> dict:
    answer = searcher.search(text, k=10, mode=mode, facets=FACETS).model_dump()
    answer.pop("took_ms")
    return answer


@pytest.mark.parametrize("mode", ["hybrid", "lexical"])
def test_keystrokes_answer_as_a_fresh_searcher_does(sample_index, encoder, mode):
    typed = _typed(sample_index, 1)
    warm = Searcher(sample_index, encoder=encoder)
    for text in typed + typed[::-1]:  # everything typed is in the caches by the second pass
        _answer(warm, text, mode)
    for text in typed[::4]:
        matching._ANALYSED.clear()
        fresh = Searcher(sample_index, encoder=encoder)
        try:
            assert _answer(warm, text, mode) == _answer(fresh, text, mode), text
        finally:
            fresh.close()


def test_the_same_text_asked_again_analyses_no_passage_reads_no_statistics_and_embeds_nothing(
        sample_index, encoder, monkeypatch):
    searcher = Searcher(sample_index, encoder=encoder)
    searcher.search("election resul", k=10, facets=FACETS)
    analysed, statistics, embedded = [], [], []
    terms_of, read, encode = matching.terms_of, searcher.reader.lexical_index.statistics, searcher.encoder.encode
    monkeypatch.setattr(matching, "terms_of", lambda text, stem=True: analysed.append(text) or terms_of(text, stem))
    monkeypatch.setattr(searcher.reader.lexical_index, "statistics", lambda terms: statistics.append(terms) or read(terms))
    monkeypatch.setattr(searcher.encoder, "encode", lambda texts, **options: embedded.append(texts) or encode(texts, **options))
    searcher.search("election resul", k=5)  # another request (no facets, 5 results) of the same text
    assert [text for text in analysed if "\n" in text] == []  # passages are a title, a line break, a text
    assert statistics == [] and embedded == []


def test_a_request_asked_again_is_answered_without_searching(sample_index, encoder, monkeypatch):
    searcher = Searcher(sample_index, encoder=encoder)
    first = _answer(searcher, "election resul", "hybrid")
    asked = []
    for name in ("dense", "lexical", "lexical_matching", "match_counts", "passage_evidence", "hits"):
        call = getattr(searcher.reader, name)
        monkeypatch.setattr(searcher.reader, name, lambda *args, _call=call, _name=name, **options:
                            asked.append(_name) or _call(*args, **options))
    assert _answer(searcher, "election resul", "hybrid") == first
    assert asked == []
    assert _answer(searcher, "election resul", "lexical") != first and asked  # another request searches


class _CountingSearcher:
    """A tantivy searcher that notes how many passages each aggregation it runs counts."""

    def __init__(self, searcher, counted: list[int]):
        self._searcher, self._counted = searcher, counted

    def aggregate(self, query, aggregations):
        self._counted.append(self._searcher.search(query, 1, count=True).count)
        return self._searcher.aggregate(query, aggregations)

    def __getattr__(self, name):
        return getattr(self._searcher, name)


@pytest.mark.parametrize("text", ["cathedral fi", "bridge collapse", "election resul"])
def test_total_and_facets_count_the_match_set_not_every_passage(sample_index, encoder, monkeypatch, text):
    """Counted as work, not timed: the aggregation behind `total` and facets reads the passages
    that hold a query word (or a completion, or a near miss) and the dense candidates, never the
    whole archive."""
    from search_api.query import typed_words

    searcher = Searcher(sample_index, encoder=encoder)
    lexical = searcher.reader.lexical_index
    searcher.search("news", k=10)  # BM25's statistics are read once, by tantivy's own searcher
    counted, among = [], []
    monkeypatch.setattr(lexical, "searcher", _CountingSearcher(lexical.searcher, counted))
    match_counts = searcher.reader.match_counts
    monkeypatch.setattr(searcher.reader, "match_counts", lambda *args, **options:
                        among.extend(options["among"] or []) or match_counts(*args, **options))
    searcher.search(text, k=10, mode="hybrid", facets=FACETS)
    words, prefix = typed_words(text)
    holding = {chunk_id for chunk_id, _ in lexical.search(words, lexical.passages, prefix=prefix, typos=True)}
    matching = len(holding | set(among))
    assert counted and matching < lexical.passages  # else the query would not tell the two apart
    assert max(counted) <= matching, (counted, matching, lexical.passages)
