"""An onnx-only install serves: over an index embedded with onnx, the server answers a search with
the packages of the optional extras ([torch], [html], [int8]) made unimportable; and what does
need an extra says which one instead of failing with a traceback."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from test_search import QUESTIONS

FIXTURES = Path(__file__).resolve().parent / "fixtures"

# The modules the extras install: torch and sentence-transformers (with transformers) for [torch],
# trafilatura for [html], onnx (the quantizer's, not onnxruntime) for [int8].
EXTRAS_MODULES = ("torch", "sentence_transformers", "transformers", "trafilatura", "onnx")

# Run first in the server's process: a finder ahead of every other that refuses those modules, as
# an environment without them would.
REFUSE_EXTRAS = f"""
import sys
class RefuseExtras:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {EXTRAS_MODULES!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (refused by the test)", name=name)
        return None
sys.meta_path.insert(0, RefuseExtras())
"""

SERVE_AND_SEARCH = """
import json
from fastapi.testclient import TestClient
from search_api.app import create_app
with TestClient(create_app(sys.argv[1])) as client:
    response = client.get("/search", params={"q": sys.argv[2], "k": 1})
    stats = client.get("/stats").json()
print(json.dumps({"status": response.status_code, "body": response.json(), "backend": stats.get("query_backend"),
                  "loaded": sorted(m for m in sys.modules if m.split(".")[0] in %r)}))
""" % (EXTRAS_MODULES,)


@pytest.fixture(scope="module")
def onnx_index(tmp_path_factory, sample_subset):
    """An index of the sample subset embedded with onnx, written by `article-search index`."""
    index = tmp_path_factory.mktemp("onnx") / "index"
    result = subprocess.run([sys.executable, "-m", "search_api.cli", "index", str(sample_subset), "--index",
                             str(index), "--backend", "onnx"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return index


def test_the_refusal_works():
    """The prelude does refuse what it names, so the tests below cannot pass for lack of trying."""
    result = run_without_extras("import torch")
    assert result.returncode != 0 and "refused by the test" in result.stderr


def test_a_server_over_an_onnx_index_answers_without_the_extras(onnx_index):
    question, expected = QUESTIONS[4]
    result = run_without_extras(SERVE_AND_SEARCH, str(onnx_index), question)
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["status"] == 200, answer
    assert answer["body"]["results"][0]["article_id"] == expected
    assert answer["backend"] == "onnx" and answer["loaded"] == []


def run_without_extras(code: str, *args: str) -> subprocess.CompletedProcess:
    """Python `code` (with `args` in sys.argv) in a process where the extras' modules cannot be imported."""
    return subprocess.run([sys.executable, "-c", REFUSE_EXTRAS + code, *args], capture_output=True, text=True,
                          timeout=300)


def test_indexing_with_torch_without_the_torch_extra_names_it(tmp_path, sample_subset):
    result = run_without_extras("from search_api.cli import main; sys.exit(main(sys.argv[1:]))", "index",
                                str(sample_subset), "--index", str(tmp_path / "index"))
    assert result.returncode == 1, result.stderr[-2000:]
    assert "the torch backend needs the [torch] extra" in result.stderr and "Traceback" not in result.stderr


def test_html_input_without_the_html_extra_is_a_problem_naming_it():
    result = run_without_extras("from indexer.inputs import read_paths; print(*read_paths([sys.argv[1]]))",
                                str(FIXTURES / "page.html"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "page.html" in result.stdout and "HTML input needs the [html] extra" in result.stdout
