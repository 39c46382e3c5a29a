"""Shared fixtures: the real default model, loaded once, and small real indexes built with it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

import pytest

from indexer.models import Encoder, TorchEncoder
from indexer.inputs import read_paths
from indexer.writer import IndexWriter

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SAMPLE = ROOT / "data" / "wikinews_en_2019_2020.jsonl"
SAMPLE_SUBSET_SIZE = 60  # the first 60 sample articles: ~200 passages, ~10 s to embed


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    return TorchEncoder()


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


# An article no sample article resembles, for tests that add one to a running index.
LLAMA = {"id": "llama-1", "title": "Llamas elected to village council",
         "text": "In a surprise result, two llamas were elected to the council of a small Andean village after "
                 "residents wrote their names on the ballot as a protest vote."}


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, what: str, timeout: float = 60) -> None:
    """Poll `condition()` until it is true; fail naming `what` after `timeout` seconds. For tests
    that wait for another thread or process: no fixed sleep, which is too short on a loaded machine
    and wasted on an idle one."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s in vain until {what}")
        time.sleep(0.02)


@contextmanager
def running_server(index_dir: Path, api_key: str | None = None, log_path: Path | None = None,
                   options: tuple[str, ...] = ()):
    """A real `article-search serve` process over `index_dir` (with `options`); yields its base URL once ready."""
    port = free_port()
    env = dict(os.environ, ARTICLE_SEARCH_INDEX=str(index_dir))
    env.pop("ARTICLE_SEARCH_API_KEY", None)
    if api_key:
        env["ARTICLE_SEARCH_API_KEY"] = api_key
    log = open(log_path, "w") if log_path else subprocess.DEVNULL
    process = subprocess.Popen([sys.executable, "-m", "search_api.cli", "serve", "--port", str(port), *options],
                               env=env, stdout=log, stderr=subprocess.STDOUT if log_path else subprocess.PIPE,
                               text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}")
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become ready in 120 s")
            time.sleep(0.25)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        if log_path:
            log.close()


@pytest.fixture(scope="session")
def ivf_index(tmp_path_factory, sample_index, encoder) -> Path:
    """A copy of the sample index laid out as IVF (a few inverted lists): the layout `auto` picks
    for large archives, here forced on a small one. Tests must not write to it."""
    from indexer import store, vectors

    target = tmp_path_factory.mktemp("ivf") / "index"
    shutil.copytree(sample_index, target, ignore=shutil.ignore_patterns(".lock"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(vectors, "IVF_MIN", 50)  # IVF is never chosen below IVF_MIN vectors
        with IndexWriter(target, encoder=encoder, index_type="ivf-sq8"):
            pass
    assert store.read_manifest(target)["faiss"]["description"].startswith("IVF")
    return target


def pytest_unconfigure(config):
    """Leave with the test run's own status, skipping the interpreter's teardown: once, after
    "194 passed" had been printed, the process then died in a native library's finalizer
    (segmentation fault, exit 139), which would fail a green run. Everything a test opened has been
    closed by its fixtures by now; what is left is the process's own exit. Its cause is still
    unknown: what was tried, and how to look further, is in docs/reliability.md (issue 24)."""
    import gc

    gc.collect()  # native objects still referenced are freed while the interpreter is whole
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(getattr(config, "_article_search_status", 0)))


def pytest_sessionfinish(session, exitstatus):
    session.config._article_search_status = exitstatus
