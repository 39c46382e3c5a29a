""""No good match" (issue 13, item 3): a query that nothing in the archive answers gets no results,
in every mode, through the searcher, the API and the CLI; `eval --no-match` measures the decision."""

import json

import pytest

from conftest import write_jsonl

from search_api.cli import main
from search_api.searcher import MODES, Searcher

MAGNITOGORSK = "wn-e8d671d30811"
IN_ARCHIVE = "How many people died when the apartment building in Magnitogorsk collapsed?"
OFF_TOPIC = ["zzzzqqqq", "Which enzyme in human saliva breaks down starch?"]


@pytest.fixture(scope="module")
def searcher(sample_index, encoder):
    return Searcher(sample_index, encoder=encoder)


@pytest.mark.parametrize("mode", MODES)
def test_a_query_nothing_answers_gets_no_results_in_every_mode(searcher, mode):
    for query in OFF_TOPIC:
        assert searcher.search(query, mode=mode).results == [], query
    assert searcher.search(IN_ARCHIVE, k=3, mode=mode).results[0].article_id == MAGNITOGORSK
    # The decision can be turned off: then a nearest passage, or a word in common, is an answer.
    assert searcher.search(OFF_TOPIC[0 if mode != "lexical" else 1], mode=mode, min_confidence=0).results


def test_a_word_being_typed_or_misspelt_counts_as_the_words_it_matches(searcher):
    for query in ("Magnito", "building collapse in Magnitogrosk", "Magnitogrosk"):
        for mode in MODES:
            hits = searcher.search(query, k=3, mode=mode).results
            assert hits and hits[0].article_id == MAGNITOGORSK, (query, mode)
    for mode in MODES:  # while a word that starts no word of the archive is no answer
        assert searcher.search("Zqxwvj", k=3, mode=mode).results == [], mode


def test_no_match_through_the_api_and_the_cli(sample_index, encoder, capsys):
    from fastapi.testclient import TestClient

    from search_api.app import create_app

    with TestClient(create_app(sample_index, encoder=encoder)) as client:
        assert client.get("/search", params={"q": "zzzzqqqq"}).json()["results"] == []
        assert client.post("/search", json={"q": OFF_TOPIC[1], "mode": "dense"}).json()["results"] == []
        assert client.get("/search", params={"q": "zzzzqqqq", "min_confidence": 0}).json()["results"]
        assert client.get("/search", params={"q": IN_ARCHIVE}).json()["results"][0]["article_id"] == MAGNITOGORSK
        refused = client.get("/search", params={"q": "zzzzqqqq", "min_confidence": 2})
        assert refused.status_code == 422 and "min_confidence" in refused.text
    assert main(["query", "zzzzqqqq", "--index", str(sample_index), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"] == []
    assert main(["query", "zzzzqqqq", "--index", str(sample_index)]) == 0
    assert "no results for 'zzzzqqqq'" in capsys.readouterr().out
    assert main(["query", "zzzzqqqq", "--index", str(sample_index), "--min-confidence", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"]


def test_eval_no_match_reports_the_share_of_other_questions_left_without_results(tmp_path, capsys):
    data = tmp_path / "set"
    (data / "qrels").mkdir(parents=True)
    write_jsonl(data / "corpus.jsonl", [
        {"_id": "d1", "title": "Magnitogorsk", "text": "An apartment building collapsed in Magnitogorsk after a "
                                                       "gas explosion on New Year's Eve; 39 people died."},
        {"_id": "d2", "title": "Penguins", "text": "Male Magellanic penguins look for partners in Argentina."}])
    write_jsonl(data / "queries.jsonl", [{"_id": "q1", "text": "Why did the apartment building in Magnitogorsk "
                                                               "collapse?"},
                                         {"_id": "q2", "text": "Where do Magellanic penguins look for partners?"}])
    (data / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")
    other = write_jsonl(tmp_path / "other.jsonl", [{"_id": "o1", "text": OFF_TOPIC[1]},
                                                   {"_id": "o2", "text": "Who won the 2016 Super Bowl?"}])
    assert main(["eval", str(data), "--index", str(tmp_path / "index"), "--no-match", str(other), "--json",
                 "--mode", "dense", "hybrid"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert set(results["no_match"]) == {"dense", "hybrid"}
    for mode, shares in results["no_match"].items():
        assert shares == {"no_results": 1.0, "questions": 2, "recall@5": 1.0, "recall@5_without": 1.0}, mode
    # Without the decision every question gets an answer.
    assert main(["eval", str(data), "--index", str(tmp_path / "index"), "--no-match", str(other), "--json",
                 "--mode", "dense", "--min-confidence", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["no_match"]["dense"]["no_results"] == 0.0
    # A questions file that is not one is a one-line error.
    (tmp_path / "bad.jsonl").write_text('{"_id": "x"}\n')
    assert main(["eval", str(data), "--no-match", str(tmp_path / "bad.jsonl")]) == 1
    assert "bad.jsonl:1" in capsys.readouterr().err
