"""Shared fixtures: the real default model, loaded once, and small real indexes built with it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from indexer.embedding import Encoder
from indexer.readers import read_paths
from indexer.writer import IndexWriter

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SAMPLE = ROOT / "data" / "wikinews_en_2019_2020.jsonl"
SAMPLE_SUBSET_SIZE = 60  # the first 60 sample articles: ~200 passages, ~10 s to embed


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    return Encoder()


@pytest.fixture(scope="session")
def sample_subset(tmp_path_factory) -> Path:
    """The first SAMPLE_SUBSET_SIZE articles of the shipped sample, as a JSONL file."""
    path = tmp_path_factory.mktemp("sample") / "wikinews_subset.jsonl"
    with open(SAMPLE, encoding="utf-8") as src:
        lines = [next(src) for _ in range(SAMPLE_SUBSET_SIZE)]
    path.write_text("".join(lines), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory, encoder, sample_subset) -> Path:
    """A real index of the sample subset, built once; tests must not write to it."""
    index_dir = tmp_path_factory.mktemp("index") / "sample"
    with IndexWriter(index_dir, encoder=encoder) as writer:
        summary = writer.add(read_paths([sample_subset]))
    assert summary.indexed == SAMPLE_SUBSET_SIZE and not summary.problems
    return index_dir


@pytest.fixture
def writable_index(tmp_path, sample_index) -> Path:
    """A private copy of the sample index that a test may change."""
    target = tmp_path / "index"
    shutil.copytree(sample_index, target, ignore=shutil.ignore_patterns(".lock"))
    return target


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path
