import json
import sqlite3

from indexer.article import Article
from indexer.boilerplate import LearnedBoilerplate
from indexer.cleaning import clean_text
from indexer.writer import IndexWriter
from search_api.cli import main

from conftest import write_jsonl

TOWNS = ["Arden", "Bexley", "Carrow", "Dunmore", "Elsworth", "Fenwick", "Garston", "Holt", "Ivybridge", "Jarrow"]


def story(n: int) -> list[str]:
    town = TOWNS[n % len(TOWNS)]
    return [f"The council of {town} voted on {n + 3} new bus routes on Tuesday evening.",
            f"Residents of {town} had asked for later buses for {n + 2} years, the mayor said."]


def scraped(n: int, outlet: str = "Gazette") -> str:
    """A story wrapped in a template no pattern knows: a head line, an insert between the paragraphs
    ("ALSO READ: <another headline each time>"), and a tail with a block of links."""
    first, second = story(n)
    return "\n\n".join([f"{outlet} Online edition", first, f"ALSO READ: Harbour works delayed again by {n} weeks",
                        second, f"Catch up with the {outlet} podcast every morning",
                        "Elsewhere on the site:", f"Ferry fares rise {n}%", f"Pier reopens after {n} months"])


def test_a_sources_template_is_learned_after_a_few_stories_and_removed_head_mid_body_and_tail():
    learned = LearnedBoilerplate()
    cleaned = []
    for n in range(8):
        learned.observe("Gazette", f"g{n}", scraped(n))
        cleaned.append(clean_text(scraped(n), learned.for_source("Gazette")).text)
    # The first two stories come before the template recurs in three: the patterns alone clean them.
    assert "Gazette Online edition" in cleaned[0]
    for n in range(2, 8):
        assert cleaned[n] == "\n\n".join(story(n)), cleaned[n]
    # Another outlet has learned nothing from the Gazette.
    assert clean_text(scraped(9, "Courier"), learned.for_source("Courier")).text.startswith("Courier Online")


def test_a_syndicated_story_and_a_quote_carried_by_a_few_stories_keep_their_lines():
    learned = LearnedBoilerplate()
    quote = '"We will not close the line," the transport minister told the assembly.'
    syndicated = "\n\n".join(["Floods closed the coast road at dawn.", "Crews expect to reopen it by Friday."])
    for n in range(20):
        learned.observe("Gazette", f"g{n}", scraped(n) + (f"\n\n{quote}" if n % 7 == 0 else ""))
        if n % 4 == 0:  # the same story under five ids, as wire copy arrives
            learned.observe("Gazette", f"wire-{n}", syndicated)
    assert clean_text(syndicated, learned.for_source("Gazette")).text == syndicated
    assert quote in clean_text(scraped(3) + f"\n\n{quote}", learned.for_source("Gazette")).text


def test_learned_lines_survive_a_restart_and_clean_the_next_articles(tmp_path, encoder):
    index = tmp_path / "index"
    with IndexWriter(index, encoder=encoder) as writer:
        writer.add([Article(f"g{n}", f"Buses {n}", scraped(n), source="Gazette") for n in range(4)])
    with sqlite3.connect(index / "index.sqlite") as conn:
        counts = dict(conn.execute("SELECT key, stories FROM boilerplate_lines WHERE source = 'Gazette'"))
        texts = dict(conn.execute("SELECT id, text FROM articles"))
    assert counts["line:gazette online edition"] == 4 and counts["label:also read"] == 4
    assert "ALSO READ" in texts["g0"] and texts["g3"] == "\n\n".join(story(3))
    with IndexWriter(index, encoder=encoder) as writer:  # a new process: the counts come from the index
        writer.add([Article("g4", "Buses 4", scraped(4), source="Gazette"),
                    Article("g0", "Buses 0", scraped(0), source="Gazette")])  # unchanged: not counted again
    with sqlite3.connect(index / "index.sqlite") as conn:
        assert conn.execute("SELECT text FROM articles WHERE id = 'g4'").fetchone()[0] == "\n\n".join(story(4))
        assert conn.execute("SELECT stories FROM boilerplate_lines WHERE key = 'line:gazette online edition'"
                            ).fetchone()[0] == 5


def test_eval_cleaning_scores_removed_boilerplate_and_kept_story_lines_per_source(tmp_path, capsys):
    records = [{"id": f"g{n}", "source": "Gazette", "text": scraped(n), "clean": "\n\n".join(story(n))}
               for n in range(6)]
    records.append({"id": "c0", "url": "https://www.courier.example/c0", "text": scraped(0, "Courier"),
                    "clean": "\n\n".join(story(0))})
    path = write_jsonl(tmp_path / "scraped.jsonl", records)
    assert main(["eval-cleaning", str(path), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    # Gazette: 6 template lines in each of 6 stories; stories 0 and 1 lose none of the 6, the others all.
    assert scores["per_source"]["Gazette"]["boilerplate_removed"] == round(24 / 36, 4)
    assert scores["per_source"]["courier.example"] == {"boilerplate_removed": 0.0, "story_kept": 1.0,
                                                        "boilerplate_lines": 6, "story_lines": 2, "articles": 1}
    assert scores["story_kept"] == 1.0 and scores["boilerplate_removed"] == round(24 / 42, 4)

    (tmp_path / "bad.jsonl").write_text('{"text": "a"}\n', encoding="utf-8")
    assert main(["eval-cleaning", str(tmp_path / "bad.jsonl")]) == 1
    assert "bad.jsonl:1: field 'clean' is missing" in capsys.readouterr().err
