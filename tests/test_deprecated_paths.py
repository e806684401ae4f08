"""The old module paths of the tree reorganisation still work for one release, each with a DeprecationWarning.

Each old path is imported in a fresh interpreter (a module warns once, when first imported), and its names
must be the very objects of the new module.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from framework._deprecated import MOVED

_PROBE = """
import importlib, sys, warnings
old, new = sys.argv[1], sys.argv[2]
target = importlib.import_module(new)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    exec(f"import {old}")  # an import statement in this file, as a user's code would have
shim = sys.modules[old]
found = [(str(w.message), w.filename) for w in caught if issubclass(w.category, DeprecationWarning)]
# one warning, pointing at the importing line (not at the shim or importlib)
assert found == [(f"{old} moved to {new}; the old name goes in the next release", "<string>")], found
# the old path serves what it served; names the new module gained since need not be there
assert shim.__all__ and set(shim.__all__) <= set(target.__all__), (shim.__all__, target.__all__)
for name in shim.__all__:
    assert getattr(shim, name) is getattr(target, name), name
"""


@pytest.mark.parametrize(("old", "new"), MOVED.items(), ids=list(MOVED))
def test_old_path_warns_and_reexports_the_same_objects(old: str, new: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, old, new], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


def test_old_emulator_command_still_serves_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "framework.testing.emulator", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m framework.testing.emulator ")


REPO = Path(__file__).resolve().parents[1]
_OLD_IMPORT = re.compile(
    r"\b(?:from|import)\s+("
    + "|".join(re.escape(old) for old in MOVED)
    + r")(?!\w)"
    # from framework.runtime import shard
    + "".join(
        rf"|\bfrom\s+{re.escape(old.rpartition('.')[0])}\s+import\s+\(?\s*({re.escape(old.rpartition('.')[2])})\b"
        for old in MOVED
    )
)
_SCANNED = (
    "framework",
    "tests",
    "benchmarks",
    "examples",
    "plugins_example",
    "scripts",
    "cookiecutter-template",
    "docs",
)


def _repo_texts() -> list[Path]:
    found = list(REPO.glob("README*.md"))
    for top in _SCANNED:
        found += [p for p in (REPO / top).rglob("*") if p.suffix in {".py", ".md", ".toml"} and p.is_file()]
    return sorted(p for p in found if p != Path(__file__).resolve() and "__pycache__" not in p.parts)


def test_nothing_in_the_repo_imports_an_old_path() -> None:
    """The shims are for users' code only: the framework, tests, docs, examples and templates use the new paths."""
    bad = []
    for path in _repo_texts():
        text = path.read_text(encoding="utf-8", errors="replace")
        for m in _OLD_IMPORT.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            bad.append(f"{path.relative_to(REPO)}:{line}: {' '.join(m.group(0).split())} (an old path, see MOVED)")
    assert not bad, "; ".join(bad)
