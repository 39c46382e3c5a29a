"""Indexing on Ray (a local instance with 2 CPUs) writes the index a local run writes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
import ray

from conftest import SAMPLE_SUBSET_SIZE, write_jsonl
from indexer import store
from indexer.inputs import Problem, read_paths
from indexer.vectors import stored_vectors
from indexer.writer import IndexWriter



@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def _contents(index_dir):
    """Everything an index holds, vectors apart: articles, and every passage with its chunk id."""
    conn = sqlite3.connect(f"file:{index_dir / store.DATABASE}?mode=ro", uri=True)
    articles = conn.execute("SELECT id, title, url, published, author, source, text, metadata, content_hash, "
                            "duplicate_group FROM articles ORDER BY id").fetchall()
    chunks = conn.execute("SELECT id, article_id, position, start, end, text, tokens, sentences FROM chunks "
                          "ORDER BY id").fetchall()
    vectors = stored_vectors(conn, 384)
    return articles, chunks, vectors


def test_cli_ray_into_shards(tmp_path, sample_subset):
    """`index --ray --shards 2` from the command line (its own local Ray instance)."""
    index = tmp_path / "index"
    extra = write_jsonl(tmp_path / "extra.jsonl", [{"id": "extra", "title": "Harbour reopens",
                                                    "text": "The harbour reopened on Monday after the storm."}])
    run = subprocess.run([sys.executable, "-m", "search_api.cli", "index", str(sample_subset), str(extra),
                          "--index", str(index), "--shards", "2", "--ray", "--quiet"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    stats = json.loads(subprocess.run([sys.executable, "-m", "search_api.cli", "stats", "--index", str(index),
                                       "--json"], capture_output=True, text=True).stdout)
    assert stats["articles"] == SAMPLE_SUBSET_SIZE + 1 and len(stats["shards"]) == 2
    query = subprocess.run([sys.executable, "-m", "search_api.cli", "query", "harbour reopened after the storm",
                            "--index", str(index), "-k", "1", "--json"], capture_output=True, text=True)
    assert json.loads(query.stdout)["results"][0]["article_id"] == "extra"


def test_ray_index_equals_local_index(local_ray, tmp_path, sample_index, sample_subset, encoder):
    from indexer.distributed import index_with_ray

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "title": "no text"}\nnot json\n', encoding="utf-8")
    index = tmp_path / "ray-index"
    with IndexWriter(index, encoder=encoder) as writer:
        summary = index_with_ray([sample_subset, bad], writer)
    assert summary.indexed == SAMPLE_SUBSET_SIZE
    # Bad records are reported with their file and line, as a local run reports them.
    local_problems = [str(p) for p in read_paths([bad]) if isinstance(p, Problem)]
    assert [str(p) for p in summary.problems] == local_problems and len(local_problems) == 2
    assert all(f"{bad}:" in problem for problem in local_problems)
    assert not list(index.glob(".ray-staging*"))  # the run removed its staging folder

    ray_articles, ray_chunks, (ray_ids, ray_vectors) = _contents(index)
    articles, chunks, (ids, vectors) = _contents(sample_index)
    assert ray_articles == articles
    assert ray_chunks == chunks  # same passages, offsets, sentences and chunk ids
    assert np.array_equal(ray_ids, ids)
    assert np.abs(ray_vectors - vectors).max() < 1e-5
    assert store.read_manifest(index)["counts"] == store.read_manifest(sample_index)["counts"]

    # A second run finds everything indexed already and embeds nothing.
    with IndexWriter(index, encoder=encoder) as writer:
        again = index_with_ray([sample_subset], writer)
    assert again.unchanged == SAMPLE_SUBSET_SIZE and again.chunks == 0


def test_a_run_deletes_only_its_own_staging_folder(local_ray, tmp_path, encoder):
    """--ray-staging may be a shared folder: a run stages in a folder of its own under it and
    removes only that."""
    from indexer.distributed import index_with_ray

    staging = tmp_path / "shared"
    staging.mkdir()
    (staging / "someone-elses.txt").write_text("keep me")
    corpus = write_jsonl(tmp_path / "two.jsonl", [
        {"id": "one", "title": "Harbour reopens", "text": "The harbour reopened on Monday after the storm."},
        {"id": "two", "title": "Bridge closes", "text": "The bridge closes for repairs next week."}])
    with IndexWriter(tmp_path / "index", encoder=encoder) as writer:
        assert index_with_ray([corpus], writer, staging=staging).indexed == 2
    assert [p.name for p in staging.iterdir()] == ["someone-elses.txt"]
    assert (staging / "someone-elses.txt").read_text() == "keep me"


def test_ray_learns_boilerplate_as_a_local_run_does(local_ray, tmp_path, encoder):
    from indexer.distributed import index_with_ray
    from test_boilerplate import scraped, story

    corpus = write_jsonl(tmp_path / "gazette.jsonl", [
        {"id": f"g{n}", "title": f"Buses {n}", "text": scraped(n), "source": "Gazette"} for n in range(6)])
    with IndexWriter(tmp_path / "ray", encoder=encoder) as writer:
        assert index_with_ray([corpus], writer).indexed == 6
    with IndexWriter(tmp_path / "local", encoder=encoder) as writer:
        writer.add(read_paths([corpus]))
    ray_articles, ray_chunks, _ = _contents(tmp_path / "ray")
    assert [text for *_, text, _, _, _ in ray_articles] == ["\n\n".join(story(n)) for n in range(6)]
    local_articles, local_chunks, _ = _contents(tmp_path / "local")
    assert ray_articles == local_articles
    # The same passages; chunk ids differ (the local run wrote the first stories before it had learned).
    assert sorted(c[1:] for c in ray_chunks) == sorted(c[1:] for c in local_chunks)
