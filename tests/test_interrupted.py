"""An `index` run killed with SIGKILL and run again ends with the same index as a clean build."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

from indexer import store
from indexer.inputs import read_paths
from indexer.writer import IndexWriter
from search_api.searcher import Searcher

QUERIES = ["apartment building explosion", "Speaker of the House", "escape room fire", "term limits amendment"]


def committed_articles(index_dir):
    try:
        conn = sqlite3.connect(f"file:{index_dir / store.DATABASE}?mode=ro", uri=True, timeout=1)
        try:
            return conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def index_command(corpus, index_dir):
    return [sys.executable, "-m", "search_api.cli", "index", str(corpus), "--index", str(index_dir),
            "--commit-every", "16", "--quiet"]


def content(index_dir, encoder):
    conn = sqlite3.connect(index_dir / store.DATABASE)
    articles = conn.execute("SELECT id, content_hash, text FROM articles ORDER BY id").fetchall()
    chunks = conn.execute("SELECT article_id, position, start, end, text FROM chunks "
                          "ORDER BY article_id, position").fetchall()
    conn.close()
    searcher = Searcher(index_dir, encoder=encoder)
    stats = searcher.stats()
    tops = [[h.article_id for h in searcher.search(q, k=5, highlight=False).results] for q in QUERIES]
    return articles, chunks, stats["passages"], stats["vectors"], tops


def test_killed_runs_then_a_rerun_equal_a_clean_build(tmp_path, sample_subset, encoder):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(sample_subset.read_text(encoding="utf-8").splitlines(True)[:30]), encoding="utf-8")
    index_dir = tmp_path / "killed"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    kills = 0
    # The last kill comes as soon as every article is committed: during the final save of the
    # vectors file and manifest, or just before it.
    for threshold in (1, 8, 16, 30):
        process = subprocess.Popen(index_command(corpus, index_dir), env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while committed_articles(index_dir) < threshold and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
    assert kills >= 3, "the runs finished before they could be killed; the corpus is too small"
    # The killed runs left committed batches and possibly no (or a stale) vectors file.
    finished = subprocess.run(index_command(corpus, index_dir), env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert ", 0 skipped;" in finished.stdout, finished.stdout + finished.stderr

    clean_dir = tmp_path / "clean"
    with IndexWriter(clean_dir, encoder=encoder) as writer:
        writer.add(read_paths([corpus]))
    killed, clean = content(index_dir, encoder), content(clean_dir, encoder)
    assert killed[0] == clean[0]          # same articles, same content
    assert killed[1] == clean[1]          # same passages and offsets
    assert killed[2] == killed[3] == clean[2] == clean[3]
    assert killed[4] == clean[4]          # same top results
