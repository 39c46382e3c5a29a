import pytest

from search_api.fusion import group_by_article, linear_fusion, reciprocal_rank_fusion
from search_api.query import Filters, SearchError, query_words
from search_api.searcher import Searcher

# Questions written against the first 60 sample articles, worded unlike their headlines.
QUESTIONS = [
    ("How many people died when the ten-storey block came down after a gas leak?", "wn-e8d671d30811"),
    ("Where did teenage girls die while trying to solve puzzles to get out of a locked room?", "wn-e55f7744e3c4"),
    ("Could oxygen-rich salty water on Mars support sponges?", "wn-62000ef79866"),
    ("Why were the moai platforms built near drinkable water?", "wn-0f0779876e0a"),
    ("Which Iranian airline is no longer allowed to fly to Germany?", "wn-c352228c48de"),
    ("Why do striped animals have fewer biting insects landing on them?", "wn-acc7b169b5f2"),
    ("How many user records were leaked on Amazon servers?", "wn-ccdde1ed35f7"),
    ("What happened to the spire of the Paris cathedral?", "wn-fa626d79c339"),
    ("Which singer and animal rights advocate died in Carmel Valley?", "wn-aeb8f182e060"),
    ("Which country's parliament voted 66 to 27 for same-sex marriage?", "wn-8687db3e0e4f"),
]


@pytest.fixture(scope="module")
def searcher(sample_index, encoder):
    return Searcher(sample_index, encoder=encoder)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_questions_find_the_right_article_first(searcher, mode):
    # The ranking, with the "no good match" decision off (min_confidence=0).
    top = {q: searcher.search(q, k=3, mode=mode, highlight=False, min_confidence=0).results[0].article_id
           for q, _ in QUESTIONS}
    correct = sum(top[q] == expected for q, expected in QUESTIONS)
    # Hybrid and dense answer every question; BM25 alone misses paraphrases, as expected of it.
    assert correct >= (len(QUESTIONS) if mode != "lexical" else 7), top
    # The decision costs one of these paraphrases (the escape room, worded with none of its
    # article's names: confidence .36 against the threshold's .39; docs/quality.md, "No good match").
    refused = [q for q, _ in QUESTIONS if not searcher.search(q, k=3, mode=mode, highlight=False).results]
    assert len(refused) <= 1, refused


def test_results_are_grouped_by_article_with_offsets_into_the_article_text(searcher):
    # The decision off (min_confidence=0): five articles to group, matching or not.
    result = searcher.search("Notre Dame roof fire firefighters", k=5, passages=2, min_confidence=0)
    assert len({hit.article_id for hit in result.results}) == len(result.results) == 5
    for hit in result.results:
        article = searcher.article(hit.article_id)
        assert 1 <= len(hit.passages) <= 2
        assert hit.score == hit.passages[0].score
        assert [p.score for p in hit.passages] == sorted((p.score for p in hit.passages), reverse=True)
        for passage in hit.passages:
            assert article["text"][passage.start:passage.end] == passage.text
            assert passage.highlights
            for start, end in passage.highlights:
                assert passage.start <= start < end <= passage.end
    scores = [hit.score for hit in result.results]
    assert scores == sorted(scores, reverse=True)


def test_highlight_marks_the_answering_sentence(searcher):
    result = searcher.search("How old was Doris Day when she died?", k=1)
    hit = result.results[0]
    text = searcher.article(hit.article_id)["text"]
    marked = [text[s:e] for p in hit.passages for s, e in p.highlights]
    assert any("Doris Day died" in sentence or "97" in sentence for sentence in marked), marked


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_pages_are_disjoint_and_add_up_to_one_larger_page(searcher, mode):
    query = "fire kills people"
    for decision in ({}, {"min_confidence": 0}):  # pages of the match set, and of every candidate
        result = searcher.search(query, k=12, mode=mode, highlight=False, **decision)
        whole = [h.article_id for h in result.results]
        pages = [h.article_id for offset in (0, 4, 8)
                 for h in searcher.search(query, k=4, offset=offset, mode=mode, highlight=False, **decision).results]
        assert len(whole) == min(12, result.total) and len(whole) >= 5 and pages == whole, decision


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_filters_return_full_pages_of_matching_articles(searcher, mode):
    result = searcher.search("people said", k=5, mode=mode, date_from="2019-02-01", date_to="2019-03-31",
                             highlight=False)
    assert len(result.results) == 5
    assert all("2019-02-01" <= hit.published <= "2019-03-31" for hit in result.results)
    assert searcher.search("fire", mode=mode, source="No Such Source").results == []
    assert all(h.source == "Wikinews" for h in searcher.search("fire", mode=mode, source="Wikinews").results)


@pytest.mark.parametrize("query", ['"unbalanced quote', "NOT AND OR NEAR(", "fire* -kills ^ : ( ) {}", "C++ & Co.",
                                   "!!!", "日本 地震"])
def test_free_text_with_operators_and_punctuation_never_raises(searcher, query):
    for mode in ("lexical", "hybrid"):
        searcher.search(query, mode=mode, highlight=False)


def test_bad_queries_are_clear_errors(searcher):
    with pytest.raises(SearchError, match="empty"):
        searcher.search("   ")
    with pytest.raises(SearchError, match="mode must be one of"):
        searcher.search("fire", mode="fuzzy")


def test_query_words_are_plain_words_without_stopwords():
    assert query_words('fire "NEAR" kills-people') == ["fire", "near", "kills", "people"]
    assert query_words("what happened to the NOT vote?") == ["happened", "vote"]
    assert query_words("to be or not to be") == ["to", "be", "or", "not"]
    assert query_words("?!") == []


