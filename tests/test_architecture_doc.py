"""docs/architecture.md's layer table says what tests/test_layering.py enforces: same layers, same imports."""

from __future__ import annotations

import re
from pathlib import Path

from test_layering import ALLOWED

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def _table() -> dict[str, tuple[set[str], str]]:
    """package -> (packages it may import, the raw cell) from the table after ``<!-- layers -->``."""
    text = DOC.read_text(encoding="utf-8").split("<!-- layers -->", 1)[1]
    rows: dict[str, tuple[set[str], str]] = {}
    for line in text.splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        packages = re.findall(r"`(framework[\w.]*)`", cells[1])
        may_import = set(re.findall(r"`(framework[\w.]*)`", cells[3]))
        for package in packages:
            rows[package] = (may_import, cells[3])
    return rows


def test_every_enforced_layer_is_in_the_doc_with_the_same_imports() -> None:
    table = _table()
    for package, allowed in ALLOWED.items():
        if package.startswith("framework._"):
            continue  # private helpers (the deprecation shims' warning) are not layers
        assert package in table, f"docs/architecture.md's layer table lacks {package}"
        documented, cell = table[package]
        if cell == "nothing":
            documented = set()
        public = {a for a in allowed if not a.startswith("framework._")}
        assert documented - {"framework._deprecated"} == public, (package, documented, public)


def test_the_doc_names_no_layer_the_test_does_not_know() -> None:
    known = set(ALLOWED) | {
        # unrestricted layers (may import everything below), checked by their own rules in test_layering
        "framework.app",
        "framework.plugins",
        "framework.observability",
        "framework.config",
        "framework.runner",
        "framework.cli",
        "framework.testing",
    }
    assert set(_table()) <= known, set(_table()) - known
