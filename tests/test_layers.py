"""The layer rules of the code base (issue 24), read from the code: search_api reaches the write
side only through indexer.writing, and searching never loads the writer."""

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FACE = "indexer.writing"
# The write side behind the face: reading input files, cleaning them, writing, sharding, merging
# and distributing the writes, and the pipeline steps they run.
WRITE_SIDE = {"indexer.article", "indexer.batches", "indexer.boilerplate", "indexer.chunking",
              "indexer.cleaning", "indexer.distributed", "indexer.duplicates", "indexer.lexical_upkeep",
              "indexer.merging", "indexer.page_dates", "indexer.inputs", "indexer.progress",
              "indexer.recleaning", "indexer.sharding", "indexer.writer"}


def imported_modules(path: Path) -> set[str]:
    """Every absolute module name that `path` imports, at its top or inside a function;
    `from indexer import store` counts as indexer.store."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_search_api_imports_the_write_side_only_through_its_face():
    offences = []
    for path in sorted((ROOT / "search_api").glob("*.py")):
        for name in sorted(imported_modules(path) & WRITE_SIDE):
            offences.append(f"{path.relative_to(ROOT)} imports {name}; import it from {FACE}")
    assert not offences, "\n".join(offences)


def test_searching_loads_no_module_of_the_write_side():
    behind = WRITE_SIDE | {FACE}
    code = ("import sys, search_api.searcher, search_api.sharded, search_api.index_readers, search_api.stories; "
            "print('\\n'.join(sorted(sys.modules)))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout.split())
    assert not loaded & behind, f"searching loads {sorted(loaded & behind)}"
