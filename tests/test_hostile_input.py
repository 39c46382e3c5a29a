"""Hostile and broken input: each bad record gets a message naming file and line, the rest is
indexed, and nothing already indexed is lost."""

import codecs
import json
import subprocess
import sys

from search_api.searcher import Searcher

from conftest import write_jsonl

GOOD = {"id": "good-1", "title": "Council approves new cycle lanes",
        "text": "The city council approved twelve kilometres of protected cycle lanes on Tuesday."}


def run_index(*args):
    return subprocess.run([sys.executable, "-m", "search_api.cli", "index", *map(str, args), "--quiet"],
                          capture_output=True, text=True, timeout=300)


def test_a_folder_of_hostile_files_is_reported_file_by_file_and_the_rest_indexed(tmp_path, encoder):
    data = tmp_path / "data"
    data.mkdir()
    write_jsonl(data / "good.jsonl", [GOOD])
    (data / "broken.jsonl").write_text('{"id": "ok-2", "text": "Ferry service resumes after the storm."}\n'
                                       '{"id": "bad", "text": "unterminated\n'
                                       '{"id": "nul", "title": "Null\\u0000 bytes", "text": "Text with \\u0000 NUL '
                                       'and \\u0007 control characters survives."}\n'
                                       '{"id": "empty", "text": "   "}\n'
                                       '{"id": "ok-2", "text": "A duplicate id in the same run."}\n', encoding="utf-8")
    (data / "rows.csv").write_text('id,title,text\nc1,"Unclosed quote,Text\nc2,Fine,Fine text here.\n', encoding="utf-8")
    (data / "latin1.txt").write_bytes("Café reopens\nThe café in Zürich reopened.".encode("latin-1"))
    (data / "utf16.jsonl").write_bytes(codecs.BOM_UTF16_LE + json.dumps(
        {"id": "u16", "text": "Encoded as UTF-16 with a byte order mark."}).encode("utf-16-le"))
    (data / "photo.html").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(2000))
    (data / "empty.md").write_text("")
    (data / "huge.jsonl").write_text(json.dumps({"id": "huge", "text": "word " * 2_100_000}) + "\n", encoding="utf-8")
    index = tmp_path / "index"

    result = run_index(data, "--index", index)
    assert result.returncode == 0, result.stderr
    err = result.stderr
    assert f"{data / 'broken.jsonl'}:2: invalid JSON" in err
    assert f"{data / 'broken.jsonl'}:4: no article text" in err
    assert f"{data / 'broken.jsonl'}:5: duplicate id 'ok-2' (first seen at {data / 'broken.jsonl'}:1)" in err
    assert f"skipped {data / 'photo.html'}: looks like a binary file" in err
    assert f"{data / 'empty.md'}: empty file" in err
    assert f"{data / 'huge.jsonl'}:1: article 'huge' has 10,500,000 characters" in err
    assert "rows.csv" in err

    searcher = Searcher(index, encoder=encoder)
    ids = {row[0] for row in searcher.reader.snapshot.rows("SELECT id FROM articles")}
    assert {"good-1", "ok-2", "nul", "u16"} <= ids and not {"bad", "empty", "huge"} & ids
    nul = searcher.article("nul")
    assert "\x00" not in nul["text"] and "\x07" not in nul["text"] and "control characters survives" in nul["text"]
    assert searcher.article("good-1")["text"] == GOOD["text"]
    assert searcher.search("cycle lanes", k=1).results[0].article_id == "good-1"

    # A second run over only broken input loses nothing already indexed.
    bad_only = tmp_path / "bad.jsonl"
    bad_only.write_text("not json at all\n", encoding="utf-8")
    again = run_index(bad_only, "--index", index)
    assert again.returncode == 1 and "nothing could be indexed" in again.stderr
    assert Searcher(index, encoder=encoder).stats()["articles"] == len(ids)


def test_two_index_runs_on_one_directory_are_kept_apart_by_the_lock(tmp_path, encoder):
    from indexer.writer import IndexWriter

    corpus = write_jsonl(tmp_path / "a.jsonl", [GOOD])
    with IndexWriter(tmp_path / "index", encoder=encoder):
        result = run_index(corpus, "--index", tmp_path / "index", "--lock-timeout", "1")
    assert result.returncode == 1
    assert "another process has been writing the index" in result.stderr and "for the 1 s" in result.stderr
    assert "Traceback" not in result.stderr


