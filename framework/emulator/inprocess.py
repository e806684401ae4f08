"""In-process transports: httpx straight into the router, and WebSocket pipes into the gateway.

No sockets: a test can run a bot against the emulator in the same event loop in milliseconds. The pipe
behaves like a WebSocket as the client sees it (``framework.models.transport.WebSocketConnection``):
messages keep their order, a close frame from the emulator ends ``receive`` with
:class:`WebSocketClosed` carrying its code, and a drop (``abort``, the drop fault) with code 1006.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import anyio
import httpx
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from framework.emulator.gateway.transport import PeerClosed
from framework.emulator.http import HttpRequest, Router
from framework.models.transport import ABNORMAL_CLOSURE, WebSocketClosed

__all__ = ["PipeWebSocket", "RouterTransport", "open_pipe"]


@dataclass(frozen=True)
class _CloseFrame:
    code: int
    reason: str


_Msg = str | bytes | _CloseFrame


class _PipeState:
    """What both ends know: the close frame the emulator sent, if any."""

    def __init__(self) -> None:
        self.server_close: _CloseFrame | None = None


class RouterTransport(httpx.AsyncBaseTransport):
    """An httpx transport that answers every request with :meth:`Router.dispatch` (no sockets)."""

    def __init__(self, router: Router) -> None:
        self._router = router

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        raw_path = request.url.raw_path.decode("ascii")
        path = raw_path.split("?", 1)[0]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.headers.raw}
        req = HttpRequest(request.method.upper(), path, dict(request.url.params), headers, body)
        resp = await self._router.dispatch(req)
        if resp.stream is not None:
            return httpx.Response(resp.status, headers=resp.headers, stream=_Chunks(resp.stream), request=request)
        return httpx.Response(resp.status, headers=resp.headers, content=resp.body, request=request)


class _Chunks(httpx.AsyncByteStream):
    """A streaming response body (Server-Sent Events) handed to httpx as it comes."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            yield chunk

    async def aclose(self) -> None:
        aclose = getattr(self._chunks, "aclose", None)
        if aclose is not None:
            await aclose()


class PipeWebSocket:
    """The client end of an in-memory WebSocket (a ``WebSocketConnection``)."""

    def __init__(
        self,
        send: MemoryObjectSendStream[_Msg],
        receive: MemoryObjectReceiveStream[_Msg],
        state: _PipeState,
    ) -> None:
        self._send = send
        self._receive = receive
        self._state = state
        self._closed: WebSocketClosed | None = None

    async def send(self, data: str | bytes) -> None:
        """Send one message to the emulator."""
        if self._closed is not None:
            raise self._closed
        try:
            await self._send.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            # the emulator is gone: report its close code (messages it sent stay readable)
            frame = self._state.server_close
            raise WebSocketClosed(*((frame.code, frame.reason) if frame else (ABNORMAL_CLOSURE,))) from None

    async def receive(self) -> str | bytes:
        """The next message from the emulator; :class:`WebSocketClosed` once closed or dropped."""
        if self._closed is not None:
            raise self._closed
        try:
            msg = await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._closed = WebSocketClosed(ABNORMAL_CLOSURE)
            self._send.close()
            raise self._closed from None
        if isinstance(msg, _CloseFrame):
            self._closed = WebSocketClosed(msg.code, msg.reason)
            self._send.close()
            self._receive.close()
            raise self._closed
        return msg

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with a close frame (idempotent)."""
        if self._closed is not None:
            return
        self._closed = WebSocketClosed(code, reason)
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.WouldBlock):
            self._send.send_nowait(_CloseFrame(code, reason))
        self._send.close()
        self._receive.close()

    async def abort(self) -> None:
        """Drop the pipe without a close frame (the emulator sees 1006)."""
        if self._closed is None:
            self._closed = WebSocketClosed(ABNORMAL_CLOSURE)
        self._send.close()
        self._receive.close()

    def __repr__(self) -> str:
        return f"PipeWebSocket(closed={self._closed is not None})"


class _PipeServerEnd:
    """The emulator end of the pipe (a ``ServerWebSocket``)."""

    def __init__(
        self,
        send: MemoryObjectSendStream[_Msg],
        receive: MemoryObjectReceiveStream[_Msg],
        state: _PipeState,
    ) -> None:
        self._send = send
        self._receive = receive
        self._state = state

    async def receive(self) -> str | bytes:
        try:
            msg = await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            raise PeerClosed(ABNORMAL_CLOSURE) from None
        if isinstance(msg, _CloseFrame):
            raise PeerClosed(msg.code, msg.reason)
        return msg

    async def send_many(self, frames: Sequence[bytes]) -> None:
        try:
            for frame in frames:
                self._send.send_nowait(frame.decode("utf-8"))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise PeerClosed(ABNORMAL_CLOSURE) from None

    async def close(self, code: int, reason: str = "") -> None:
        frame = _CloseFrame(code, reason)
        self._state.server_close = frame
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._send.send_nowait(frame)
        self.finish()

    async def abort(self) -> None:
        self.finish()

    def finish(self) -> None:
        """Release both directions (messages already queued stay readable by the client)."""
        self._send.close()
        self._receive.close()


def open_pipe() -> tuple[PipeWebSocket, _PipeServerEnd]:
    """A connected (client, emulator) pair of in-memory WebSocket ends."""
    c2s_send, c2s_recv = anyio.create_memory_object_stream[_Msg](math.inf)
    s2c_send, s2c_recv = anyio.create_memory_object_stream[_Msg](math.inf)
    state = _PipeState()
    return PipeWebSocket(c2s_send, s2c_recv, state), _PipeServerEnd(s2c_send, c2s_recv, state)
