"""Related coverage finds the other reports of the same story, not other stories of the same kind
(search_api.related)."""

from __future__ import annotations

import pytest

from conftest import write_jsonl
from indexer.inputs import read_paths
from indexer.writer import IndexWriter
from search_api.evaluation import evaluate_related_modes
from search_api.searcher import Searcher

# Two reports of one earthquake, sharing its specifics (places, numbers, the Red Crescent) but not
# its angle (the quake; the politics of the housing that fell), and reports of other earthquakes
# written almost as the first report is, with other places and numbers, as agency copy of any quake
# reads. Passage similarity alone ranks another quake's report above the follow-up.
KERMANSHAH = {"id": "quake-iran-1", "source": "Wire", "published": "2017-11-14",
              "title": "Magnitude 6.4 earthquake hits Sarpol-e Zahab in western Iran",
              "text": "A magnitude 6.4 earthquake struck near the town of Sarpol-e Zahab in Kermanshah province on "
                      "Tuesday, killing at least 14 people and injuring 230, the Red Crescent said. Rescue teams "
                      "searched collapsed buildings through the night. The quake was also felt in Baghdad."}
KERMANSHAH_FOLLOW_UP = {"id": "quake-iran-2", "source": "Gazette", "published": "2017-11-15",
                        "title": "Rouhani visits Sarpol-e Zahab, blames builders of Mehr housing",
                        "text": "President Hassan Rouhani toured Sarpol-e Zahab in Kermanshah province on Wednesday "
                                "and promised that those who built the Mehr housing blocks that collapsed there "
                                "would be held to account. The Red Crescent said 14 people had died in the town "
                                "and 230 were treated in hospital. Officials in Baghdad offered help."}
VALPARAISO = {"id": "quake-chile", "source": "Wire", "published": "2017-11-16",
              "title": "Magnitude 6.2 earthquake hits Valparaiso in central Chile",
              "text": "A magnitude 6.2 earthquake struck near the port of Valparaiso in central Chile on Thursday, "
                      "killing at least 9 people and injuring 120, the emergency office said. Rescue teams searched "
                      "collapsed buildings through the night. The quake was also felt in Santiago."}
SUMATRA = {"id": "quake-indonesia", "source": "Wire", "published": "2017-10-02",
           "title": "Magnitude 5.9 earthquake hits Padang on Sumatra",
           "text": "A magnitude 5.9 earthquake struck off the coast of Padang on Sumatra on Monday, killing 3 people "
                   "and injuring 40, the disaster agency said. Rescue teams searched collapsed houses. The quake "
                   "was also felt in Jakarta."}
NEPAL = {"id": "quake-nepal", "source": "Herald", "published": "2017-09-20",
         "title": "Earthquake kills 5 in Pokhara, Nepal",
         "text": "An earthquake of magnitude 5.5 struck near Pokhara in Nepal on Wednesday, killing 5 people, police "
                 "said. Rescue teams searched collapsed buildings and the quake was also felt in Kathmandu."}
# The first report, syndicated by another outlet: the same text, its own id and source.
SYNDICATED = dict(KERMANSHAH, id="quake-iran-copy", source="Courier")
# The follow-up without a date (an archive's scraped page often has none).
UNDATED = dict(KERMANSHAH_FOLLOW_UP, id="quake-iran-undated", published="")


@pytest.fixture(scope="module")
def quake_index(tmp_path_factory, encoder):
    folder = tmp_path_factory.mktemp("related")
    path = write_jsonl(folder / "quakes.jsonl", [KERMANSHAH, KERMANSHAH_FOLLOW_UP, VALPARAISO, SUMATRA, NEPAL,
                                                   SYNDICATED])
    with IndexWriter(folder / "index", encoder=encoder) as writer:
        assert not writer.add(read_paths([path])).problems
    return folder / "index"


def test_a_report_of_the_same_event_ranks_above_a_report_of_the_same_kind(quake_index, encoder):
    searcher = Searcher(quake_index, encoder=encoder)
    ranked = [hit.article_id for hit in searcher.related(KERMANSHAH["id"], k=4) if not hit.near_duplicate]
    assert ranked[0] == KERMANSHAH_FOLLOW_UP["id"], ranked
    # And the other way round: the follow-up's first related report is the first one (or its copy).
    ranked = [hit.article_id for hit in searcher.related(KERMANSHAH_FOLLOW_UP["id"], k=4)]
    assert ranked[0] in (KERMANSHAH["id"], SYNDICATED["id"]), ranked


def test_a_syndicated_copy_is_still_marked_a_near_duplicate_and_not_counted(quake_index, encoder):
    searcher = Searcher(quake_index, encoder=encoder)
    hits = searcher.related(KERMANSHAH["id"], k=2, scope="similar")
    copies = [hit.article_id for hit in hits if hit.near_duplicate]
    others = [hit.article_id for hit in hits if not hit.near_duplicate]
    assert copies == [SYNDICATED["id"]] and len(others) == 2, hits
    # The story's own reports: the copy, and the follow-up, not the other quakes.
    story = {hit.article_id: hit.near_duplicate for hit in searcher.related(KERMANSHAH["id"], k=2)}
    assert story == {SYNDICATED["id"]: True, KERMANSHAH_FOLLOW_UP["id"]: False}, story
    # A search shows the story once, the copy listed with it.
    shown = [hit for hit in searcher.search("Sarpol-e Zahab earthquake", k=5).results
             if hit.article_id in (KERMANSHAH["id"], SYNDICATED["id"])]
    assert len(shown) == 1 and len(shown[0].also_published_in) == 1


def test_related_coverage_of_an_article_without_a_date(tmp_path, encoder):
    path = write_jsonl(tmp_path / "quakes.jsonl", [KERMANSHAH, UNDATED, VALPARAISO, SUMATRA, NEPAL])
    with IndexWriter(tmp_path / "index", encoder=encoder) as writer:
        assert not writer.add(read_paths([path])).problems
    searcher = Searcher(tmp_path / "index", encoder=encoder)
    assert searcher.article(UNDATED["id"])["published"] == ""
    ranked = [hit.article_id for hit in searcher.related(UNDATED["id"], k=3)]
    assert ranked[0] == KERMANSHAH["id"], ranked
    ranked = [hit.article_id for hit in searcher.related(KERMANSHAH["id"], k=3)]
    assert ranked[0] == UNDATED["id"], ranked


def test_eval_related_reports_the_baselines_beside_the_default(quake_index, encoder):
    """A drop of the default below its own baselines shows in the same run."""
    searcher = Searcher(quake_index, encoder=encoder)
    story = {KERMANSHAH["id"], KERMANSHAH_FOLLOW_UP["id"], SYNDICATED["id"]}
    labels = {article["id"]: ("kermanshah" if article["id"] in story else article["id"])
              for article in (KERMANSHAH, KERMANSHAH_FOLLOW_UP, VALPARAISO, SUMATRA, NEPAL, SYNDICATED)}
    results = evaluate_related_modes(searcher, labels, k=2)
    assert results["articles"] == 6 and set(results["baselines"]) == {"dense", "lexical"}
    for metrics in (results, *results["baselines"].values()):
        assert set(metrics) >= {"precision@5", "precision@10", "map"}
    # Every report of the story finds the other two first: an average precision of 1 for each.
    assert results["map"] == pytest.approx(3 / 6)