def test_two_index_runs_started_together_both_finish_in_turn(tmp_path, encoder):
    """The second waits for the first's write lock instead of being refused."""
    from indexer.inputs import read_paths
    from indexer.writer import IndexWriter

    index = tmp_path / "index"
    with IndexWriter(index, encoder=encoder) as writer:
        writer.add(read_paths([write_jsonl(tmp_path / "good.jsonl", [GOOD])]))
    runs = []
    for number in range(2):
        corpus = write_jsonl(tmp_path / f"{number}.jsonl", [dict(GOOD, id=f"run-{number}", title=f"Run {number}")])
        # A wait long enough for the other run's model load and batch on a loaded machine (the
        # default 20 s was not, with 2 cores shared by several test runs).
        runs.append(subprocess.Popen([sys.executable, "-m", "search_api.cli", "index", str(corpus), "--index",
                                      str(index), "--quiet", "--lock-timeout", "600"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True))
    results = [(run.wait(timeout=300), run.stderr.read()) for run in runs]
    assert [code for code, _ in results] == [0, 0], results
    assert Searcher(index, encoder=encoder).stats()["articles"] == 3


def test_cli_errors_are_one_line_without_traceback(tmp_path):
    for args in (["query", "fire", "--index", tmp_path / "none"], ["stats", "--index", tmp_path / "none"],
                 ["remove", "x", "--index", tmp_path / "none"], ["query", "fire", "--since", "last week"]):
        result = subprocess.run([sys.executable, "-m", "search_api.cli", *map(str, args)], capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 1, args
        assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr, result.stderr


# -- one bad record never costs the others (reader level: no model needed) -----------------------

def read_split(paths):
    from indexer.article import Article
    from indexer.inputs import Problem, read_paths

    items = list(read_paths(paths))
    return [i for i in items if isinstance(i, Article)], [i for i in items if isinstance(i, Problem)]


def test_a_lone_surrogate_is_a_problem_naming_its_field_and_the_other_records_are_read(tmp_path):
    from indexer.article import Article
    from indexer.inputs import Problem, article_from_record

    path = tmp_path / "s.jsonl"
    path.write_text('{"id": "a", "text": "Before."}\n'
                    '{"id": "b", "text": "Broken \\ud800 text."}\n'
                    '{"id": "c", "text": "Fine.", "extra": {"tags": ["ok", "\\udfff"]}}\n'
                    '{"id": "d", "text": "Fine.", "\\ud800key": 1}\n'
                    '{"id": "e", "text": "After."}\n', encoding="utf-8")
    articles, problems = read_split([path])
    assert [a.id for a in articles] == ["a", "e"]
    assert [p.where for p in problems] == [f"{path}:2", f"{path}:3", f"{path}:4"]
    assert "field 'text'" in problems[0].message and "surrogate" in problems[0].message
    assert "field 'extra.tags[1]'" in problems[1].message
    assert "a field name" in problems[2].message
    # The API path: a metadata field with a lone surrogate is a Problem, and hashing never raises.
    problem = article_from_record({"text": "Body.", "note": "\ud800"}, "POST /articles item 0")
    assert isinstance(problem, Problem) and "field 'note'" in problem.message
    Article(id="x", title="\ud800", text="t", metadata={"k": ["\udfff"]}).content_hash()


def test_a_huge_number_or_deep_nesting_is_a_problem_for_its_line_and_later_files_are_read(tmp_path):
    first = tmp_path / "a.jsonl"
    first.write_text('{"id": "a1", "text": "Before."}\n'
                     '{"id": "big", "text": "x", "n": ' + "9" * 5000 + '}\n'
                     + "[" * 100_000 + "\n"
                     + '{"id": "deep", "text": "x", "meta": ' + "[" * 500 + "]" * 500 + '}\n'
                     '{"id": "a2", "text": "After."}\n', encoding="utf-8")
    second = write_jsonl(tmp_path / "b.jsonl", [{"id": "b1", "text": "Second file."}])
    articles, problems = read_split([first, second])
    assert [a.id for a in articles] == ["a1", "a2", "b1"]
    assert [p.where for p in problems] == [f"{first}:2", f"{first}:3", f"{first}:4"]
    assert "digits" in problems[0].message
    assert "nested" in problems[1].message and "nested" in problems[2].message


def test_one_invalid_utf8_byte_costs_only_its_line(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes('{"id": "cafe", "text": "Café"}\n'.encode()
                     + b'{"id": "bad", "text": "caf\xe9"}\n'
                     + '{"id": "lodz", "text": "Łódź"}\n'.encode())
    articles, problems = read_split([path])
    assert [(a.id, a.text) for a in articles] == [("cafe", "Café"), ("lodz", "Łódź")]
    [problem] = problems
    assert problem.where == f"{path}:2"
    assert "not valid UTF-8" in problem.message and "byte 0xe9 at column 27" in problem.message


def test_a_legacy_cp1252_file_is_read_as_cp1252_and_a_utf8_file_never_is(tmp_path):
    legacy = tmp_path / "legacy.jsonl"
    legacy.write_bytes(b'{"id": "1", "text": "plain ascii"}\n{"id": "2", "text": "caf\xe9 \x93quoted\x94"}\n')
    document = tmp_path / "mixed.txt"
    document.write_bytes("Title\nCafé in Łódź\n".encode() + b"caf\xe9\n")
    articles, problems = read_split([legacy, document])
    assert [a.text for a in articles] == ["plain ascii", "café “quoted”", "Café in Łódź"]  # its bad line aside
    [problem] = problems
    assert problem.where == f"{document}:3" and "not valid UTF-8" in problem.message


def test_a_nul_byte_in_a_jsonl_file_costs_only_its_record(tmp_path):
    path = tmp_path / "nul.jsonl"
    path.write_bytes(b'{"id": "a", "text": "Before."}\n{"id": "nul", "text": "x\x00y"}\n{"id": "b", "text": "After."}\n')
    articles, problems = read_split([path])
    assert [a.id for a in articles] == ["a", "b"]
    assert [p.where for p in problems] == [f"{path}:2"]


def test_jsonl_records_are_split_on_newline_only(tmp_path):
    path = tmp_path / "seps.jsonl"
    records = [{"id": "a", "text": "Line\u2028separator and\u2029paragraph"}, {"id": "b", "text": "Next\x85line"}]
    path.write_bytes(b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\r\n" for r in records))
    articles, problems = read_split([path])
    assert not problems
    assert [(a.id, a.text) for a in articles] == [(r["id"], r["text"]) for r in records]


def test_document_ids_are_unique_per_file_and_stable_across_runs(tmp_path):
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "story.txt").write_text(f"Story from {folder}\nText of {folder}.", encoding="utf-8")
        (tmp_path / folder / "data").mkdir()
        (tmp_path / folder / "data" / "a.md").write_text(f"# Data in {folder}\nBody.", encoding="utf-8")
    run = {}
    for given in (tmp_path / "one" / "story.txt", tmp_path / "two" / "story.txt",
                  tmp_path / "one" / "data", tmp_path / "two" / "data"):
        [article] = read_split([given])[0]
        run[given] = article.id
    assert len(set(run.values())) == 4
    # Stable: the same file read again, also through another spelling of its path, has the same id.
    again = read_split([tmp_path / "one" / ".." / "one" / "story.txt"])[0]
    assert again[0].id == run[tmp_path / "one" / "story.txt"]


def test_two_records_with_one_id_in_one_run_are_reported_never_overwritten(tmp_path, encoder):
    from indexer.inputs import read_paths
    from indexer.writer import IndexWriter

    first = write_jsonl(tmp_path / "a.jsonl", [{"id": "same", "text": "The first article's text."}])
    second = write_jsonl(tmp_path / "b.jsonl", [{"id": "same", "text": "A different article."}])
    with IndexWriter(tmp_path / "index", encoder=encoder) as writer:
        summary = writer.add(read_paths([first, second]))
    assert summary.indexed == 1
    [problem] = summary.problems
    assert problem.where == f"{second}:1" and f"duplicate id 'same' (first seen at {first}:1)" in problem.message
    assert Searcher(tmp_path / "index", encoder=encoder).article("same")["text"] == "The first article's text."


def test_symlinked_folders_and_empty_files_are_reported(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "good.txt").write_text("Title\nBody.", encoding="utf-8")
    for name in ("empty.jsonl", "empty.csv", "empty.txt"):
        (data / name).write_bytes(b"")
    (data / "blank.jsonl").write_text("\n  \n", encoding="utf-8")
    (data / "loop").symlink_to(data, target_is_directory=True)
    articles, problems = read_split([data])
    assert [a.title for a in articles] == ["Title"]
    messages = {p.where: p.message for p in problems}
    for name in ("empty.jsonl", "empty.csv", "empty.txt"):
        assert messages[str(data / name)] == "empty file"
    assert "no records" in messages[str(data / "blank.jsonl")]
    assert "symbolic link to a folder" in messages[str(data / "loop")]


def test_a_csv_row_with_an_unclosed_quote_is_reported_at_its_line_and_the_next_rows_kept(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('id,title,text\n'
                    'c1,First,"Fine, with a comma."\n'
                    'c2,"Unclosed quote,Its text\n'
                    'c3,Third,"Third text, quoted."\n'
                    'c4,Fourth,"Multi\nline, text."\n'
                    'c5,"Never closed,Text\n'
                    'c6,Sixth,Sixth text.\n', encoding="utf-8")
    articles, problems = read_split([path])
    assert [a.id for a in articles] == ["c1", "c3", "c4", "c6"]
    assert articles[2].text == "Multi\nline, text."
    assert [p.where for p in problems] == [f"{path}:3", f"{path}:7"]
    assert all("quote" in p.message for p in problems)


def test_jsonl_and_csv_are_read_as_a_stream(tmp_path):
    import tracemalloc

    body = "word " * 100
    jsonl = write_jsonl(tmp_path / "big.jsonl", [{"id": str(n), "text": body} for n in range(20_000)])
    csv_path = tmp_path / "big.csv"
    csv_path.write_text("id,text\n" + "".join(f"{n},{body}\n" for n in range(20_000)), encoding="utf-8")
    for path in (jsonl, csv_path):
        assert path.stat().st_size > 10_000_000
        from indexer.inputs import read_paths

        tracemalloc.start()
        count = sum(1 for _ in read_paths([path]))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert count == 20_000
        assert peak < 2_000_000, f"{path.name}: {peak:,} bytes held while reading"


# -- command-line input ---------------------------------------------------------------------------

def test_index_on_only_missing_paths_creates_nothing(tmp_path):
    # With a path that exists beside them, that one is indexed (test_index_command.py).
    result = run_index(tmp_path / "mistyped", tmp_path / "other", "--index", tmp_path / "index")
    assert result.returncode == 1
    assert result.stderr == (f"error: no such file or folder: {tmp_path / 'mistyped'}, {tmp_path / 'other'}; "
                             f"nothing was indexed\n")
    assert not (tmp_path / "index").exists()


def test_every_numeric_flag_is_range_checked(capsys):
    import pytest

    from search_api.cli import build_parser

    bad = [["index", "x", "--overlap", "-1"], ["index", "x", "--title-tokens", "-1"],
           ["index", "x", "--commit-every", "0"], ["index", "x", "--max-tokens", "0"],
           ["query", "q", "--offset", "-1"], ["query", "q", "-k", "0"], ["query", "q", "--passages", "0"],
           ["serve", "--port", "70000"], ["serve", "--port", "-1"], ["serve", "--ray-replica-cpus", "0"],
           ["serve", "--ray-replica-cpus", "nan"], ["eval", "d", "--linear-weight", "1.5"],
           ["eval", "d", "--rrf-k", "0"], ["eval", "d", "--title-tokens", "-3"],
           ["eval-related", "f", "--label", "x", "--linear-weight", "inf"], ["query", "q", "--offset", "many"]]
    for args in bad:
        with pytest.raises(SystemExit) as exit_info:
            build_parser().parse_args(args)
        assert exit_info.value.code == 2, args
        message = capsys.readouterr().err.strip().splitlines()[-1]
        assert f"argument {args[-2]}" in message and args[-1] in message, message
    good = build_parser().parse_args(["query", "q", "--offset", "0"])
    assert good.offset == 0
