"""The public surface: every exported name resolves, ``__all__`` lists are clean and exports are documented."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from types import ModuleType

import pytest

import framework
from framework._deprecated import MOVED


def _packages() -> list[str]:
    """``framework`` and every subpackage/module of it, except the deprecated shims of old paths."""
    names = ["framework"]
    todo = [("framework.", framework.__path__)]
    while todo:
        prefix, path = todo.pop()
        for info in pkgutil.iter_modules(path, prefix):
            if info.name.endswith("__main__") or info.name in MOVED:
                continue
            names.append(info.name)
            if info.ispkg:
                todo.append((info.name + ".", importlib.import_module(info.name).__path__))
    return sorted(names)


def _with_all() -> list[str]:
    found = []
    for name in _packages():
        module = importlib.import_module(name)
        if hasattr(module, "__all__"):
            found.append(name)
    return found


MODULES = _with_all()
PACKAGES = [name for name in MODULES if hasattr(importlib.import_module(name), "__path__")]


def test_the_walk_finds_the_subpackages() -> None:
    assert {"framework", "framework.app", "framework.models", "framework.runtime.openapi", "framework.testing"} <= set(
        PACKAGES
    )


@pytest.mark.parametrize("name", MODULES)
def test_all_has_no_duplicates_and_every_name_resolves(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    duplicates = sorted({n for n in exported if exported.count(n) > 1})
    assert not duplicates, f"{name}.__all__ lists {duplicates} twice"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names {missing}, which do not resolve"


def _undocumented(module: ModuleType) -> list[str]:
    bad = []
    for export in module.__all__:
        value = getattr(module, export)
        if not (inspect.isclass(value) or inspect.isfunction(value)):
            continue  # constants, aliases and type variables
        if not (inspect.getdoc(value) or "").strip():
            bad.append(export)
    return bad


@pytest.mark.parametrize("name", MODULES)
def test_every_exported_class_and_function_has_a_docstring(name: str) -> None:
    assert _undocumented(importlib.import_module(name)) == []


def test_top_level_exports_what_bot_authors_and_sdk_users_need() -> None:
    needed = {
        "Bot",
        "Context",
        "rule",
        "keywords",
        "Intents",
        "Message",
        "GroupMessage",
        "C2CMessage",
        "Credentials",
        "TokenManager",
        "OpenAPI",
        "OpenAPIError",
        "PendingAudit",
        "LocalSessionManager",
        "SessionManager",
        "BotRunner",
        "run_webhook",
        "WebhookApp",
        "serve_webhook",
        "Settings",
        "load_settings",
        "configure_logging",
        # message-building models (issue 11): ctx.reply(markdown=..., keyboard=Keyboard(...)), ark=, embed=
        "Keyboard",
        "Markdown",
        "Ark",
        "Embed",
        "Media",
        "MessageReference",
    }
    assert needed <= set(framework.__all__)
    assert set(framework.__all__) <= set(dir(framework))


def test_lazy_exports_are_the_real_objects() -> None:
    from framework.runner import BotRunner
    from framework.runtime.openapi import OpenAPI

    assert framework.BotRunner is BotRunner
    assert framework.OpenAPI is OpenAPI
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = framework.no_such_name


def test_import_framework_stays_light() -> None:
    """``import framework`` must not pull in the network stack (those exports load lazily)."""
    code = (
        "import sys, framework; "
        "heavy = [m for m in ('httpx', 'websockets', 'hypercorn', 'framework.runner') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == ""
