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
