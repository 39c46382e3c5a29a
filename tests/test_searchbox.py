"""Powering a site's search box (issue 13): a partial last word, typos, and the eval variants that
measure them."""

import json
import random
from collections import Counter

import pytest

from conftest import write_jsonl
from test_lexical import build, ids

from search_api.cli import main
from search_api.evaluation import cut_inside_last_word, with_typo
from search_api.searcher import Searcher

PASSAGES = [
    dict(chunk_id=1, title="Building collapse", text="A building collapsed in Magnitogorsk after a gas explosion."),
    dict(chunk_id=2, title="Station", text="The station was closed for repairs."),
    dict(chunk_id=3, title="Staton", text="The staton (sic) was closed for a holiday."),
    dict(chunk_id=4, title="Oil", text="Oil prices rose."),
]


def test_a_word_being_typed_matches_the_words_it_starts(tmp_path):
    reader = build(tmp_path / "lexical", PASSAGES)
    assert ids(reader.search([], 10, prefix="magnito")) == [1]
    assert ids(reader.search(["gas"], 10, prefix="collap")) == [1]
    assert reader.search(["magnito"], 10) == []          # a whole word is only itself


def test_typos_are_forgiven_by_word_length_and_exact_matches_rank_first(tmp_path):
    reader = build(tmp_path / "lexical", PASSAGES)
    assert ids(reader.search(["magnitogrosk"], 10, typos=True)) == [1]   # 12 letters: 2 edits
    assert reader.search(["magnitogrosk"], 10) == []                      # off unless asked
    assert reader.search(["mangitogroks"], 10, typos=True) == []          # 3 edits
    hits = reader.search(["station"], 10, typos=True)
    assert ids(hits) == [2, 3] and hits[0][1] > hits[1][1]                # "staton" is one edit away
    assert reader.search(["oli"], 10, typos=True) == []                   # under 5 letters: exact only


def test_the_search_box_finds_a_partial_word_and_a_typo(sample_index, encoder):
    searcher = Searcher(sample_index, encoder=encoder)
    magnitogorsk = "wn-e8d671d30811"
    for mode in ("lexical", "hybrid"):
        assert searcher.search("Magnito", k=3, mode=mode).results[0].article_id == magnitogorsk
        assert searcher.search("building collapse in Magnitogrosk", k=3, mode=mode).results[0].article_id \
            == magnitogorsk
    # A trailing space ends the word; typo tolerance can be turned off.
    assert searcher.search("Magnito ", k=3, mode="lexical").results == []
    assert searcher.search("Magnitogrosk", k=3, mode="lexical", typos=False).results == []


def test_seeded_typos_and_cuts_are_one_edit_in_a_long_word_and_a_cut_inside_the_last_word():
    for seed in range(200):
        rng = random.Random(seed)
        question = "Which building collapsed in Magnitogorsk on New Year's Eve?"
        typo = with_typo(question, rng)
        changed = [(a, b) for a, b in zip(question.split(), typo.split()) if a != b]
        assert len(changed) == 1 and len(changed[0][0].strip("?'")) >= 5
        cut = cut_inside_last_word(question, rng)
        assert question.startswith(cut) and cut.startswith("Which building collapsed in Magnitogorsk on New Year's ")
        assert 3 <= len(cut.split()[-1]) < len("Eve") or cut.endswith("Eve")
    assert cut_inside_last_word("When was the Magnitogorsk collapse?", random.Random(1)).split()[-1] in \
        {"col", "coll", "colla", "collap", "collaps"}


