"""A minimal WebSocket client for the gateway tests, independent of framework.runtime.

It drives ``websockets``' sans-IO client protocol over an anyio TCP stream, so socket tests run on
asyncio and trio alike. It has the ``WebSocketConnection`` shape (``send``/``receive``/``close``/``abort``,
``WebSocketClosed`` when closed), like the emulator's in-memory pipe, so one test body drives both.
"""

from __future__ import annotations

import contextlib
import json
from collections import deque
from typing import Any

import anyio
import anyio.abc
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from framework.models.transport import ABNORMAL_CLOSURE, WebSocketClosed, WebSocketConnection

_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError)


class RawWebSocket:
    """One client connection over a real socket."""

    def __init__(self, stream: anyio.abc.SocketStream, proto: ClientProtocol) -> None:
        self._stream = stream
        self._proto = proto
        self._messages: deque[str | bytes] = deque()
        self._closed: WebSocketClosed | None = None

    @classmethod
    async def connect(cls, url: str) -> RawWebSocket:
        uri = parse_uri(url)
        stream = await anyio.connect_tcp(uri.host, uri.port)
        proto = ClientProtocol(uri, max_size=None)
        proto.send_request(proto.connect())
        ws = cls(stream, proto)
        await ws._flush()
        while True:
            data = await stream.receive()
            proto.receive_data(data)
            events = proto.events_received()
            if events:
                response = events[0]
                assert isinstance(response, Response)
                if response.status_code != 101:
                    await stream.aclose()
                    raise ConnectionError(f"handshake refused: {response.status_code}")
                ws._absorb(events[1:])
                return ws

    async def _flush(self) -> None:
        for chunk in self._proto.data_to_send():
            if chunk:
                await self._stream.send(chunk)

    def _absorb(self, events: list[Any]) -> None:
        for ev in events:
            if isinstance(ev, Frame) and ev.opcode in (Opcode.TEXT, Opcode.BINARY):
                assert ev.fin
                self._messages.append(ev.data.decode() if ev.opcode is Opcode.TEXT else bytes(ev.data))

    async def send(self, data: str | bytes) -> None:
        if self._closed is not None:
            raise self._closed
        if isinstance(data, str):
            self._proto.send_text(data.encode())
        else:
            self._proto.send_binary(data)
        try:
            await self._flush()
        except _ERRORS:
            self._closed = WebSocketClosed(ABNORMAL_CLOSURE)
            raise self._closed from None

    async def receive(self) -> str | bytes:
        while True:
            if self._messages:
                return self._messages.popleft()
            if self._closed is not None:
                raise self._closed
            try:
                data = await self._stream.receive()
            except _ERRORS:
                data = b""
            if data:
                self._proto.receive_data(data)
            else:
                self._proto.receive_eof()
            self._absorb(self._proto.events_received())
            with contextlib.suppress(_ERRORS):
                await self._flush()
            rcvd = self._proto.close_rcvd
            if rcvd is not None:
                self._closed = WebSocketClosed(rcvd.code, rcvd.reason)
            elif not data:
                self._closed = WebSocketClosed(ABNORMAL_CLOSURE)
            if self._closed is not None:
                await self._stream.aclose()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self._closed is None:
            self._proto.send_close(code, reason)
            with contextlib.suppress(_ERRORS):
                await self._flush()
            self._closed = WebSocketClosed(code, reason)
        await self._stream.aclose()

    async def abort(self) -> None:
        self._closed = self._closed or WebSocketClosed(ABNORMAL_CLOSURE)
        await self._stream.aclose()


async def recv_json(ws: WebSocketConnection, limit: float = 5.0) -> dict[str, Any]:
    """The next frame as JSON (fails the test after ``limit`` real seconds)."""
    with anyio.fail_after(limit):
        data = await ws.receive()
    value = json.loads(data)
    assert isinstance(value, dict)
    return value


async def expect_close(ws: WebSocketConnection, limit: float = 5.0) -> tuple[int, list[dict[str, Any]]]:
    """Read until the connection closes; returns the close code and the frames read before it."""
    frames: list[dict[str, Any]] = []
    with anyio.fail_after(limit):
        while True:
            try:
                data = await ws.receive()
            except WebSocketClosed as exc:
                return exc.code, frames
            frames.append(json.loads(data))


async def send_json(ws: WebSocketConnection, obj: Any) -> None:
    await ws.send(json.dumps(obj))
