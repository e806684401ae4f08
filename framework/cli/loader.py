"""Find the ``Bot`` named on the command line: ``package.module:attr`` or ``path/to/file.py:attr``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

__all__ = ["BotLoadError", "load_object"]


class BotLoadError(Exception):
    """The ``module:attr`` reference cannot be loaded; the message says why."""


def load_object(ref: str) -> Any:
    """Import ``ref`` (``module:attr``, ``file.py:attr``; ``attr`` defaults to ``bot``) and return the object."""
    target, _, attr = ref.partition(":")
    attr = attr or "bot"
    if not target:
        raise BotLoadError(f"expected MODULE:ATTR or FILE.py:ATTR, got {ref!r}")
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = Path(target).resolve()
        if not path.is_file():
            raise BotLoadError(f"no such file: {target}")
        name = f"_qqbot_user_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise BotLoadError(f"cannot import {target}")
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.parent))
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise BotLoadError(f"importing {target} failed: {type(exc).__name__}: {exc}") from exc
    else:
        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            raise BotLoadError(f"module not found: {target} ({exc})") from exc
        except Exception as exc:
            raise BotLoadError(f"importing {target} failed: {type(exc).__name__}: {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise BotLoadError(f"{target} has no attribute {attr!r}") from None
    return obj
