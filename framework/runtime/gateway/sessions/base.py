"""The :class:`SessionManager` base class: start, stop, status, run.

It declares :class:`framework.interfaces.SessionManager` (the seam, a Protocol) as an abstract base class
that the implementations subclass; mypy checks that it matches the Protocol.
"""

from __future__ import annotations

import abc

from framework.interfaces import SessionManager as SessionManagerInterface
from framework.runtime.gateway.shard import ShardStatus

__all__ = ["SessionManager"]


class SessionManager(SessionManagerInterface, abc.ABC):
    """Runs a set of gateway shards and feeds their events to one sink."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Start the shards in the background; returns once they are launched (not necessarily READY)."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Close every shard, drain in-flight events within the drain deadline and return."""

    @abc.abstractmethod
    async def run(self) -> None:
        """Run the shards until :meth:`stop` is called (or a shard fails fatally, which is raised)."""

    @abc.abstractmethod
    def status(self) -> list[ShardStatus]:
        """One snapshot per shard: state, session id, last seq, latency, reconnect count."""
