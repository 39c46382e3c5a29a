"""What `article-search index` tells a person: a progress bar with a total, a summary that counts
articles and problems right, every problem printed though only some are kept, and a missing path
among several reported while the rest is indexed."""

import re

from indexer.inputs import count_records, read_paths
from indexer.batches import KEPT_PROBLEMS
from indexer.writer import IndexWriter

from conftest import write_jsonl

STORIES = [
    {"id": "ferry", "title": "Ferry service resumes", "source": "Coast News",
     "text": "The ferry between the two islands sailed again on Monday after storms kept it in port for a week."},
    {"id": "bridge", "title": "Bridge repairs finish early", "source": "Coast News",
     "text": "Engineers finished replacing the cables of the harbour bridge two weeks ahead of schedule."},
]


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    from search_api.cli import main

    status = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def corpus(folder):
    """Two good JSONL records (and a blank line), one bad one, a .txt article and a file of a type
    that is not read: five items for the reader, three of them articles."""
    folder.mkdir()
    path = write_jsonl(folder / "news.jsonl", STORIES)
    path.write_text(path.read_text(encoding="utf-8") + "\n{broken\n", encoding="utf-8")
    (folder / "tide.txt").write_text("Record tide floods the promenade\nThe highest tide in forty years "
                                     "flooded the seafront promenade on Sunday night.\n", encoding="utf-8")
    (folder / "notes.pdf").write_bytes(b"%PDF-1.4")
    return folder


def test_the_input_is_counted_first_to_the_items_the_reader_gives(tmp_path):
    folder = corpus(tmp_path / "in")
    (folder / "table.csv").write_text('text,title\n"Line one of a row",A\n\n"Another row",B\n', encoding="utf-8")
    (folder / "one-long-line.jsonl").write_bytes(b'{"text": "' + b"x" * 3_000_000 + b'"}')
    assert count_records([folder, tmp_path / "missing.jsonl"]) == \
        len(list(read_paths([folder, tmp_path / "missing.jsonl"]))) == 9


def test_the_progress_bar_has_a_total_and_the_summary_counts_articles(tmp_path, capsys):
    folder = corpus(tmp_path / "in")
    status, out, err = run_cli(capsys, "index", folder, "--index", tmp_path / "index")
    assert status == 0, err
    bars = [line for line in re.split(r"[\r\n]", err) if line.startswith("indexing:")]
    assert bars and all("/5 [" in line for line in bars), err  # a total from the first line drawn
    assert re.search(r"100%\|█+\| 5/5 \[", bars[-1]) and "<00:00" in bars[-1], bars[-1]
    assert f"skipped {folder / 'news.jsonl'}:4: invalid JSON" in err
    assert f"skipped {folder / 'notes.pdf'}: unsupported file type" in err
    summary, total = out.splitlines()
    assert summary.startswith("3 indexed, 0 updated, 0 unchanged, 2 skipped; 3 passages embedded in ")
    assert total == f"index at {tmp_path / 'index'}: 3 articles, 3 passages"
    status, out, err = run_cli(capsys, "index", folder / "tide.txt", "--index", tmp_path / "one", "--quiet")
    assert status == 0 and out.splitlines()[1] == f"index at {tmp_path / 'one'}: 1 article, 1 passage", out
    assert err == ""


def test_a_missing_path_among_several_is_reported_the_rest_indexed_and_the_exit_is_non_zero(tmp_path, capsys):
    folder = corpus(tmp_path / "in")
    missing = tmp_path / "missing.jsonl"
    status, out, err = run_cli(capsys, "index", folder, missing, "--index", tmp_path / "index", "--quiet")
    assert status == 1
    assert f"skipped {missing}: no such file or folder" in err
    assert err.splitlines()[-1] == f"error: no such file or folder: {missing}; the other paths were indexed"
    assert out.splitlines()[1] == f"index at {tmp_path / 'index'}: 3 articles, 3 passages"
    status, out, err = run_cli(capsys, "stats", "--index", tmp_path / "index")
    sizes = dict(line.split(None, 1) for line in out.splitlines() if line.split()[0].endswith(".json"))
    assert re.fullmatch(r"\d+ B|\d[\d.]* kB", sizes["manifest.json"]), out  # not "0.00 MB"


def test_problems_are_all_reported_but_a_bounded_number_kept(tmp_path, encoder):
    path = tmp_path / "bad.jsonl"
    bad = KEPT_PROBLEMS + 250
    path.write_text("".join(f'{{"id": "b{n}", "text": ""}}\n' for n in range(bad))
                    + '{"id": "good", "text": "The one good record of the file."}\n', encoding="utf-8")
    seen = []
    with IndexWriter(tmp_path / "index", encoder=encoder) as writer:
        summary = writer.add(read_paths([path]), on_problem=seen.append)
    assert len(seen) == summary.skipped == bad and summary.indexed == 1
    assert len(summary.problems) == KEPT_PROBLEMS and summary.problems == seen[:KEPT_PROBLEMS]
    assert f"1 indexed, 0 updated, 0 unchanged, {bad:,} skipped;" in str(summary)
    assert seen[-1].where == f"{path}:{bad}"
