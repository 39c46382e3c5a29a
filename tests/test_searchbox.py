"""Powering a site's search box (issue 13): a partial last word, typos, and the eval variants that
measure them."""

import json
import random

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
