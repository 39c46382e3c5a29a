import json
import sqlite3

from indexer.article import Article
from indexer.boilerplate import LearnedBoilerplate, line_keys
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
        counts = dict(conn.execute("SELECT key, stories FROM learned_lines WHERE source = 'Gazette'"))
        texts = dict(conn.execute("SELECT id, text FROM articles"))
    online_edition, [_, also_read] = line_keys("Gazette Online edition")[0], line_keys("ALSO READ: Ferry fares rise")
    assert counts[online_edition] == 4 and counts[also_read] == 4
    # g0 and g1 were written before the template was learned; the run's end cleaned them again.
    assert all(texts[f"g{n}"] == "\n\n".join(story(n)) for n in range(4))
    with IndexWriter(index, encoder=encoder) as writer:  # a new process: the counts come from the index
        writer.add([Article("g4", "Buses 4", scraped(4), source="Gazette"),
                    Article("g0", "Buses 0", scraped(0), source="Gazette")])  # unchanged: not counted again
    with sqlite3.connect(index / "index.sqlite") as conn:
        assert conn.execute("SELECT text FROM articles WHERE id = 'g4'").fetchone()[0] == "\n\n".join(story(4))
        assert conn.execute("SELECT stories FROM learned_lines WHERE key = ?", (online_edition,)).fetchone()[0] == 5


