"""The onnxruntime backends: same embeddings as torch (onnx), close ones (onnx-int8), and the
index refuses a query backend that embeds differently from its own."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from indexer.models import PROBE_SENTENCES, OnnxEncoder
from indexer.inputs import read_paths
from indexer.store import StoreError
from indexer.writer import IndexWriter
from search_api.searcher import Searcher

from test_search import QUESTIONS


@pytest.fixture(scope="module")
def onnx(encoder):
    return OnnxEncoder(None, "onnx")


@pytest.fixture(scope="module")
def onnx_int8(encoder):
    return OnnxEncoder(None, "onnx-int8")


def test_onnx_embeds_like_torch(encoder, onnx, onnx_int8):
    texts = PROBE_SENTENCES + ["A much longer passage. " * 40]
    reference = encoder.encode(texts)
    assert (onnx.encode(texts) * reference).sum(axis=1).min() > 0.9999
    assert (onnx_int8.encode(texts) * reference).sum(axis=1).min() > 0.97
    assert onnx.fingerprint == encoder.fingerprint and onnx.dimension == 384 and onnx.max_seq_length == 256
    vectors, tokens = onnx.encode_with_tokens(["The bridge reopened on Monday."])
    torch_vectors, torch_tokens = encoder.encode_with_tokens(["The bridge reopened on Monday."])
    assert np.allclose(tokens[0], torch_tokens[0], atol=1e-4)


def test_onnx_tokenizer_matches_the_model_tokenizer(encoder, onnx):
    text = "Zürich's café — “naïve” résumé, 3.5% of U.S. GDP!"
    ours = onnx.tokenizer([text], add_special_tokens=False, return_offsets_mapping=True)
    theirs = encoder.tokenizer([text], add_special_tokens=False, return_offsets_mapping=True)
    assert ours["input_ids"] == theirs["input_ids"]
    assert [list(o) for o in ours["offset_mapping"][0]] == [list(o) for o in theirs["offset_mapping"][0]]


def test_a_torch_index_answers_onnx_queries_and_refuses_int8(sample_index, onnx, onnx_int8):
    searcher = Searcher(sample_index, encoder=onnx)
    for question, expected in QUESTIONS[:5]:
        assert searcher.search(question, k=1, min_confidence=0).results[0].article_id == expected
    with pytest.raises(StoreError, match="onnx-int8 backend embeds differently"):
        Searcher(sample_index, encoder=onnx_int8)


def test_an_int8_index_records_its_backend_and_answers(tmp_path, sample_subset, onnx_int8, encoder):
    index = tmp_path / "int8"
    with IndexWriter(index, encoder=onnx_int8) as writer:
        writer.add(read_paths([sample_subset]))
    searcher = Searcher(index, encoder=onnx_int8)
    assert searcher.manifest["model"]["backend"] == "onnx-int8"
    correct = sum(searcher.search(q, k=1, min_confidence=0).results[0].article_id == expected for q, expected in QUESTIONS)
    assert correct >= len(QUESTIONS) - 1
    with pytest.raises(StoreError, match="torch backend embeds differently"):
        Searcher(index, encoder=encoder)


def test_one_off_cli_query_with_onnx(sample_index, onnx):
    result = subprocess.run([sys.executable, "-m", "search_api.cli", "query", QUESTIONS[4][0], "--index",
                             str(sample_index), "--backend", "onnx", "-k", "1", "--json"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f'"article_id": "{QUESTIONS[4][1]}"' in result.stdout
    # The one-off query path never imports torch or sentence-transformers.
    probe = subprocess.run([sys.executable, "-c", (
        "import sys; from search_api.cli import main; main(['query', 'fire', '--index', sys.argv[1], "
        "'--backend', 'onnx', '-k', '1']); print('torch' in sys.modules, 'sentence_transformers' in sys.modules)"),
        str(sample_index)], capture_output=True, text=True, timeout=120)
    assert probe.stdout.strip().endswith("False False"), probe.stdout + probe.stderr


def test_processes_exporting_into_one_empty_cache_at_once_all_get_a_valid_model(tmp_path, encoder):
    """`serve --workers N --backend onnx` with an empty cache: every worker exports at once. Each
    must end with a whole model (temporary files of their own, renamed into place)."""
    script = ("import json; from indexer.models import OnnxEncoder; "
              f"print(json.dumps(OnnxEncoder(None, 'onnx').encode({PROBE_SENTENCES[:3]!r}).tolist()))")
    env = dict(os.environ, ARTICLE_SEARCH_CACHE=str(tmp_path / "cache"))
    workers = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [worker.communicate(timeout=600) for worker in workers]
    for worker, (out, err) in zip(workers, outputs):
        assert worker.returncode == 0, err[-2000:]
    reference = encoder.encode(PROBE_SENTENCES[:3])
    for out, _ in outputs:
        assert (np.array(json.loads(out)) * reference).sum(axis=1).min() > 0.9999
    assert [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()] == ["model.onnx"]


# -- the default query backend (issue 12, item 6) --------------------------------------------------

def test_a_torch_index_answers_queries_with_onnx_by_default(sample_index, caplog):
    caplog.set_level("INFO", logger="article_search")
    searcher = Searcher(sample_index)
    assert searcher.encoder.backend == "onnx" and searcher.stats()["query_backend"] == "onnx"
    assert any("queries are embedded with onnx" in r.getMessage() for r in caplog.records)
    for question, expected in QUESTIONS[:5]:
        assert searcher.search(question, k=1, min_confidence=0).results[0].article_id == expected


def test_an_explicit_backend_is_honoured_and_never_replaced(sample_index):
    assert Searcher(sample_index, backend="torch").stats()["query_backend"] == "torch"
    with pytest.raises(StoreError, match="onnx-int8 backend embeds differently"):
        Searcher(sample_index, backend="onnx-int8")  # refused, not quietly swapped for another


def test_damaged_probe_vectors_keep_the_index_on_its_own_backend(writable_index, caplog):
    import sqlite3

    with sqlite3.connect(writable_index / "index.sqlite") as conn:
        stored = np.frombuffer(bytes.fromhex(conn.execute(
            "SELECT value FROM meta WHERE key = 'probe_vectors'").fetchone()[0]), dtype=np.float32).reshape(8, -1)
        conn.execute("UPDATE meta SET value = ? WHERE key = 'probe_vectors'",
                     (np.roll(stored, 1, axis=0).tobytes().hex(),))  # each sentence given another's vector
    conn.close()
    searcher = Searcher(writable_index)
    assert searcher.encoder.backend == "torch" and searcher.stats()["query_backend"] == "torch"
    assert any("onnx embeds differently from this index" in r.getMessage() for r in caplog.records)
    assert searcher.search(QUESTIONS[0][0], k=1).results[0].article_id == QUESTIONS[0][1]


def test_an_int8_index_queried_by_default_keeps_int8(tmp_path, sample_subset, onnx_int8, caplog):
    index = tmp_path / "int8"
    small = tmp_path / "small.jsonl"
    small.write_text("".join(sample_subset.read_text(encoding="utf-8").splitlines(keepends=True)[:8]), encoding="utf-8")
    with IndexWriter(index, encoder=onnx_int8) as writer:
        writer.add(read_paths([small]))
    searcher = Searcher(index)
    assert searcher.stats()["query_backend"] == "onnx-int8"
    assert any("onnx embeds differently from this index" in r.getMessage() for r in caplog.records)


def test_onnx_that_cannot_be_exported_leaves_the_index_on_its_own_backend(sample_index, tmp_path, monkeypatch, caplog):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the export cache would go")
    monkeypatch.setenv("ARTICLE_SEARCH_CACHE", str(blocked))
    searcher = Searcher(sample_index)
    assert searcher.stats()["query_backend"] == "torch"
    assert any("onnx is not available" in r.getMessage() for r in caplog.records)


def test_a_torch_index_run_exports_the_query_model_so_queries_never_import_torch(tmp_path, sample_subset, encoder,
                                                                                 monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("ARTICLE_SEARCH_CACHE", str(cache))
    small = tmp_path / "small.jsonl"
    small.write_text("".join(sample_subset.read_text(encoding="utf-8").splitlines(keepends=True)[:5]), encoding="utf-8")
    index = tmp_path / "index"
    with IndexWriter(index, encoder=encoder) as writer:
        writer.add(read_paths([small]))
    assert [p.name for p in cache.rglob("*") if p.is_file()] == ["model.onnx"]
    probe = subprocess.run([sys.executable, "-c", (
        "import sys; from search_api.cli import main; main(['query', 'fire', '--index', sys.argv[1], '-k', '1']); "
        "print('torch' in sys.modules, 'sentence_transformers' in sys.modules)"), str(index)],
        capture_output=True, text=True, timeout=120, env=dict(os.environ, ARTICLE_SEARCH_CACHE=str(cache)))
    assert probe.stdout.strip().endswith("False False"), probe.stdout + probe.stderr


def test_an_export_whose_output_width_is_symbolic_gets_its_dimension_by_running_the_model(onnx, monkeypatch):
    import onnxruntime
    from types import SimpleNamespace

    class SymbolicWidth(onnxruntime.InferenceSession):
        """The real session of the real export, whose outputs say no width (as some exports leave it)."""

        def get_outputs(self):
            return [SimpleNamespace(name=o.name, shape=[*o.shape[:-1], None]) for o in super().get_outputs()]

    monkeypatch.setattr(onnxruntime, "InferenceSession", SymbolicWidth)
    encoder = OnnxEncoder(None, "onnx")
    assert encoder.dimension == 384
    assert np.allclose(encoder.encode(["dimension probe"]), onnx.encode(["dimension probe"]), atol=1e-5)
