"""Syndicated copies: the same wire story under another headline, with the outlet's boilerplate
and a trimmed last paragraph, is grouped with the original; other coverage of the event is not."""

import sqlite3

import pytest
from fastapi.testclient import TestClient

from indexer import store
from indexer.duplicates import THRESHOLD, signature, similarity
from indexer.inputs import read_paths
from indexer.writer import IndexWriter
from search_api.app import create_app
from search_api.searcher import Searcher

from conftest import LLAMA, write_jsonl

WIRE = [
    "Emergency crews evacuated more than 2,000 residents from low-lying districts of Porto Alegre on Sunday "
    "as the Guaiba river rose to its highest level in eight decades, officials said.",
    "The state civil defence agency said 14 people had died and 40 were missing after three days of torrential "
    "rain across Rio Grande do Sul, where rivers burst their banks and landslides cut off dozens of towns.",
    "Governor Eduardo Leite described the flooding as the worst disaster in the state's history and asked the "
    "federal government for helicopters, boats and emergency funds to reach isolated communities.",
    "Meteorologists forecast further heavy rain through Wednesday, warning that water levels could keep "
    "rising in the state capital even after the storms move north.",
    "Schools in 200 municipalities were closed and the main bus terminal in Porto Alegre was shut after water "
    "flooded its lower floors, the city's transport department said.",
]
ORIGINAL = {"id": "wire-1", "title": "Floods force thousands from homes in southern Brazil", "source": "Wire Service",
            "published": "2024-05-05", "text": "\n\n".join(WIRE)}
COPY = {"id": "gazette-77", "title": "Brazil: worst floods in state history, governor says", "source": "Daily Gazette",
        "published": "2024-05-05",
        "text": "By Staff and agencies\n\n" + "\n\n".join(WIRE[:-1]) +
                "\n\nRead the full article here\nYou may also like\n© 2024 Daily Gazette. All rights reserved."}
OTHER_COVERAGE = {
    "id": "herald-5", "title": "Porto Alegre under water as Guaiba overflows", "source": "Herald",
    "published": "2024-05-06",
    "text": "Our correspondent in Porto Alegre describes streets turned into rivers. Residents waded through "
            "chest-deep water carrying children and pets, while volunteers in fishing boats ferried the elderly "
            "to shelters set up in gymnasiums. The flooding, caused by days of rain, has killed at least 14 "
            "people across Rio Grande do Sul, according to the state government, and the airport has suspended "
            "all flights until further notice."}
# Another outlet's copy of the same trimmed text, with a credit line of its own.
SECOND_COPY = {"id": "courier-3", "title": "Floods in Brazil", "source": "Courier", "published": "2024-05-06",
               "text": "\n\n".join(WIRE[:-1]) + "\n\nReporting by our wire partners."}
UNRELATED = {"id": "tech-9", "title": "Chip maker opens new plant", "source": "Wire Service", "published": "2024-05-04",
             "text": "A semiconductor company opened a factory in Arizona on Saturday, promising 3,000 jobs and "
                     "production of advanced processors by next year."}


def test_minhash_similarity_separates_copies_from_other_coverage():
    from indexer.cleaning import clean_text

    original, copy, other = (signature(clean_text(a["text"]).text) for a in (ORIGINAL, COPY, OTHER_COVERAGE))
    assert similarity(original, copy) >= 0.8
    assert similarity(original, other) < 0.2
    assert similarity(original, original) == 1.0


@pytest.fixture
def wire_index(tmp_path, encoder):
    path = write_jsonl(tmp_path / "wire.jsonl", [ORIGINAL, OTHER_COVERAGE, UNRELATED, COPY])
    with IndexWriter(tmp_path / "index", encoder=encoder) as writer:
        writer.add(read_paths([path]))
    return tmp_path / "index"


def test_search_shows_one_copy_with_the_others_listed(wire_index, encoder):
    searcher = Searcher(wire_index, encoder=encoder)
    for mode in ("hybrid", "dense", "lexical"):
        results = searcher.search("flooding in Rio Grande do Sul", k=10, mode=mode).results
        ids = [hit.article_id for hit in results]
        assert len({"wire-1", "gazette-77"} & set(ids)) == 1, ids
        assert "herald-5" in ids
        shown = next(hit for hit in results if hit.article_id in ("wire-1", "gazette-77"))
        assert [c.article_id for c in shown.also_published_in] == \
            [{"wire-1": "gazette-77", "gazette-77": "wire-1"}[shown.article_id]]
        assert shown.also_published_in[0].source in ("Wire Service", "Daily Gazette")


