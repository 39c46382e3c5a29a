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
    ids = {row[0] for row in searcher._conn().execute("SELECT id FROM articles")}
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
        result = run_index(corpus, "--index", tmp_path / "index")
    assert result.returncode == 1
    assert "another process is writing the index" in result.stderr and "Traceback" not in result.stderr


def test_cli_errors_are_one_line_without_traceback(tmp_path):
    for args in (["query", "fire", "--index", tmp_path / "none"], ["stats", "--index", tmp_path / "none"],
                 ["remove", "x", "--index", tmp_path / "none"], ["query", "fire", "--since", "last week"]):
        result = subprocess.run([sys.executable, "-m", "search_api.cli", *map(str, args)], capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 1, args
        assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr, result.stderr
