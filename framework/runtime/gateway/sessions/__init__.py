"""Session managers: who runs which gateway shards (one process: :class:`LocalSessionManager`)."""

from framework.runtime.gateway.sessions.base import SessionManager
from framework.runtime.gateway.sessions.local import LocalSessionManager

__all__ = ["LocalSessionManager", "SessionManager"]
