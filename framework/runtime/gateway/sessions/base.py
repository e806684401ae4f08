"""The :class:`SessionManager` interface: start, stop, status, run."""

from __future__ import annotations

import abc

from framework.runtime.gateway.shard import ShardStatus

__all__ = ["SessionManager"]


class SessionManager(abc.ABC):
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