def test_related_marks_copies_and_still_lists_other_coverage(wire_index, encoder):
    related = Searcher(wire_index, encoder=encoder).related("wire-1", k=2, scope="similar")
    by_id = {hit.article_id: hit for hit in related}
    assert by_id["gazette-77"].near_duplicate is True
    assert by_id["herald-5"].near_duplicate is False
    # The copy does not take one of the k places: two other articles are listed besides it.
    assert sum(not hit.near_duplicate for hit in related) == 2
    assert related[0].article_id == "gazette-77" or related[1].article_id == "gazette-77"


def test_api_returns_also_published_in_and_near_duplicate(wire_index, encoder):
    with TestClient(create_app(wire_index, encoder=encoder)) as client:
        results = client.get("/search", params={"q": "Porto Alegre floods"}).json()["results"]
        assert sum(len(r["also_published_in"]) for r in results) == 1
        related = client.get("/articles/gazette-77/related").json()["results"]
        assert [r["near_duplicate"] for r in related if r["article_id"] == "wire-1"] == [True]


def test_removing_the_first_copy_keeps_the_other_searchable(wire_index, encoder):
    with IndexWriter(wire_index, encoder=encoder) as writer:
        writer.remove(["wire-1"])
    results = Searcher(wire_index, encoder=encoder).search("flooding in Rio Grande do Sul").results
    ids = [hit.article_id for hit in results]
    assert "gazette-77" in ids and "wire-1" not in ids


def groups(index_dir) -> dict[str, str]:
    """Every article's duplicate group, as stored."""
    conn = sqlite3.connect(index_dir / store.DATABASE)
    try:
        return dict(conn.execute("SELECT id, duplicate_group FROM articles"))
    finally:
        conn.close()


def test_an_original_updated_to_other_text_leaves_its_copys_group(wire_index, encoder, tmp_path):
    before = groups(wire_index)
    assert before["wire-1"] == before["gazette-77"]
    assert not set(before.values()) & set(before), "a group id is an article's id"
    path = write_jsonl(tmp_path / "update.jsonl", [dict(ORIGINAL, title=LLAMA["title"], text=LLAMA["text"])])
    with IndexWriter(wire_index, encoder=encoder) as writer:
        assert writer.add(read_paths([path])).updated == 1
    after = groups(wire_index)
    assert list(after.values()).count(after["gazette-77"]) == 1, after  # the copy stands alone now
    searcher = Searcher(wire_index, encoder=encoder)
    shown = [hit for hit in searcher.search("flooding in Rio Grande do Sul").results if hit.article_id == "gazette-77"]
    assert shown and shown[0].also_published_in == []
    related = {hit.article_id: hit.near_duplicate for hit in searcher.related("gazette-77", k=10)}
    assert related.get("wire-1") is not True


def test_removing_an_original_keeps_its_copies_together_and_frees_its_id(tmp_path, encoder):
    index = tmp_path / "index"
    with IndexWriter(index, encoder=encoder) as writer:
        writer.add(read_paths([write_jsonl(tmp_path / "wire.jsonl", [ORIGINAL, COPY, SECOND_COPY, UNRELATED])]))
    before = groups(index)
    assert before["wire-1"] == before["gazette-77"] == before["courier-3"] != before["tech-9"]
    with IndexWriter(index, encoder=encoder) as writer:
        writer.remove(["wire-1"])
    after = groups(index)
    assert after["gazette-77"] == after["courier-3"] != after["tech-9"]
    # An unrelated article that takes the removed id is in no group of theirs.
    path = write_jsonl(tmp_path / "new.jsonl", [dict(LLAMA, id="wire-1")])
    with IndexWriter(index, encoder=encoder) as writer:
        writer.add(read_paths([path]))
    again = groups(index)
    assert again["gazette-77"] == again["courier-3"] and again["wire-1"] not in (again["gazette-77"], again["tech-9"])
    assert not set(again.values()) & set(again)


EMOJI_ONLY = ["😀🎉🔥🥳🎈🎂🍰🎁", "🌧️🌊🏠🚣🆘🚁⛈️💧", "⚽🏆🥇🏟️📣🎽🧤👟"]


def test_texts_without_words_are_not_one_group(tmp_path, encoder):
    signatures = [signature(text) for text in EMOJI_ONLY]
    assert all(similarity(a, b) < THRESHOLD for i, a in enumerate(signatures) for b in signatures[i + 1:])
    assert similarity(signature(EMOJI_ONLY[0]), signature(EMOJI_ONLY[0])) == 1.0
    records = [{"id": f"emoji-{n}", "title": f"Mood {n}", "text": text} for n, text in enumerate(EMOJI_ONLY)]
    with IndexWriter(tmp_path / "index", encoder=encoder) as writer:
        assert writer.add(read_paths([write_jsonl(tmp_path / "emoji.jsonl", records)])).indexed == 3
    assert len(set(groups(tmp_path / "index").values())) == 3
