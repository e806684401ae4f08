"""The old module paths kept for one release after the tree reorganisation (issue 12), each a thin shim."""

from __future__ import annotations

import warnings

__all__ = ["MOVED", "warn_moved"]

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
}


def warn_moved(old: str) -> None:
    """Warn, from the shim module ``old`` while it is imported, that it moved to ``MOVED[old]``."""
    warnings.warn(
        f"{old} moved to {MOVED[old]}; the old name goes in the next release", DeprecationWarning, stacklevel=3
    )