def test_eval_scores_typo_and_cut_questions_beside_the_clean_ones(tmp_path, capsys):
    data = tmp_path / "set"
    (data / "qrels").mkdir(parents=True)
    write_jsonl(data / "corpus.jsonl", [
        {"_id": "d1", "title": "Magnitogorsk", "text": "An apartment building collapsed in Magnitogorsk."},
        {"_id": "d2", "title": "Penguins", "text": "Magellanic penguins look for partners in Argentina."}])
    write_jsonl(data / "queries.jsonl", [{"_id": "q1", "text": "Where did the apartment building collapse?"},
                                         {"_id": "q2", "text": "Which penguins look for partners?"}])
    (data / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")
    assert main(["eval", str(data), "--index", str(tmp_path / "index"), "--typos", "--prefix", "--json",
                 "--mode", "lexical", "hybrid"]) == 0
    results = json.loads(capsys.readouterr().out)
    for variant in ("typos", "prefix"):
        assert set(results[variant]) == {"lexical", "hybrid"}
        assert 0 <= results[variant]["hybrid"]["recall@5"] <= 1


def test_typos_and_prefixes_through_the_api_and_the_cli(sample_index, encoder, capsys):
    from fastapi.testclient import TestClient

    from search_api.app import create_app

    with TestClient(create_app(sample_index, encoder=encoder)) as client:
        def titles(**params):
            answer = client.get("/search", params={"mode": "lexical", "k": 3, **params})
            assert answer.status_code == 200, answer.text
            return [hit["title"] for hit in answer.json()["results"]]
        assert titles(q="Magnitogrosk")[0].startswith("Magnitogorsk apartment building collapses")
        assert titles(q="Magnitogrosk", typos="false") == []
        assert titles(q="Magnito")[0].startswith("Magnitogorsk")
        assert titles(q="Magnito ") == []
    assert main(["query", "Magnitogrosk", "--index", str(sample_index), "--mode", "lexical", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"]
    assert main(["query", "Magnitogrosk", "--index", str(sample_index), "--mode", "lexical", "--json",
                 "--no-typos"]) == 0
    assert json.loads(capsys.readouterr().out)["results"] == []


def test_sort_orders_the_matching_articles_by_date(sample_index, encoder, capsys):
    from fastapi.testclient import TestClient

    from search_api.app import create_app

    searcher = Searcher(sample_index, encoder=encoder)
    relevance = searcher.search("building collapse", k=20)
    newest = searcher.search("building collapse", k=20, sort="newest")
    oldest = searcher.search("building collapse", k=20, sort="oldest")
    dates, early = [hit.published for hit in newest.results], [hit.published for hit in oldest.results]
    assert dates == sorted(dates, reverse=True) and len(set(dates)) > 3 and early == sorted(early)
    # The whole matching set is ordered, not the relevance page: its ends reach past that page's.
    relevant = [hit.published for hit in relevance.results]
    assert dates[0] >= max(relevant) and early[0] <= min(relevant) and early[0] < dates[0]
    with TestClient(create_app(sample_index, encoder=encoder)) as client:
        answer = client.get("/search", params={"q": "building collapse", "k": 20, "sort": "newest"})
        assert [hit["article_id"] for hit in answer.json()["results"]] == [h.article_id for h in newest.results]
        assert client.get("/search", params={"q": "building", "sort": "latest"}).status_code == 422
    assert main(["query", "building collapse", "--index", str(sample_index), "-k", "20", "--sort", "oldest",
                 "--json"]) == 0
    assert [hit["published"] for hit in json.loads(capsys.readouterr().out)["results"]] == early


def test_recency_boosts_the_latest_articles_on_the_query(sample_index, encoder, capsys):
    from fastapi.testclient import TestClient

    from search_api.app import create_app

    searcher = Searcher(sample_index, encoder=encoder)
    relevance = searcher.search("building collapse", k=10)
    recent = searcher.search("building collapse", k=10, recency=1)
    # A one-day half-life leaves only the newest matches' scores standing.
    newest = searcher.search("building collapse", k=1, sort="newest").results[0]
    assert recent.results[0].article_id == newest.article_id != relevance.results[0].article_id
    slow = searcher.search("building collapse", k=10, recency=1e6)   # a half-life longer than the archive
    assert [h.article_id for h in slow.results] == [h.article_id for h in relevance.results]
    with TestClient(create_app(sample_index, encoder=encoder)) as client:
        answer = client.get("/search", params={"q": "building collapse", "recency": 1})
        assert answer.json()["results"][0]["article_id"] == newest.article_id
        assert client.get("/search", params={"q": "building", "recency": -3}).status_code == 422
    assert main(["query", "building collapse", "--index", str(sample_index), "--recency", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["article_id"] == newest.article_id


# -- facets, matched words, suggestions ---------------------------------------------------------------

def _story(id, title, sentence, source, author, date, desk, repeat=1):
    return {"id": id, "title": title, "text": " ".join(f"{sentence} Report {n} of {id}." for n in range(repeat)),
            "source": source, "author": author, "published": date, "desk": desk}


DESKS = [  # floods (stem "flood") in four articles, one long enough for several passages
    _story("f1", "River floods the valley", "The river floods farms and roads across the valley after rain.",
           "Reuters", "Ann Lee", "2019-03-01", "weather", repeat=60),
    _story("f2", "Floods close schools", "Schools closed as floods reached the town centre.", "Reuters", "Bo Chan",
           "2020-05-02", "weather"),
    _story("f3", "Coastal flooding", "Coastal flooding forced hundreds from their homes.", "AP", "Ann Lee",
           "2020-07-03", "national"),
    _story("f4", "Flooded mines", "Miners escaped a flooded mine shaft.", "BBC", "", "2021-01-04", "weather"),
    _story("e1", "Election results", "The governing party won the regional election.", "Reuters", "Cy Diaz",
           "2019-06-05", "politics"),
    _story("e2", "Vote count", "Officials counted the votes of the national election.", "AP", "Bo Chan",
           "2020-09-06", "politics"),
]


@pytest.fixture(scope="module")
def desk_index(tmp_path_factory, encoder):
    from indexer.inputs import read_paths
    from indexer.writer import IndexWriter

    folder = tmp_path_factory.mktemp("desks")
    with IndexWriter(folder / "index", encoder=encoder) as writer:
        writer.add(read_paths([write_jsonl(folder / "desks.jsonl", DESKS)]))
    return folder / "index"


def _expected_facets(searcher, chunk_ids, names):
    """Articles per value, counted from the articles that own `chunk_ids` (the matching set)."""
    articles = {row["id"]: row for row in (searcher.article(a) for a in set(searcher.reader.article_of(chunk_ids).values()))}
    expected = {}
    for name in names:
        counts = Counter()
        for article in articles.values():
            value = article["published"][:4] if name == "year" else \
                article.get(name) if name in ("source", "author") else article["metadata"].get(name)
            if value:
                counts[value] += 1
        expected[name] = counts
    return expected


def _as_counters(facets):
    return {name: Counter({entry.value: entry.count for entry in values}) for name, values in facets.items()}


NAMES = ["source", "author", "year", "desk"]


def test_facets_count_the_articles_that_match_not_their_passages(desk_index, encoder):
    searcher = Searcher(desk_index, encoder=encoder)
    assert searcher.stats()["passages"] > len(DESKS) + 1  # f1 has several passages, each with "floods"
    result = searcher.search("floods", k=1, mode="lexical", facets=NAMES)
    assert len(result.results) == 1  # one article on the page; the counts are over all that match
    facets = _as_counters(result.facets)
    matching = [c for c, _ in searcher.reader.lexical("floods", 10_000, typos=True)]
    assert facets == _expected_facets(searcher, matching, NAMES)
    assert facets["source"] == Counter({"Reuters": 2, "AP": 1, "BBC": 1})
    assert facets["desk"] == Counter({"weather": 3, "national": 1})
    assert result.facets["year"][0].model_dump() == {"value": "2020", "count": 2}  # most articles first
    # A filter restricts the counts as it restricts the results.
    wire = _as_counters(searcher.search("floods", mode="lexical", source="Reuters", date_from="2020-01-01",
                                        facets=["source", "year"]).facets)
    assert wire == {"source": Counter({"Reuters": 1}), "year": Counter({"2020": 1})}
    assert "facets" not in searcher.search("floods", mode="lexical").model_dump(exclude_none=True)


def test_facets_count_the_match_set_and_a_click_returns_each_count(desk_index, encoder):
    """In every mode a facet counts the matching articles (issue 19), not the candidates: the same
    search filtered to a value returns that value's count as its `total` and as its results."""
    searcher = Searcher(desk_index, encoder=encoder)
    for mode in ("dense", "hybrid", "lexical"):
        result = searcher.search("vote counting", k=50, mode=mode, facets=["source", "year"], highlight=False)
        assert result.total == len(result.results) < len(DESKS), mode  # not the whole archive
        assert result.total or mode == "dense", mode  # "Vote count" holds both words
        assert sum(v.count for v in result.facets["source"]) == result.total, mode
        for value in result.facets["source"]:
            clicked = searcher.search("vote counting", k=50, mode=mode, source=value.value, highlight=False)
            assert clicked.total == value.count == len(clicked.results), (mode, value)
        for value in result.facets["year"]:
            clicked = searcher.search("vote counting", k=50, mode=mode, date_from=f"{value.value}-01-01",
                                      date_to=f"{value.value}-12-31", highlight=False)
            assert clicked.total == value.count == len(clicked.results), (mode, value)


def test_facets_through_the_api_and_the_cli(desk_index, encoder, capsys):
    from fastapi.testclient import TestClient

    from search_api.app import create_app

    with TestClient(create_app(desk_index, encoder=encoder)) as client:
        answer = client.get("/search", params={"q": "floods", "mode": "lexical", "facets": "source,author,year"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["facets"]["author"] == [{"value": "Ann Lee", "count": 2}, {"value": "Bo Chan", "count": 1}]
        posted = client.post("/search", json={"q": "floods", "mode": "lexical", "facets": "source,author,year"})
        assert posted.json()["facets"] == answer.json()["facets"]
        assert "facets" not in client.get("/search", params={"q": "floods"}).json()
        bad = client.get("/search", params={"q": "floods", "facets": "source,not a field"})
        assert bad.status_code == 422 and "facets" in bad.text
        assert "/suggest" in client.get("/openapi.json").json()["paths"]
    assert main(["query", "floods", "--index", str(desk_index), "--sort", "newest", "--facets", "source",
                 "--mode", "lexical", "--json"]) == 0
    output = json.loads(capsys.readouterr().out)
    assert [hit["published"] for hit in output["results"]][:3] == ["2021-01-04", "2020-07-03", "2020-05-02"]
    assert output["facets"] == {"source": [{"value": "Reuters", "count": 2}, {"value": "AP", "count": 1},
                                           {"value": "BBC", "count": 1}]}
    assert main(["query", "floods", "--index", str(desk_index), "--facets", "desk", "--mode", "lexical"]) == 0
    assert "desk: weather (3), national (1)" in capsys.readouterr().out


def test_terms_mark_the_matched_words_stems_prefixes_and_typos(sample_index, encoder):
    searcher = Searcher(sample_index, encoder=encoder)
    result = searcher.search("buildings Magnitogrosk explo", k=1, mode="lexical")
    hit = result.results[0]
    assert hit.article_id == "wn-e8d671d30811"
    text = searcher.article(hit.article_id)["text"]
    marked = [text[s:e] for passage in hit.passages for s, e in passage.terms]
    assert {"building", "Magnitogorsk", "explosion"} <= set(marked)  # a stem, a typo, a prefix
    assert "apartment" in text and not {"apartment", "collapsed", "Russia"} & set(marked)  # unmatched words
    assert [hit.title[s:e] for s, e in hit.title_terms] == ["Magnitogorsk", "building", "explosion"]
    assert searcher.search("Magnitogrosk", k=1, mode="lexical", typos=True).results[0].passages[0].terms
    # In the JSON too, with passage offsets in the same unit (characters of the article's text).
    data = result.model_dump(exclude_none=True)["results"][0]
    assert data["title_terms"] == hit.title_terms and data["passages"][0]["terms"] == hit.passages[0].terms


def test_suggest_completes_a_word_and_finds_titles(sample_index, encoder):
    from fastapi.testclient import TestClient

    from search_api.app import create_app

    with TestClient(create_app(sample_index, encoder=encoder)) as client:
        answer = client.get("/suggest", params={"q": "Magnit", "k": 8})
        assert answer.status_code == 200, answer.text
        suggestions = answer.json()["suggestions"]
        assert {"text": "magnitogorsk", "kind": "term"} in suggestions
        assert {"text": "Magnitogorsk apartment building collapses after explosion, dozens dead", "kind": "title",
                "article_id": "wn-e8d671d30811"} in suggestions
        assert len(suggestions) <= 8
        # The words before the one being typed narrow the titles and stay in a completed term.
        narrowed = client.get("/suggest", params={"q": "apartment Magnit"}).json()["suggestions"]
        assert {"text": "apartment magnitogorsk", "kind": "term"} in narrowed
        assert [s["article_id"] for s in narrowed if s["kind"] == "title"] == ["wn-e8d671d30811"]
        assert client.get("/suggest", params={"q": "zzzzqq"}).json() == {"suggestions": []}
        assert client.get("/suggest", params={"q": ""}).status_code == 422
        assert client.get("/suggest", params={"q": "mag", "k": 0}).status_code == 422


def test_a_sharded_index_gives_the_same_facets_and_suggestions(desk_index, encoder, tmp_path):
    from indexer.inputs import read_paths
    from indexer.sharding import open_writer

    with open_writer(tmp_path / "sharded", shards=2, encoder=encoder) as writer:
        writer.add(read_paths([write_jsonl(tmp_path / "desks.jsonl", DESKS)]))
    sharded, single = Searcher(tmp_path / "sharded", encoder=encoder), Searcher(desk_index, encoder=encoder)
    for mode in ("lexical", "dense", "hybrid"):
        assert sharded.search("floods", mode=mode, facets=NAMES).facets == \
            single.search("floods", mode=mode, facets=NAMES).facets
    assert sorted(map(str, sharded.suggest("flo", 8))) == sorted(map(str, single.suggest("flo", 8)))
    assert {"text": "floods", "kind": "term"} in sharded.suggest("flo", 8)


class _CountingSearcher:
    """A reader's tantivy searcher that notes the searches asked to count their matches (a count
    walks every match, so it grows with the archive) and the term dictionary lookups."""

    def __init__(self, searcher):
        self._searcher, self.counts, self.lookups = searcher, 0, 0

    def search(self, query, limit=10, count=True, *args, **kwargs):
        self.counts += bool(count)
        return self._searcher.search(query, limit, count, *args, **kwargs)

    def doc_freq(self, *args):
        self.lookups += 1
        return self._searcher.doc_freq(*args)

    def __getattr__(self, name):
        return getattr(self._searcher, name)


def test_a_near_miss_weighs_by_term_lookups_not_by_counting_its_matches(tmp_path):
    """Issue 22: a word's fuzzy weight came from counting the passages its fuzzy query matches,
    a walk that grows with the archive, on every query. It now comes from the term dictionary's
    passage counts of the terms one edit away: as many lookups in an archive ten times larger."""
    lookups = []
    for size in (1, 10):
        reader = build(tmp_path / f"lexical-{size}", [dict(p, chunk_id=p["chunk_id"] + 10 * copy)
                                                      for copy in range(size) for p in PASSAGES])
        reader.search(["station"], 1)  # reads N and the average length once per reader (by `explain`)
        reader.searcher = searcher = _CountingSearcher(reader.searcher)
        assert set(ids(reader.search(["stattion", "magnitogrosk"], 50, typos=True))) == \
               {n + 10 * copy for n in (1, 2) for copy in range(size)}
        assert searcher.counts == 0
        lookups.append(searcher.lookups)
    assert lookups[0] == lookups[1] > 0
