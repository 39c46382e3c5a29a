"""Damage from outside the process: flipped bytes in a vector segment or a lexical file, a lost or
truncated WAL, a missing segment or lexical folder. Each is found (at the next open, or by
`index --check`), never served, named in one line with the command that mends it, and mended by it."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import LLAMA, free_port
from indexer import store, vectors
from indexer.article import Article
from indexer.writer import IndexWriter
from search_api.app import create_app
from search_api.searcher import Searcher

KEY = "durability-key"
QUERY = "bridge collapse"


def cli(*args) -> subprocess.CompletedProcess:
    """The CLI's answer; a `serve` that does not refuse its index runs until the timeout fails the test."""
    return subprocess.run([sys.executable, "-m", "search_api.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def flip(path: Path, length: int = 8192) -> None:
    """Invert `length` bytes in the middle of `path` (its size unchanged)."""
    data = bytearray(path.read_bytes())
    start = max(0, len(data) // 2 - length // 2)
    end = min(len(data), start + length)
    data[start:end] = bytes(b ^ 0xFF for b in data[start:end])
    path.write_bytes(bytes(data))


def dense_results(index: Path, encoder) -> list[tuple[str, float]]:
    searcher = Searcher(index, encoder=encoder)
    try:
        return [(hit.article_id, hit.score) for hit in searcher.search(QUERY, k=10, mode="dense").results]
    finally:
        searcher.close()


def lexical_results(index: Path, encoder) -> list[str]:
    searcher = Searcher(index, encoder=encoder)
    try:
        return [hit.article_id for hit in searcher.search(QUERY, k=10, mode="lexical").results]
    finally:
        searcher.close()


def one_line_error(result: subprocess.CompletedProcess, *phrases: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    for phrase in phrases:
        assert phrase in lines[0], (phrase, lines[0])


def test_flipped_bytes_in_the_largest_segment_are_found_never_served_and_repaired(writable_index, encoder):
    expected = dense_results(writable_index, encoder)
    folder = writable_index / vectors.FOLDER
    largest = max(folder.glob("*.faiss"), key=lambda path: path.stat().st_size)
    flip(largest)
    check = cli("index", "--check", "--index", writable_index)
    assert check.returncode == 1 and largest.name in check.stderr and "fails its checksum" in check.stderr, check
    assert f"article-search index --repair --index {writable_index}" in check.stderr
    # Readers that read every byte at open refuse it: a searcher, `stats` (a server, which reads a
    # sample at open and the rest in the background: the next test).
    with pytest.raises(store.StoreError, match=f"{largest.name} fails its checksum.*index --repair"):
        Searcher(writable_index, encoder=encoder)
    one_line_error(cli("stats", "--index", writable_index), largest.name, "fails its checksum", "--repair")
    repair = cli("index", "--repair", "--index", writable_index, "--quiet")
    assert repair.returncode == 0, repair.stderr
    assert cli("index", "--check", "--index", writable_index).returncode == 0
    repaired = dense_results(writable_index, encoder)
    assert [article for article, _ in repaired] == [article for article, _ in expected]
    assert all(score <= 1.0001 for _, score in repaired)


@contextmanager
def refused_after_the_background_check(index: Path, encoder, damaged: Path, mode: str):
    """A client of a server over `index` once its background check is done, whose `mode` search
    was refused with a 503 naming the `damaged` file and the command that mends it."""
    with TestClient(create_app(index, encoder=encoder)) as client:
        assert client.app.state.index.segments_checked.wait(120)
        refused = client.get("/search", params={"q": QUERY, "mode": mode})
        assert refused.status_code == 503, refused.text
        assert damaged.name in refused.json()["detail"] and "article-search index --repair" in refused.json()["detail"]
        yield client


def test_a_server_opens_a_segment_reading_a_sample_and_its_background_check_refuses_flipped_bytes(
        writable_index, encoder, monkeypatch):
    """Checksums cheap at open (issue 21): a server's open reads a sample of each segment, not the
    whole file, so its start-up does not grow with the archive; its background check then reads
    the rest, and a damaged segment is never searched: dense search answers 503 naming --repair."""
    import builtins

    folder = writable_index / vectors.FOLDER
    largest = max(folder.glob("*.faiss"), key=lambda path: path.stat().st_size)
    flip(largest)
    read = {"bytes": 0}
    real_open = builtins.open

    class Counted:
        def __init__(self, handle):
            self.handle = handle

        def read(self, *args):
            data = self.handle.read(*args)
            read["bytes"] += len(data)
            return data

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    def counting_open(file, *args, **kwargs):
        handle = real_open(file, *args, **kwargs)
        return Counted(handle) if str(file).endswith(".faiss") else handle

    with monkeypatch.context() as patch:
        patch.setattr(builtins, "open", counting_open)
        opened = Searcher(writable_index, encoder=encoder, held=False)  # as a server opens it
    opened.close()
    size = largest.stat().st_size
    assert 0 < read["bytes"] <= 64 * 1024 < size, (read["bytes"], size)

    with refused_after_the_background_check(writable_index, encoder, largest, "dense") as client:
        assert client.get("/search", params={"q": QUERY, "mode": "hybrid"}).status_code == 503
        assert client.get("/search", params={"q": QUERY, "mode": "lexical"}).status_code == 200


def test_a_server_opens_a_lexical_file_reading_its_footer_and_its_background_check_refuses_flipped_bytes(
        writable_index, encoder):
    folder = writable_index / store.LEXICAL
    largest = max((path for path in folder.iterdir() if path.suffix not in (".json", ".lock")),
                  key=lambda path: path.stat().st_size)
    flip(largest, 1024)
    Searcher(writable_index, encoder=encoder, held=False).close()  # a server's open reads the footers only
    with refused_after_the_background_check(writable_index, encoder, largest, "lexical") as client:
        # Every search counts its matches in the lexical index; an article is still served.
        assert client.get("/search", params={"q": QUERY, "mode": "dense"}).status_code == 503
        assert client.get(f"/articles/{LLAMA['id']}").status_code == 404
        with sqlite3.connect(writable_index / store.DATABASE) as conn:
            article_id = conn.execute("SELECT id FROM articles LIMIT 1").fetchone()[0]
        assert client.get(f"/articles/{article_id}").status_code == 200


def test_flipped_bytes_in_a_lexical_file_are_found_never_served_and_rebuilt(writable_index, encoder):
    expected = lexical_results(writable_index, encoder)
    folder = writable_index / store.LEXICAL
    largest = max((path for path in folder.iterdir() if path.suffix not in (".json", ".lock")),
                  key=lambda path: path.stat().st_size)
    flip(largest, 1024)
    check = cli("index", "--check", "--index", writable_index)
    assert check.returncode == 1 and f"{largest.name} fails its checksum" in check.stderr, check
    with pytest.raises(store.StoreError, match=f"{largest.name} fails its checksum.*index --rebuild"):
        Searcher(writable_index, encoder=encoder)
    repair = cli("index", "--repair", "--index", writable_index, "--quiet")
    assert repair.returncode == 0, repair.stderr
    assert cli("index", "--check", "--index", writable_index).returncode == 0
    assert lexical_results(writable_index, encoder) == expected


def test_a_lost_wal_is_named_and_a_repair_accepts_the_database_as_it_is(writable_index, encoder, tmp_path):
    """A reader holding an old transaction keeps the write in the WAL; the directory copied without
    its WAL is the directory after a crash that lost it."""
    holder = sqlite3.connect(writable_index / store.DATABASE)
    holder.execute("BEGIN")
    holder.execute("SELECT COUNT(*) FROM articles").fetchone()
    with IndexWriter(writable_index, encoder=encoder) as writer:
        writer.add([Article(LLAMA["id"], LLAMA["title"], LLAMA["text"])])
    lost = tmp_path / "lost"
    shutil.copytree(writable_index, lost, ignore=shutil.ignore_patterns(".lock", "*-wal", "*-shm"))
    holder.close()
    with pytest.raises(store.StoreError, match=r"generation.*write-ahead log \(index.sqlite-wal\) was lost.*--repair"):
        Searcher(lost, encoder=encoder)
    with pytest.raises(store.StoreError, match="write-ahead log"):
        IndexWriter(lost, encoder=encoder)
    check = cli("index", "--check", "--index", lost)
    assert check.returncode == 1 and "write-ahead log" in check.stderr
    with IndexWriter(lost, encoder=encoder, repair=True):
        pass
    searcher = Searcher(lost, encoder=encoder)
    assert searcher.article(LLAMA["id"]) is None and searcher.stats()["articles"] > 0


def test_a_wal_truncated_under_a_server_is_a_503_saying_why(writable_index, encoder):
    holder = sqlite3.connect(writable_index / store.DATABASE)  # keeps the write below in the WAL
    holder.execute("BEGIN")
    holder.execute("SELECT COUNT(*) FROM articles").fetchone()
    app = create_app(writable_index, encoder=encoder, api_key=KEY)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/articles", json=LLAMA, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        wal = writable_index / (store.DATABASE + "-wal")
        assert wal.stat().st_size > 0
        wal.write_bytes(b"")
        for path in ("/search?q=llamas", f"/articles/{LLAMA['id']}", "/stats"):
            response = client.get(path)
            assert response.status_code == 503, (path, response.status_code, response.text)
            assert "index database cannot be read or written now" in response.json()["detail"]
            assert "disk I/O error" in response.json()["detail"]
    holder.close()


@pytest.mark.parametrize("damage", ["segment", "lexical", "lexical-meta"])
def test_serve_on_a_damaged_index_is_one_line_and_a_plain_index_run_says_so(writable_index, damage, tmp_path):
    if damage == "segment":
        next((writable_index / vectors.FOLDER).glob("*.faiss")).unlink()
        expected = ("is missing", "--repair")
    elif damage == "lexical":
        shutil.rmtree(writable_index / store.LEXICAL)
        expected = ("no lexical index", "--rebuild")
    else:
        meta = writable_index / store.LEXICAL / "meta.json"
        meta.write_bytes(meta.read_bytes()[:100])
        expected = ("is damaged", "--rebuild")
    one_line_error(cli("serve", "--index", writable_index, "--port", free_port()), *expected)
    if damage == "segment":  # a plain run would publish over a layout readers refuse
        corpus = tmp_path / "one.jsonl"
        corpus.write_text('{"id": "x-1", "title": "Harbour", "text": "The harbour reopened on Monday."}\n')
        one_line_error(cli("index", corpus, "--index", writable_index, "--quiet"), "missing", "--repair")