def test_eval_cleaning_scores_removed_boilerplate_and_kept_story_lines_per_source(tmp_path, capsys):
    records = [{"id": f"g{n}", "source": "Gazette", "text": scraped(n), "clean": "\n\n".join(story(n))}
               for n in range(6)]
    records.append({"id": "c0", "url": "https://www.courier.example/c0", "text": scraped(0, "Courier"),
                    "clean": "\n\n".join(story(0))})
    path = write_jsonl(tmp_path / "scraped.jsonl", records)
    assert main(["eval-cleaning", str(path), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    # Gazette: 6 template lines in each of 6 stories. As indexed, stories 0 and 1 lose none of the 6
    # (nothing learned yet), the others all; cleaned again at the end, all 36 are gone.
    assert scores["as_indexed"]["boilerplate_removed"] == round(24 / 42, 4)
    assert scores["per_source"]["Gazette"]["boilerplate_removed"] == 1.0
    assert scores["per_source"]["courier.example"] == {"boilerplate_removed": 0.0, "story_kept": 1.0,
                                                        "boilerplate_lines": 6, "story_lines": 2, "articles": 1}
    assert scores["story_kept"] == 1.0 and scores["boilerplate_removed"] == round(36 / 42, 4)

    (tmp_path / "bad.jsonl").write_text('{"text": "a"}\n', encoding="utf-8")
    assert main(["eval-cleaning", str(tmp_path / "bad.jsonl")]) == 1
    assert "bad.jsonl:1: field 'clean' is missing" in capsys.readouterr().err


def test_earlier_articles_are_cleaned_again_and_only_their_changed_passages_embedded(tmp_path, encoder):
    def middle(n: int) -> str:
        return " ".join(f"Route {k} will run past the {TOWNS[(k + n) % 10]} library every hour." for k in range(8))

    def long_story(n: int) -> str:  # several passages at 48 word pieces; the middle ones hold no template
        return scraped(n).replace("\n\nCatch up", f"\n\n{middle(n)}\n\nCatch up")

    index = tmp_path / "index"
    with IndexWriter(index, encoder=encoder, max_tokens=48, title_tokens=8) as writer:
        writer.add([Article(f"g{n}", f"Buses {n}", long_story(n), source="Gazette") for n in range(2)])
    with sqlite3.connect(index / "index.sqlite") as conn:
        assert "Gazette Online edition" in conn.execute("SELECT text FROM articles WHERE id = 'g0'").fetchone()[0]
        before = {text for (text,) in conn.execute("SELECT text FROM chunks WHERE article_id IN ('g0', 'g1')")}
    embedded: list[str] = []
    with IndexWriter(index, encoder=encoder) as writer:
        encode = writer.encoder.encode_with_tokens
        writer.encoder.encode_with_tokens = lambda texts: (embedded.extend(texts), encode(texts))[1]
        summary = writer.add([Article("g2", "Buses 2", long_story(2), source="Gazette")])
    # The third story teaches the template; the first two are rewritten without it.
    assert summary.indexed == 1 and summary.updated == 2
    with sqlite3.connect(index / "index.sqlite") as conn:
        for n in range(3):
            text = conn.execute("SELECT text FROM articles WHERE id = ?", (f"g{n}",)).fetchone()[0]
            assert text == "\n\n".join([*story(n), middle(n)]), text
        after = {text for (text,) in conn.execute("SELECT text FROM chunks WHERE article_id IN ('g0', 'g1')")}
        g2_chunks = conn.execute("SELECT COUNT(*) FROM chunks WHERE article_id = 'g2'").fetchone()[0]
    kept, changed = after & before, after - before
    assert kept and changed  # some passages stayed as they were, some lost template lines
    # Embedded in the second run: g2's passages, and of g0 and g1 only the changed ones.
    assert len(embedded) == g2_chunks + len(changed)
    from search_api.searcher import Searcher
    hit = Searcher(index, encoder=encoder).search("Arden later buses", k=1).results[0]
    assert hit.article_id == "g0" and "ALSO READ" not in hit.passages[0].text


def test_stories_that_differ_only_in_their_figures_and_an_article_of_repeated_lines_are_kept():
    learned = LearnedBoilerplate()
    reports = [f"Shares in Harbour Holdings rose {n}.{n} per cent to {100 + n} pence in early trading."
               for n in range(6)]
    for n, report in enumerate(reports):
        learned.observe("Wire", f"w{n}", report + "\n\nMarkets desk, Harbour Wire")
    assert [clean_text(report, learned.for_source("Wire")).text for report in reports] == reports
    # Every line of this one is learned: it keeps what the patterns keep instead of vanishing.
    assert clean_text("Markets desk, Harbour Wire", learned.for_source("Wire")).text == "Markets desk, Harbour Wire"


NAMES = ["Priya Nair", "David Levy", "Tom Okafor", "Ana Lima", "Jon Berg", "Mei Chen", "Sara Holm", "Omar Aziz"]


def test_a_slotted_credit_line_is_learned_and_removed_while_a_slotted_quote_is_kept():
    def article(n: int) -> str:  # every story quotes someone and ends with credits: a new name each time
        first, second = story(n)
        return "\n\n".join([first, f'"We will keep the buses running," said {NAMES[(n + 3) % 8]}.',
                            f"Interactive graphic by {NAMES[(n + 4) % 8]}",  # mid-body, no sentence: template
                            f"{NAMES[(n + 5) % 8]} told the Gazette.", second,
                            f"Reporting by {NAMES[n % 8]} and {NAMES[(n + 2) % 8]}; Editing by {NAMES[(n + 1) % 8]}"])

    learned = LearnedBoilerplate()
    for n in range(8):
        learned.observe("Gazette", f"g{n}", article(n))
    for n in range(8):
        first, second = story(n)
        assert clean_text(article(n), learned.for_source("Gazette")).text == "\n\n".join(
            [first, f'"We will keep the buses running," said {NAMES[(n + 3) % 8]}.',
             f"{NAMES[(n + 5) % 8]} told the Gazette.", second])
    # Learned for the Gazette only, and only once it recurs in 3 stories.
    assert learned.is_boilerplate("Gazette", "Reporting by Lena Voss; Editing by Ian Roe", shapes=True)
    assert not learned.is_boilerplate("Courier", "Reporting by Lena Voss; Editing by Ian Roe", shapes=True)
    early = LearnedBoilerplate()
    for n in range(2):
        early.observe("Gazette", f"g{n}", article(n))
    assert not early.is_boilerplate("Gazette", "Reporting by Lena Voss; Editing by Ian Roe", shapes=True)


def templated_and_other_articles() -> list[Article]:
    """Issue 21's reproduction: 12 + 12 stories of two templated outlets, then 20 of other outlets."""
    outlets = [Article(f"{outlet[0].lower()}{n}", f"Buses {n}", scraped(n, outlet), source=outlet)
               for n in range(12) for outlet in ("Gazette", "Courier")]
    others = [Article(f"o{n}", f"Buses {n}", "\n\n".join(story(n + 12)), source=f"Outlet {n}") for n in range(20)]
    return outlets + others


def stored(index) -> tuple[list, list]:
    with sqlite3.connect(index / "index.sqlite") as conn:
        return (conn.execute("SELECT id, text FROM articles ORDER BY id").fetchall(),
                conn.execute("SELECT article_id, position, text FROM chunks ORDER BY article_id, position").fetchall())


class Killed(BaseException):
    """Stands for a SIGKILL: nothing after it runs but what `finally` blocks do."""


def test_a_run_killed_after_its_10th_batch_and_rerun_equals_a_clean_build(tmp_path, encoder, monkeypatch):
    articles = templated_and_other_articles()
    with IndexWriter(tmp_path / "clean", encoder=encoder, commit_chunks=4) as writer:
        writer.add(articles)
    clean_texts, clean_chunks = stored(tmp_path / "clean")
    assert not any("ALSO READ" in text for _, text in clean_texts)

    write, batches = IndexWriter._write, []

    def write_then_die(self, batch, embedded, summary):
        write(self, batch, embedded, summary)
        batches.append(len(batch))
        if len(batches) == 10:
            raise Killed()

    killed = tmp_path / "killed"
    with monkeypatch.context() as patch:
        patch.setattr(IndexWriter, "_write", write_then_die)
        writer = IndexWriter(killed, encoder=encoder, commit_chunks=4)
        try:
            writer.add(articles)
        except Killed:
            pass
        writer._release()  # the process dies: no save, no end-of-run cleaning
    assert sum(batches) == 40  # the 11th batch and the end-of-run cleaning never ran
    with IndexWriter(killed, encoder=encoder, commit_chunks=4) as writer:
        summary = writer.add(articles)
    assert summary.indexed == 4 and summary.unchanged == 40
    assert stored(killed) == (clean_texts, clean_chunks)


def rows_read_by_one_write(index, encoder, article: Article) -> int:
    """SQLite steps (VM instructions / 10, which grow with the rows read) of adding one article."""
    with IndexWriter(index, encoder=encoder) as writer:
        steps = [0]

        def count() -> int:
            steps[0] += 1
            return 0

        for conn in (writer.conn, writer._reader):
            conn.set_progress_handler(count, 10)
        writer.add([article])
        for conn in (writer.conn, writer._reader):
            conn.set_progress_handler(None, 0)
    return steps[0]


def test_a_writes_cost_does_not_depend_on_the_size_of_its_source(tmp_path, encoder):
    # Two archives of the same size: the Gazette has 60 of its 66 stories in one, 6 in the other.
    def archive(gazette: int) -> list[Article]:
        return ([Article(f"g{n}", f"Buses {n}", scraped(n), source="Gazette") for n in range(gazette)]
                + [Article(f"c{n}", f"Buses {n}", scraped(n, "Courier"), source="Courier") for n in range(66 - gazette)])

    costs = []
    for gazette in (6, 60):
        index = tmp_path / f"gazette-{gazette}"
        with IndexWriter(index, encoder=encoder, commit_chunks=512) as writer:
            writer.add(archive(gazette))
        costs.append(rows_read_by_one_write(index, encoder, Article("new", "Buses", scraped(70), source="Gazette")))
    small, large = costs
    # Before: the first use of the Gazette read all its story keys and line counts (10 times as many).
    assert large < small * 1.1, costs


def test_an_index_made_before_running_counts_and_versions_gains_them_once_and_keeps_learning(tmp_path, encoder):
    index = tmp_path / "index"
    with IndexWriter(index, encoder=encoder) as writer:
        writer.add([Article(f"g{n}", f"Buses {n}", scraped(n), source="Gazette") for n in range(4)])
    with sqlite3.connect(index / "index.sqlite") as conn:  # as an index of the previous version had it
        conn.executescript("DROP TABLE boilerplate_sources; DROP TABLE cleaned_with;")
    with IndexWriter(index, encoder=encoder) as writer:
        writer.add([Article("g4", "Buses 4", scraped(4), source="Gazette")])
    with sqlite3.connect(index / "index.sqlite") as conn:
        assert conn.execute("SELECT stories FROM boilerplate_sources WHERE source = 'Gazette'").fetchone()[0] == 5
        assert conn.execute("SELECT COUNT(*) FROM cleaned_with WHERE source = 'Gazette'").fetchone()[0] == 5
        assert conn.execute("SELECT text FROM articles WHERE id = 'g4'").fetchone()[0] == "\n\n".join(story(4))


SECTIONS = ["business", "politics", "science", "sport", "travel", "health"]
CITIES = ["Lagos", "Oslo", "Lima", "Perth", "Kyoto", "Quito", "Accra"]


def test_a_section_word_that_changes_is_a_slot_and_an_all_capitals_head_line_is_learned():
    # Six sections in turn: each exact line is in a sixth of the stories, under the 20% a line
    # needs; the line's shape is in every story.
    def article(n: int) -> str:
        section = SECTIONS[n % 6]
        return "\n\n".join([f"GAZETTE — {section.upper()}", *story(n),
                            f"{NAMES[n % 8]} covers {section} for the Gazette.",
                            f"More {section} news from the Gazette"])

    learned = LearnedBoilerplate()
    for n in range(24):
        learned.observe("Gazette", f"g{n}", article(n))
    for n in range(24):
        assert clean_text(article(n), learned.for_source("Gazette")).text == "\n\n".join(story(n))


def test_a_byline_of_a_name_and_a_place_is_learned_at_the_head_while_names_in_the_body_stay():
    def article(n: int) -> str:
        first, second = story(n)
        return "\n\n".join([f"{NAMES[n % 8]}, {CITIES[n % 7]}", first,
                            f"{NAMES[(n + 1) % 8]}, {NAMES[(n + 2) % 8]}", second])

    learned = LearnedBoilerplate()
    for n in range(10):
        learned.observe("Gazette", f"g{n}", article(n))
    for n in range(3, 10):
        first, second = story(n)
        # The byline goes; the same shape mid-body (a list of names, no sentence) is the story's.
        assert clean_text(article(n), learned.for_source("Gazette")).text == "\n\n".join(
            [first, f"{NAMES[(n + 1) % 8]}, {NAMES[(n + 2) % 8]}", second])
    # A line with a figure has no byline shape: a score is a story's line.
    assert not learned.is_boilerplate("Gazette", "Arsenal 3, Everton 0", shapes=True, edge=True)


def test_a_results_line_whose_unit_changes_is_kept_a_slot_is_never_widened():
    # "Revenue <x> <unit> vs <y> mln": six units in turn, so each line's shape is in a sixth of the
    # stories; only "revenue * vs * mln", the unit's slot merged with the figure's, is in all.
    units = ["mln", "billion", "dlrs", "pct", "stg", "yen"]

    def article(n: int) -> str:
        first, second = story(n)
        return "\n\n".join([first, f"Revenue {n + 1}.{n} {units[n % 6]} vs {n + 2}.5 mln", second])

    learned = LearnedBoilerplate()
    for n in range(24):
        learned.observe("Wire", f"w{n}", article(n))
    assert [clean_text(article(n), learned.for_source("Wire")).text for n in range(24)] == \
        [article(n) for n in range(24)]


def test_a_capitals_section_label_and_a_name_with_a_role_are_learned_at_the_head():
    def article(n: int) -> str:
        section = SECTIONS[n % 6]
        return "\n\n".join([f"GAZETTE {section.upper()}", f"{NAMES[n % 8]}, {section} reporter", *story(n)])

    learned = LearnedBoilerplate()
    for n in range(24):
        learned.observe("Gazette", f"g{n}", article(n))
    for n in range(24):
        assert clean_text(article(n), learned.for_source("Gazette")).text == "\n\n".join(story(n))


def test_the_last_wrapped_line_of_a_story_is_not_learned_by_its_last_word():
    # A hard-wrapped story ends in "evening, the <someone> said." in every story; the line itself
    # recurs in a sixth of them. A story's phrase: no shape by its last word ("* said") nor with
    # its changing word as a slot ("evening, the * said").
    speakers = ["company", "ministry", "union", "council", "bank", "agency"]

    def article(n: int) -> str:
        return "\n".join([story(n)[0].removesuffix(" evening."), f"evening, the {speakers[n % 6]} said."])

    learned = LearnedBoilerplate()
    for n in range(24):
        learned.observe("Wire", f"w{n}", article(n))
    assert [clean_text(article(n), learned.for_source("Wire")).text for n in range(24)] == \
        [article(n) for n in range(24)]


def test_a_byline_of_a_name_for_an_outlet_is_learned_at_the_head():
    def article(n: int) -> str:
        return "\n\n".join([f"{NAMES[n % 8]} for {CITIES[n % 7]} Gazette", *story(n)])

    learned = LearnedBoilerplate()
    for n in range(10):
        learned.observe("Gazette", f"g{n}", article(n))
    for n in range(10):
        assert clean_text(article(n), learned.for_source("Gazette")).text == "\n\n".join(story(n))
