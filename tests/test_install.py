"""The install is reproducible: every package in the environment the tests run in is pinned in
constraints.txt at the version installed, so a fresh machine that follows the README resolves what
this run resolved (a new dependency that is not pinned fails here, not on a user's machine). The
base install needs none of the optional extras: an onnx-only server installs without torch."""

import site
import tomllib
from importlib.metadata import PackageNotFoundError, distributions, requires
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "constraints.txt"
# Not resolved by pip from the project's requirements: the venv's own tools, and the project itself.
NOT_PINNED = {"pip", "setuptools", "wheel", "article-search"}


def pins() -> dict[str, str]:
    pinned = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", f"constraints.txt pins with ==, not {line!r}"
            pinned[canonicalize_name(requirement.name)] = specifier.version
    return pinned


def test_every_installed_package_is_pinned_at_its_installed_version():
    pinned = pins()
    unpinned, different = [], []
    # What pip installed: the environment's site-packages, not folders that a package puts on
    # sys.path at import time (Ray adds its own copies of psutil and colorama).
    for dist in distributions(path=site.getsitepackages()):
        name = canonicalize_name(dist.metadata["Name"])
        if name in NOT_PINNED:
            continue
        if name not in pinned:
            unpinned.append(f"{name}=={dist.version}")
        # torch's local label (+cpu) is the wheel's build, not another release.
        elif Version(dist.version).public != Version(pinned[name]).public:
            different.append(f"{name}: installed {dist.version}, pinned {pinned[name]}")
    assert not unpinned, f"installed but not in constraints.txt: {unpinned}"
    assert not different, f"installed at another version than constraints.txt pins: {different}"


def base_requirements() -> set[str]:
    """The packages `pip install .` (no extras) installs: pyproject.toml's dependencies and what
    they require in turn, read from the metadata of the packages installed here."""
    pending = [Requirement(line) for line in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
               ["dependencies"]]
    found: set[str] = set()
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in found or (requirement.marker and not requirement.marker.evaluate({"extra": ""})):
            continue
        found.add(name)
        try:
            pending.extend(Requirement(line) for line in requires(name) or [])
        except PackageNotFoundError:
            pass  # not installed here, so its own requirements cannot be read here
    return found


def test_the_base_install_holds_none_of_the_extras():
    extras = {"torch", "sentence-transformers", "transformers", "trafilatura", "onnx"}
    assert base_requirements() & extras == set()
    assert {"onnxruntime", "tokenizers", "faiss-cpu", "tantivy", "fastapi"} <= base_requirements()
