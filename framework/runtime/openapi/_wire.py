"""The OpenAPI client's network streams: httpcore's own, with each request sent in one write.

httpcore writes a request's head and its body in two ``send`` calls, each a wake-up of the server and a
system call here; :class:`CoalescingStream` keeps the writes of a request until the first read (or 64 KiB)
and sends them together. It also answers the pool's per-request "is this idle connection readable?" check
with one ``poll`` on the socket it looked up once (httpcore's anyio stream rebuilds the stream's attribute
table and asks the kernel for the peer address each time, for every idle connection).
"""

# ruff: noqa: ASYNC109  (httpcore's stream and backend interfaces take ``timeout`` arguments)
from __future__ import annotations

import contextlib
import select
import sys
from collections.abc import Iterable
from typing import Any

import httpcore

__all__ = ["CoalescingBackend", "CoalescingStream"]

_FLUSH_AT = 65536
"""Bytes kept before writing anyway (a large upload is sent in pieces of about this size)."""
_POLL = sys.platform != "win32" and hasattr(select, "poll")


class CoalescingStream(httpcore.AsyncNetworkStream):
    """A network stream whose writes wait for the next read (or :data:`_FLUSH_AT` bytes)."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._pending: list[bytes] = []
        self._size = 0
        raw = inner.get_extra_info("socket")
        self._socket = raw if _POLL and callable(getattr(raw, "fileno", None)) else None  # asyncio: TransportSocket

    async def _flush(self, timeout: float | None) -> None:
        if self._pending:
            data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
            self._pending.clear()
            self._size = 0
            await self._inner.write(data, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Keep ``buffer`` for the next read; write what is kept once it reaches 64 KiB."""
        if not buffer:
            return
        self._pending.append(buffer)
        self._size += len(buffer)
        if self._size >= _FLUSH_AT:
            await self._flush(timeout)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Send what is kept, then read. A failed send is left to the read, as httpcore does with its own
        writes: a server may answer (e.g. an error) and close before taking the whole request."""
        with contextlib.suppress(httpcore.WriteError):
            await self._flush(timeout)
        return await self._inner.read(max_bytes, timeout)

    async def aclose(self) -> None:
        """Close the connection (anything kept unsent is dropped with it)."""
        self._pending.clear()
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        """TLS over this stream (nothing is kept before the handshake)."""
        await self._flush(timeout)
        return CoalescingStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        """The inner stream's, with ``is_readable`` answered by one ``poll`` of the socket."""
        if info == "is_readable" and self._socket is not None:
            fd = self._socket.fileno()
            if fd < 0:
                return True  # closed: the next read would return b"", as httpcore treats it
            p = select.poll()
            p.register(fd, select.POLLIN)
            return bool(p.poll(0))
        return self._inner.get_extra_info(info)


class CoalescingBackend(httpcore.AsyncNetworkBackend):
    """``inner``'s connections wrapped in :class:`CoalescingStream`."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """A TCP connection to ``host:port``."""
        return CoalescingStream(await self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        """A connection to the Unix socket at ``path``."""
        return CoalescingStream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        """Sleep (the inner backend's)."""
        await self._inner.sleep(seconds)
