"""Match sets (issue 19, items 1-3): every result is a match, sorts and facets work on the set,
`total` counts it, and "no good match" is an empty set. On the whole shipped sample (295
articles): the examples of the issue need articles the 60-article subset does not hold."""

import json

import pytest

from conftest import SAMPLE

from indexer.inputs import read_paths
from indexer.writer import IndexWriter
from search_api.searcher import Searcher

NOVICHOK = "Germany says Alexei Navalny poisoned with Novichok"


def _mentioning(word: str) -> dict[str, str]:
    """{id: published} of the sample's articles whose title or text holds `word` (any case)."""
    articles = [json.loads(line) for line in open(SAMPLE, encoding="utf-8")]
    return {a["id"]: a["date"] for a in articles if word.lower() in f"{a['title']} {a['text']}".lower()}


@pytest.fixture(scope="module")
def full_index(tmp_path_factory, encoder):
    """An index of all 295 sample articles (about a minute to embed), built once for this module."""
    index_dir = tmp_path_factory.mktemp("full") / "index"
    with IndexWriter(index_dir, encoder=encoder) as writer:
        problems = writer.add(read_paths([SAMPLE])).problems
    # One sample "article" is a test page whose whole text is a dateline: cleaning leaves it nothing.
    assert all("no text left" in problem.message for problem in problems) and len(problems) <= 1, problems
    return index_dir


@pytest.fixture(scope="module")
def searcher(full_index, encoder):
    return Searcher(full_index, encoder=encoder)


def test_earthquake_newest_first_lists_only_the_articles_that_mention_one(searcher):
    mentioning = _mentioning("earthquake")
    result = searcher.search("earthquake", k=10, sort="newest", highlight=False)
    listed = [hit.article_id for hit in result.results]
    assert listed and set(listed) <= set(mentioning), [h.title for h in result.results]
    assert len(listed) >= len(mentioning) - 1  # recall: at most one mention missed
    assert result.total == len(listed)
    dates = [hit.published for hit in result.results]
    assert dates == sorted(dates, reverse=True)


def test_navalny_ranks_the_article_naming_him_above_mere_neighbours(searcher):
    result = searcher.search("Navalny", k=10, highlight=False)
    titles = [hit.title for hit in result.results]
    assert NOVICHOK in titles, titles
    for hit in result.results[:titles.index(NOVICHOK)]:  # nothing without the name above it
        assert "navalny" in f"{hit.title} {' '.join(p.text for p in hit.passages)}".lower(), hit.title
    assert set(h.article_id for h in result.results) <= set(_mentioning("Navalny"))
    assert 0 < result.results[0].score <= 1


@pytest.mark.parametrize("query", ["coronavirus pandemic", "election", "Navalny"])
def test_a_facet_click_returns_its_count(searcher, query):
    result = searcher.search(query, k=100, facets=["year", "source"], highlight=False)
    assert result.total == len(result.results)
    assert sum(v.count for v in result.facets["year"]) <= result.total
    for value in result.facets["year"]:
        clicked = searcher.search(query, k=100, date_from=f"{value.value}-01-01", date_to=f"{value.value}-12-31",
                                  highlight=False)
        assert clicked.total == value.count == len(clicked.results), (query, value)
    for value in result.facets["source"]:
        clicked = searcher.search(query, k=100, source=value.value, highlight=False)
        assert clicked.total == value.count == len(clicked.results), (query, value)


def test_a_typo_or_a_half_typed_word_matches_what_the_word_matches(searcher):
    def matched(query):
        return {hit.article_id for hit in searcher.search(query, k=50, highlight=False).results}

    assert matched("Magnitogorsk ") == matched("Magnitogrosk ") == matched("Magnitog") != set()
    assert matched("Navalny poisoned ") == matched("Navalny poisnoed ") == matched("Navalny poiso") != set()


@pytest.mark.parametrize("corrected, typo", [
    ("On what charges did the House impeach Donald Trump?", "On what charges did the House impeach Donlad Trump?"),
    ("Which prison was Sirhan Sirhan stabbed in?", "Whicbh prison was Sirhan Sirhan stabbed in?"),
])
def test_a_question_with_a_typo_matches_what_the_corrected_question_matches(searcher, corrected, typo):
    # Questions of tests/fixtures/wikinews_questions.jsonl with `eval --typos`'s seeded typos. The
    # misspelt word weighs as the word it is a typo of, so a passage without it is no likelier to
    # match (and one with it no less likely) than for the corrected question.
    def matched(query):
        return {hit.article_id for hit in searcher.search(query, k=50, highlight=False).results}

    assert matched(typo) == matched(corrected) != set()


@pytest.mark.parametrize("query", ["\u200b", "😀", "zzzzqqqq"])
def test_a_query_without_a_word_of_the_archive_matches_nothing(searcher, query):
    for mode in ("hybrid", "dense", "lexical"):
        result = searcher.search(query, mode=mode, facets=["year"])
        assert result.results == [] and result.total == 0 and result.facets == {"year": []}, mode
