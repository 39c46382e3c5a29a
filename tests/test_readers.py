import codecs
import json

from indexer.article import Article, stable_id
from indexer.inputs import Problem, read_paths

from conftest import FIXTURES, write_jsonl


def split(items):
    items = list(items)
    return [i for i in items if isinstance(i, Article)], [i for i in items if isinstance(i, Problem)]


def test_jsonl_fields_and_aliases(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [
        {"id": "a1", "title": "T1", "text": "Body one.", "url": "https://x.example/1", "published": "2024-01-16",
         "author": "A", "source": "S", "section": "world"},
        {"headline": "T2", "body": "Body two.", "date": "2024-01-17", "byline": "B", "link": "https://x.example/2"},
        {"title": "T3", "content": "Body three."},
    ])
    articles, problems = split(read_paths([path]))
    assert not problems
    a1, a2, a3 = articles
    assert (a1.id, a1.title, a1.text, a1.url, a1.published, a1.author, a1.source) == \
        ("a1", "T1", "Body one.", "https://x.example/1", "2024-01-16", "A", "S")
    assert a1.metadata == {"section": "world"}
    assert (a2.title, a2.text, a2.published, a2.author) == ("T2", "Body two.", "2024-01-17", "B")
    assert a2.id == stable_id(url="https://x.example/2")
    assert a3.id == stable_id(text="Body three.", title="T3") and a3.text == "Body three."


def test_ids_are_stable_across_reads(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [{"title": "T", "text": "Same text."}])
    assert [a.id for a in read_paths([path])] == [a.id for a in read_paths([path])]


def test_malformed_jsonl_lines_are_reported_and_the_rest_read(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "ok1", "text": "Fine."}\n{"id": "broken", "text": \n[1, 2]\n'
                    '{"id": "empty", "text": ""}\n{"id": "nested", "text": {"a": 1}}\n{"id": "ok2", "text": "Also fine."}\n',
                    encoding="utf-8")
    articles, problems = split(read_paths([path]))
    assert [a.id for a in articles] == ["ok1", "ok2"]
    assert [p.where for p in problems] == [f"{path}:2", f"{path}:3", f"{path}:4", f"{path}:5"]
    assert "invalid JSON" in problems[0].message
    assert "expected a JSON object" in problems[1].message
    assert "no article text" in problems[2].message
    assert "'text' must be a string" in problems[3].message


