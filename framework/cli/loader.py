"""Find the ``Bot`` named on the command line: ``package.module:attr`` or ``path/to/file.py:attr``."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from framework.errors import QQBotError

__all__ = ["BotLoadError", "load_object", "user_traceback"]

_FRAMEWORK_DIR = str(Path(__file__).resolve().parents[1]) + os.sep
_IMPORTLIB_DIR = str(Path(importlib.__file__).resolve().parent) + os.sep


class BotLoadError(QQBotError):
    """The ``module:attr`` reference cannot be loaded; the message (one line) says why.

    ``details`` holds the user's traceback when their module raised while being imported.
    """

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


def _is_ours(filename: str) -> bool:
    return filename.startswith((_FRAMEWORK_DIR, _IMPORTLIB_DIR, "<frozen importlib"))


def user_traceback(exc: BaseException) -> tuple[str, str]:
    """The traceback of ``exc`` without the framework's and importlib's frames, and ``file:line`` of the
    innermost frame left (the user's code that raised), or ``""``."""
    te = traceback.TracebackException.from_exception(exc)
    frames = [f for f in te.stack if not _is_ours(f.filename)]
    te.stack = traceback.StackSummary.from_list(frames)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f"{exc.filename}:{exc.lineno}"
    return "".join(te.format()), where


def _import_failed(target: str, exc: BaseException) -> BotLoadError:
    details, where = user_traceback(exc)
    at = f" (at {where})" if where else ""
    return BotLoadError(f"importing {target} failed: {type(exc).__name__}: {exc}{at}", details)


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
        if str(path.parent) not in sys.path:  # the file's siblings import as they would from its folder
            sys.path.insert(0, str(path.parent))
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise _import_failed(target, exc) from exc
    else:
        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            if exc.name and (target == exc.name or target.startswith(exc.name + ".")):
                raise BotLoadError(
                    f"module not found: {target} ({exc}); run qqbot from the directory that holds it, "
                    "or give a path: path/to/file.py:bot"
                ) from exc
            raise _import_failed(target, exc) from exc  # the module exists; something it imports does not
        except Exception as exc:
            raise _import_failed(target, exc) from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise BotLoadError(f"{target} has no attribute {attr!r}") from None
    return obj