def test_query_syntax_is_plain_text_to_lexical_search(searcher):
    """Operators, quotes and brackets of a query language are plain text."""
    # BM25's own ranking (the decision off: relevance also weighs the query's embedding, which
    # the quotes move), and whole words in both.
    plain = searcher.search("fire cathedral ", mode="lexical", min_confidence=0).results
    assert plain
    quoted = searcher.search('"fire" AND (cathedral*', mode="lexical", min_confidence=0).results
    assert [hit.article_id for hit in quoted] == [hit.article_id for hit in plain]


def test_fusion_and_grouping_are_deterministic():
    dense = [(1, 0.9), (2, 0.8), (3, 0.7)]
    lexical = [(3, 12.0), (4, 9.0)]
    assert [i for i, _ in reciprocal_rank_fusion([dense, lexical], k=60)] == [3, 1, 2, 4]
    # min-max: dense 1→1, 2→.5, 3→0; lexical 3→1, 4→0; ties go to the lower id
    assert [i for i, _ in linear_fusion(dense, lexical, weight=0.5)] == [1, 3, 2, 4]
    groups = group_by_article([(1, .9), (3, .8), (2, .7), (4, .7), (5, .1)], {1: "a", 2: "a", 3: "b", 4: "c"}, 1)
    assert groups == [("a", .9, [(1, .9)]), ("b", .8, [(3, .8)]), ("c", .7, [(4, .7)])]


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_filters_on_an_ivf_index_answer_as_on_the_exact_one(searcher, ivf_index, encoder, mode):
    """An IVF index takes its own search parameters (with its nprobe, or it probes one list and
    misses most matches); here nprobe covers every list, so IVF answers as exact search does."""
    ivf = Searcher(ivf_index, encoder=encoder)
    filters = {"date_from": "2019-02-01", "date_to": "2019-03-31"}
    for query in ("people said", "fire kills people"):
        # The decision off: five candidates to compare, matching or not.
        got = [h.article_id for h in ivf.search(query, k=5, mode=mode, highlight=False, min_confidence=0,
                                                **filters).results]
        expected = [h.article_id for h in searcher.search(query, k=5, mode=mode, highlight=False, min_confidence=0,
                                                          **filters).results]
        assert len(got) == 5 and got == expected
    assert ivf.search("fire", mode=mode, source="No Such Source").results == []


def test_query_prints_the_sentence_two_passages_share_once(searcher, capsys):
    from search_api.cli import _print_results

    # An article of many passages (the Notre Dame report fits one passage once its photo credits are cleaned off).
    result = searcher.search("missing Indonesian cargo ship Namse Bangdzod search", k=1, passages=10)
    hit = result.results[0]
    text = searcher.article(hit.article_id)["text"]
    ordered = sorted(hit.passages, key=lambda p: p.start)
    shared = [" ".join(text[b.start:a.end].split()) for a, b in zip(ordered, ordered[1:]) if b.start < a.end]
    assert shared  # consecutive passages overlap by a sentence
    _print_results(result)
    printed = " ".join(capsys.readouterr().out.replace("   > ", " ").replace("**", "").split())
    for sentence in shared:
        assert printed.count(sentence) == 1, sentence


def test_cli_has_a_version_and_describes_every_command(capsys):
    import argparse
    from importlib.metadata import version

    from search_api.cli import build_parser

    parser = build_parser()
    with pytest.raises(SystemExit) as stop:
        parser.parse_args(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"article-search {version('article-search')}"
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert {"index", "remove", "query", "related", "stats", "serve"} <= set(commands)
    for name, command in commands.items():
        assert command.description, name


def test_a_broad_filter_searches_deeper_and_keeps_the_passages_that_pass(searcher, monkeypatch):
    """Dense search under a filter that many passages pass (over FILTER_SELECTOR_LIMIT) finds the
    same nearest passages as the search among exactly the passing ones, which few-passing filters use."""
    from search_api import index_readers as readers_module

    vector = searcher.encoder.encode(["election results and the vote count"])[0]
    dated = searcher.search("election", k=3).results
    filters = [Filters(date_from=dated[0].published[:10]), Filters(date_to=dated[-1].published[:10]),
               Filters(source=dated[0].source, date_to="2020-06-30")]
    expected = [searcher.reader.dense(vector, 20, f) for f in filters]
    assert all(expected)
    monkeypatch.setattr(readers_module, "FILTER_SELECTOR_LIMIT", 0)
    for f, ranked in zip(filters, expected):
        got = searcher.reader.dense(vector, 20, f)
        assert [c for c, _ in got] == [c for c, _ in ranked], f


def test_a_date_filter_that_is_not_a_date_is_a_clear_error(searcher):
    with pytest.raises(SearchError, match="date_from must be a date as YYYY-MM-DD"):
        searcher.search("election", date_from="2019")


def test_a_query_with_few_matches_does_not_deepen_past_them(searcher, monkeypatch):
    """Lexical mode with fewer matching articles than a page: one lexical call, not a deepening
    loop to the size of the archive."""
    monkeypatch.setattr(type(searcher), "vector_count", property(lambda self: 1_000_000))  # a large archive
    calls = []
    original = searcher.reader.lexical_index.search
    monkeypatch.setattr(searcher.reader.lexical_index, "search", lambda *a, **k: calls.append(a[1]) or original(*a, **k))
    result = searcher.search("Magnitogorsk", k=10, mode="lexical", highlight=False)
    assert 0 < len(result.results) < 10
    assert len(calls) == 1
