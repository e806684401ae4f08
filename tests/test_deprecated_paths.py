"""The old module paths of the tree reorganisation still work for one release, each with a DeprecationWarning.

Each old path is imported in a fresh interpreter (a module warns once, when first imported), and its names
must be the very objects of the new module.
"""

from __future__ import annotations

import subprocess
import sys

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
assert sorted(shim.__all__) == sorted(target.__all__), (shim.__all__, target.__all__)
for name in target.__all__:
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
