"""The old module paths kept for one release after the tree reorganisation (issue 12), each a thin shim."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["MOVED", "deprecated_names", "warn_argument", "warn_moved"]

# old module path -> new module path; each old path is a module that re-exports the new one's ``__all__``
MOVED: dict[str, str] = {
    "framework.testing.emulator": "framework.emulator",
    "framework.app.recording": "framework.testing.recording",
    "framework.runtime.shard": "framework.runtime.gateway.shard",
    "framework.runtime.sessions": "framework.runtime.gateway.sessions",
    "framework.runtime.websocket": "framework.runtime.gateway.websocket",
    "framework.runtime.identify": "framework.runtime.gateway.identify",
    "framework.runtime.watchdog": "framework.runtime.gateway.watchdog",
    "framework.runtime.signals": "framework.runtime.gateway.signals",
    "framework.runtime.dispatch": "framework.delivery",
}


def warn_moved(old: str) -> None:
    """Warn, from the shim module ``old`` while it is imported, that it moved to ``MOVED[old]``."""
    warnings.warn(
        f"{old} moved to {MOVED[old]}; the old name goes in the next release", DeprecationWarning, stacklevel=3
    )


def warn_argument(where: str, old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn that ``where``'s keyword argument ``old`` is deprecated in favour of ``new`` (issue 12 item 4).

    ``stacklevel=3`` points at the caller of the function that calls this one.
    """
    warnings.warn(
        f"{where}: {old}= is deprecated, pass {new} instead; {old}= goes in the next release",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def deprecated_names(
    module: str, renames: Mapping[str, str], fallback: Callable[[str], Any] | None = None
) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) serving each old name of ``renames`` (old -> new name in the same
    module) with a ``DeprecationWarning`` that names the replacement; other names go to ``fallback``.

    The old name is never cached in the module, so every use warns, pointing at the line that used it.
    """

    def __getattr__(name: str) -> Any:
        new = renames.get(name)
        if new is not None:
            warnings.warn(
                f"{module}.{name} was renamed {new}; the old name goes in the next release",
                DeprecationWarning,
                stacklevel=2,
            )
            return getattr(sys.modules[module], new)
        if fallback is not None:
            return fallback(name)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
