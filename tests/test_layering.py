"""The layers of docs/architecture.md: imports point down only, checked on the source with ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "framework"

# package prefix -> framework packages it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "framework.models": set(),
    "framework.interfaces": {"framework.models"},
    "framework.clock": {"framework.interfaces"},  # re-exports the Clock interface
    "framework.logs": set(),
    "framework._deprecated": set(),  # the warning of the old-path shims (stdlib only)
    "framework.protocol": {"framework.models"},
    "framework.runtime": {
        "framework.models",
        "framework.clock",
        "framework.protocol",
        "framework.logs",
        "framework.interfaces",
        "framework._deprecated",
    },
    "framework.emulator": {"framework.models", "framework.clock", "framework.protocol", "framework.interfaces"},
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _framework_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("framework"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("framework"):
            if node.module == "framework":  # from framework import interfaces -> framework.interfaces
                found.update(f"framework.{a.name}" for a in node.names)
            else:
                found.add(str(node.module))
    return found


def _layer(module: str) -> str | None:
    best = None
    for prefix in ALLOWED:
        if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > len(best)):
            best = prefix
    return best


FILES = sorted(ROOT.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT.parent)))
def test_imports_point_down(path: Path) -> None:
    module = _module_name(path)
    layer = _layer(module)
    if layer is None:
        return  # app, plugins, cli, testing client: may import anything below
    allowed = ALLOWED[layer] | {layer}
    for imported in _framework_imports(path):
        ok = any(imported == a or imported.startswith(a + ".") for a in allowed)
        assert ok, f"{module} ({layer}) must not import {imported}"


def test_the_check_sees_every_layer() -> None:
    layers = {_layer(_module_name(p)) for p in FILES}
    assert set(ALLOWED) <= layers
