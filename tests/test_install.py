"""The install is reproducible: every package in the environment the tests run in is pinned in
constraints.txt at the version installed, so a fresh machine that follows the README resolves what
this run resolved (a new dependency that is not pinned fails here, not on a user's machine)."""

import site
from importlib.metadata import distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

CONSTRAINTS = Path(__file__).resolve().parent.parent / "constraints.txt"
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
