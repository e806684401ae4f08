"""The layers of docs/architecture.md: imports point down only, checked on the source with ``ast``."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "framework"

# package prefix -> framework packages it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "framework.errors": set(),  # QQBotError, the root of every framework exception, and the transport family
    "framework.models": {"framework.errors"},
    "framework.interfaces": {"framework.models"},
    "framework.clock": {"framework.interfaces"},  # re-exports the Clock interface
    "framework.logs": set(),
    "framework._deprecated": set(),  # the warning of the old-path shims (stdlib only)
    "framework.protocol": {"framework.models", "framework.errors"},
    # the one event-delivery path (issue 12): fed by every transport, used by the app
    "framework.delivery": {"framework.models", "framework.protocol", "framework.interfaces"},
    "framework.runtime": {
        "framework.delivery",
        "framework.models",
        "framework.clock",
        "framework.protocol",
        "framework.logs",
        "framework.interfaces",
        "framework._deprecated",
        "framework.errors",
    },
    "framework.emulator": {"framework.models", "framework.clock", "framework.protocol", "framework.interfaces"},
    # the event bus (issue 14): a layer beside runtime, feeding the delivery path
    "framework.bus": {
        "framework.models",
        "framework.protocol",
        "framework.delivery",
        "framework.interfaces",
        "framework.logs",
        "framework.errors",
        "framework.clock",
    },
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


# -- rules beyond "imports point down" -------------------------------------------------------------------


def _imports(nodes: list[ast.stmt] | ast.Module) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import anywhere under ``nodes``; ``from x import y`` gives x.y too."""
    for node in ast.walk(nodes if isinstance(nodes, ast.AST) else ast.Module(body=nodes, type_ignores=[])):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            yield from ((node.lineno, f"{node.module}.{a.name}") for a in node.names)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_time_imports(body: list[ast.stmt]) -> Iterator[tuple[int, str]]:
    """Imports that run when the module is imported: the module body, top-level ``if``/``try``/``with``
    blocks and class bodies, but not function bodies nor ``if TYPE_CHECKING:`` blocks."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield from _imports([node])
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _import_time_imports(node.body)
            yield from _import_time_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _import_time_imports(block)
        elif isinstance(node, ast.With | ast.ClassDef):
            yield from _import_time_imports(node.body)


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _files_of(package: str) -> list[Path]:
    return sorted(ROOT.parent.joinpath(*package.split(".")).rglob("*.py"))


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT.parent)}:{line}"


NETWORK_MODULES = ("anyio", "httpx", "socket", "ssl", "asyncio", "trio")


@pytest.mark.parametrize("path", _files_of("framework.protocol"), ids=lambda p: str(p.relative_to(ROOT.parent)))
def test_protocol_is_sans_io(path: Path) -> None:
    """``framework.protocol`` decides, it never does I/O: no network or event-loop library, anywhere in a file."""
    bad = [
        f"{_where(path, line)} imports {name}"
        for line, name in _imports(ast.parse(path.read_text(encoding="utf-8")))
        if any(_under(name, m) for m in NETWORK_MODULES)
    ]
    assert not bad, "framework.protocol is sans-IO: " + "; ".join(bad)


@pytest.mark.parametrize("path", _files_of("framework.app"), ids=lambda p: str(p.relative_to(ROOT.parent)))
def test_app_does_not_import_the_runtime_when_imported(path: Path) -> None:
    """The app layer reaches the runtime only inside functions or for type checking, so ``framework.Bot`` stays
    importable (and cheap) without httpx and the gateway client."""
    bad = [
        f"{_where(path, line)} imports {name} at module level"
        for line, name in _import_time_imports(ast.parse(path.read_text(encoding="utf-8")).body)
        if _under(name, "framework.runtime") or _under(name, "framework.runner")
    ]
    assert not bad, "; ".join(bad) + " (import it inside the function that needs it, or under TYPE_CHECKING)"


def test_a_bot_does_not_import_the_network_stack() -> None:
    """``framework.Bot()`` needs neither httpx nor the runtime; handlers annotated with the runtime's
    ``OpenAPI`` (imported by the bot's own code, after the bot was made) still receive the client."""
    code = """
import sys, anyio, framework
bot = framework.Bot()
heavy = [m for m in ("httpx", "websockets", "hypercorn", "framework.runtime", "framework.runner") if m in sys.modules]
assert not heavy, f"framework.Bot() imported {heavy}"
from framework.runtime.openapi import OpenAPI
from framework.testing.recording import RecordingApi, c2c
seen = []
@bot.on_c2c_message
async def handler(api: OpenAPI) -> None:
    seen.append(api)
api = RecordingApi()
bot.bind(api)
anyio.run(bot.dispatch, c2c("hi"))
assert seen == [api], seen
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def test_plugins_use_only_the_public_app() -> None:
    """``framework.plugins`` sees the app as plugin authors do: the names ``framework.app`` exports, never one of
    its modules (``framework.app.bot``, ``framework.app.handlers``, ...), and nothing else of the framework but
    the exception root ``framework.errors``."""
    import framework.app

    public = set(framework.app.__all__)
    bad = []
    for path in sorted((ROOT / "plugins").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                wrong = [a.name for a in node.names if a.name.startswith("framework") and a.name != "framework.app"]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("framework"):
                if node.module == "framework.app":
                    wrong = [f"framework.app.{a.name}" for a in node.names if a.name not in public]
                else:  # framework.errors: the exception root, which every layer may import
                    module = str(node.module)
                    wrong = [] if module.startswith("framework.plugins") or module == "framework.errors" else [module]
            else:
                continue
            bad += [f"{path.relative_to(ROOT.parent)}:{node.lineno} imports {name}" for name in wrong]
    assert not bad, "; ".join(bad) + " (use the names framework.app exports)"
