"""Related coverage is a set and articles belong to story threads (search_api.related, search_api.stories):
on the shipped sample, over the API and through `article-search index`."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from conftest import SAMPLE, write_jsonl
from search_api.app import create_app
from search_api.cli import main
from search_api.searcher import Searcher
from test_related import KERMANSHAH, KERMANSHAH_FOLLOW_UP, NEPAL, SUMATRA, VALPARAISO

KEY = "stories-key"
NAVALNY = ("wn-5f59f378b725", "wn-5793d7c79099")  # airlifted to Germany; poisoned with Novichok
# The other sample articles the Navalny/Novichok timeline listed before stories (issue 19):
# Magnitogorsk, Mahan Air, a bus in Russia, Leonov, the coronavirus, Slovakia's prime minister.
OTHERS = ("wn-e8d671d30811", "wn-c352228c48de", "wn-1dc872582be4", "wn-d2688f005a05", "wn-5d145e3ca02e",
          "wn-85cc17dcf22d", "wn-74c39a88b10e", "wn-eddf69bf7243", "wn-26408d80a8cf")


@pytest.fixture(scope="module")
def navalny_index(tmp_path_factory):
    """The two Navalny reports and the sample articles that crowded their timeline, indexed by
    `article-search index` (which assigns stories), in the sample's order."""
    return index_sample(tmp_path_factory.mktemp("navalny"), set(NAVALNY + OTHERS))


def index_sample(folder, wanted: set[str]):
    """The sample articles `wanted`, indexed in `folder` by `article-search index` (which assigns
    stories), in the sample's order; the index's path."""
    with open(SAMPLE, encoding="utf-8") as sample:
        records = [r for r in map(json.loads, sample) if r["id"] in wanted]
    assert len(records) == len(wanted)
    path = write_jsonl(folder / "articles.jsonl", records)
    assert main(["index", str(path), "--index", str(folder / "index"), "--quiet"]) == 0
    return folder / "index"


def test_the_navalny_timeline_holds_only_the_navalny_reports(navalny_index, encoder):
    searcher = Searcher(navalny_index, encoder=encoder)
    for article_id in NAVALNY:
        story = searcher.story(article_id)
        assert [report["article_id"] for report in story["articles"]] == list(NAVALNY), story  # oldest first
        assert [hit.article_id for hit in searcher.related(article_id)] == [a for a in NAVALNY if a != article_id]
    # The crowd is still there for whoever asks for neighbours.
    assert len(searcher.related(NAVALNY[1], k=5, scope="similar")) == 5


def test_search_results_carry_their_story(navalny_index, encoder):
    searcher = Searcher(navalny_index, encoder=encoder)
    hits = searcher.search("Navalny poisoned", k=5).results
    stories = {hit.article_id: hit.story_id for hit in hits}
    assert stories[NAVALNY[0]] == stories[NAVALNY[1]] == searcher.story(NAVALNY[0])["story_id"]
    assert all(story_id for story_id in stories.values())
    assert len({stories[a] for a in stories if a not in NAVALNY} & {stories[NAVALNY[0]]}) == 0


@pytest.fixture
def quake_client(tmp_path, encoder):
    """An API over an index of earthquake reports: one of the Kermanshah quake and three of others."""
    path = write_jsonl(tmp_path / "quakes.jsonl", [KERMANSHAH, VALPARAISO, SUMATRA, NEPAL])
    assert main(["index", str(path), "--index", str(tmp_path / "index"), "--quiet"]) == 0
    with TestClient(create_app(tmp_path / "index", encoder=encoder, api_key=KEY)) as client:
        yield client


def test_an_article_with_no_other_coverage_gets_no_related_articles(quake_client):
    """Another earthquake is the same kind of story, not the same story."""
    answer = quake_client.get(f"/articles/{NEPAL['id']}/related")
    assert answer.status_code == 200 and answer.json()["results"] == [], answer.json()
    assert len(quake_client.get(f"/articles/{NEPAL['id']}/related", params={"scope": "similar", "k": 3})
               .json()["results"]) == 3
    story = quake_client.get(f"/articles/{NEPAL['id']}/story").json()
    assert [report["article_id"] for report in story["articles"]] == [NEPAL["id"]]
    assert quake_client.get("/articles/no-such-article/story").status_code == 404


def test_a_posted_article_joins_its_story_before_the_post_returns(quake_client):
    before = quake_client.get(f"/articles/{KERMANSHAH['id']}/story").json()
    answer = quake_client.post("/articles", json=KERMANSHAH_FOLLOW_UP, headers={"Authorization": f"Bearer {KEY}"})
    assert answer.status_code == 200, answer.text
    story = quake_client.get(f"/articles/{KERMANSHAH_FOLLOW_UP['id']}/story").json()
    assert story["story_id"] == before["story_id"]
    assert [report["article_id"] for report in story["articles"]] == [KERMANSHAH["id"], KERMANSHAH_FOLLOW_UP["id"]]
    hits = quake_client.get("/search", params={"q": "Sarpol-e Zahab", "k": 2}).json()["results"]
    assert {hit["story_id"] for hit in hits} == {before["story_id"]}
    # A report of no story here starts its own.
    lonely = dict(NEPAL, id="quake-nepal-2", title="Nepal quake: Pokhara schools reopen",
                  text="Schools in Pokhara reopened on Monday, a week after the magnitude 5.5 earthquake that "
                       "killed 5 people in the city, the district education office said.")
    quake_client.post("/articles", json=lonely, headers={"Authorization": f"Bearer {KEY}"})
    own = quake_client.get(f"/articles/{lonely['id']}/story").json()
    assert own["story_id"] != before["story_id"]


# Sample reports of one kind of event (Atlantic storms of 2019; Nancy Pelosi in the House) that are
# different events, and two reports of one of them (Hurricane Dorian), for the same-story decision.
STORMS = {"barry": "wn-f20f06ed2138", "three": "wn-c370b70f4bce", "dorian": "wn-c77aaa175a1c",
          "dorian_after": "wn-adb763de2cca", "humberto": "wn-0ecd0b02d772"}
PELOSI = {"speaker": "wn-b815ca1248d4", "inquiry": "wn-59c18890cdc8", "rules": "wn-f4f5d189b3eb"}


@pytest.fixture(scope="module")
def same_kind_index(tmp_path_factory):
    return index_sample(tmp_path_factory.mktemp("same-kind"), set(STORMS.values()) | set(PELOSI.values()))


def test_a_storm_or_a_session_of_the_same_kind_is_not_the_same_story(same_kind_index, encoder):
    searcher = Searcher(same_kind_index, encoder=encoder)
    try:
        related = {name: {hit.article_id for hit in searcher.related(article, 10)} for name, article in STORMS.items()}
        # Tropical Depression Three (July) dissipated before Dorian (September) formed.
        assert STORMS["dorian"] not in related["three"], related["three"]
        # Dorian's two reports stay one story.
        assert STORMS["dorian_after"] in related["dorian"], related["dorian"]
        # Pelosi elected Speaker in January is not the impeachment inquiry of September.
        speaker = {hit.article_id for hit in searcher.related(PELOSI["speaker"], 10)}
        assert not speaker & {PELOSI["inquiry"], PELOSI["rules"]}, speaker
    finally:
        searcher.close()