def test_csv_rows_and_bad_rows(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('id,title,text,source\nc1,First,"Text, with comma.",Wire\nc2,Second,Only three\n'
                    'c3,Third,Text,Wire,extra\nc4,Fourth,"Multi\nline text.",Wire\n', encoding="utf-8")
    articles, problems = split(read_paths([path]))
    assert [a.id for a in articles] == ["c1", "c4"]
    assert articles[0].text == "Text, with comma." and articles[0].source == "Wire"
    assert articles[1].text == "Multi\nline text."
    assert [p.where for p in problems] == [f"{path}:3", f"{path}:4"]
    assert "row has 3 fields, the header has 4" in problems[0].message and "5 fields" in problems[1].message


def test_csv_without_text_column_is_one_clear_problem(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("1,Title,Description\n2,Other,Row\n", encoding="utf-8")
    articles, problems = split(read_paths([path]))
    assert not articles and len(problems) == 1
    assert problems[0].where == f"{path}:1" and "no 'text'" in problems[0].message


def test_folder_of_txt_md_html():
    articles, problems = split(read_paths([FIXTURES]))
    by_title = {a.title: a for a in articles}
    assert not problems
    assert by_title["Fog closes mountain pass"].text.startswith("Dense fog closed")
    assert by_title["Library reopens after flood"].text.startswith("The central library reopened")
    page = by_title["Volcano erupts near fishing village"]
    assert page.text.startswith("A volcano on the northern coast erupted")
    assert "Home" not in page.text and "Most read" not in page.text
    assert (page.author, page.published, page.url) == ("Ana Ruiz", "2024-02-20", "https://islandtimes.example/volcano-erupts")
    # A file's id comes from its absolute path, so an edited file updates the same article.
    assert by_title["Fog closes mountain pass"].id == stable_id(url=(FIXTURES / "fog.txt").resolve().as_uri())


def test_encodings(tmp_path):
    text = "Café owners in Zürich protest — “no new taxes”"
    (tmp_path / "cp1252.txt").write_bytes(("Title\n" + text).encode("cp1252"))
    (tmp_path / "utf16.txt").write_bytes(codecs.BOM_UTF16_LE + ("Title\n" + text).encode("utf-16-le"))
    (tmp_path / "latin1.jsonl").write_bytes(json.dumps({"id": "l", "text": "Zürich"}, ensure_ascii=False).encode("latin-1"))
    articles, problems = split(read_paths([tmp_path]))
    assert not problems
    assert sorted(a.text for a in articles) == sorted([text, text, "Zürich"])


def test_binary_empty_unsupported_and_missing_files_are_reported(tmp_path):
    (tmp_path / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(100))
    (tmp_path / "empty.md").write_text("", encoding="utf-8")
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "good.txt").write_text("Good title\nGood body.", encoding="utf-8")
    articles, problems = split(read_paths([tmp_path, tmp_path / "missing.jsonl"]))
    assert [a.title for a in articles] == ["Good title"]
    messages = {p.where.rsplit("/", 1)[-1]: p.message for p in problems}
    assert "binary" in messages["image.txt"]
    assert "empty file" in messages["empty.md"]
    assert "unsupported file type '.pdf'" in messages["notes.pdf"]
    assert "no such file or folder" in messages["missing.jsonl"]


def test_a_csv_with_only_a_header_or_a_broken_header_is_one_clear_problem(tmp_path):
    (tmp_path / "header_only.csv").write_text("id,title,text\n", encoding="utf-8")
    (tmp_path / "broken_header.csv").write_text('id,"title,text\nc1,T,Text.\n', encoding="utf-8")
    articles, problems = split(read_paths([tmp_path]))
    assert not articles
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'broken_header.csv'}:1: malformed CSV header (unexpected end of data); the file is not read",
        f"{tmp_path / 'header_only.csv'}: no records: the file holds no rows after its header"]


def test_a_txt_file_with_a_bad_byte_keeps_its_other_lines_and_names_the_line_and_byte(tmp_path):
    path = tmp_path / "story.txt"
    path.write_bytes("Harbour reopens in Łódź\nThe harbour reopened on Monday.\n".encode()
                     + b"A caf\xe9 on the quay\n" + "Ferries run again from Gdańsk.\n".encode())
    articles, problems = split(read_paths([path]))
    [article] = articles
    assert article.title == "Harbour reopens in Łódź"
    assert article.text == "The harbour reopened on Monday.\nFerries run again from Gdańsk."
    assert [str(p) for p in problems] == [f"{path}:3: not valid UTF-8 (byte 0xe9 at column 6)"]


def test_a_json_control_character_is_worded_once(tmp_path):
    path = tmp_path / "control.jsonl"
    path.write_bytes(b'{"id": "c", "text": "a\x01b"}\n')
    [problem] = list(read_paths([path]))
    assert problem.message == "invalid JSON (Invalid control character at column 23)"


def test_a_record_over_the_limit_is_refused_while_read_in_bounded_memory(tmp_path):
    import tracemalloc

    path = tmp_path / "long.jsonl"
    with open(path, "wb") as handle:
        handle.write(b'{"id": "before", "text": "Before."}\n{"id": "long", "text": "')
        handle.write(b"word " * 1_000_000)  # a 5 MB line
        handle.write(b'"}\n{"id": "after", "text": "After."}\n')
    tracemalloc.start()
    try:
        articles, problems = split(read_paths([path], limit=65536))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [a.id for a in articles] == ["before", "after"]
    assert [str(p) for p in problems] == [f"{path}:2: line of 5,000,026 bytes is over the limit of 65,536 bytes "
                                          f"for one record (see --max-article-chars); not read"]
    assert peak < 1_000_000, peak  # the 5 MB line is never held whole (reading skips it in 64 KiB blocks)
    big = tmp_path / "big.txt"
    big.write_bytes(b"Title\n" + b"word " * 20_000)
    [problem] = list(read_paths([big], limit=65536))
    assert "file of 100,006 bytes is over the limit of 65,536 bytes" in problem.message
