"""The emulator's network server: one loopback TCP port for HTTP/1.1 (REST, control API) and the gateway.

Each connection is parsed with h11 (keep-alive). A ``GET …/websocket`` carrying ``Upgrade: websocket``
becomes a WebSocket driven by the sans-IO ``websockets`` server protocol; every other request goes to
:meth:`Router.dispatch`. Malformed HTTP gets 400, a failing handler 500 with an error body; a broken
connection never takes the server down.
"""

from __future__ import annotations

import logging
import socket
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from urllib.parse import parse_qsl

import anyio
import anyio.abc
import h11
from anyio.abc import SocketAttribute
from websockets.frames import Frame
from websockets.frames import Opcode as WsOpcode
from websockets.http11 import Request as WsRequest
from websockets.protocol import State
from websockets.server import ServerProtocol

from framework.emulator.gateway.transport import PeerClosed, ServerWebSocket
from framework.emulator.http import HttpRequest, HttpResponse, Router, error_response
from framework.models.transport import ABNORMAL_CLOSURE

__all__ = ["EmulatorServer", "GatewayHandler"]

_log = logging.getLogger("framework.emulator.server")

#: Serves one accepted WebSocket (the gateway hub's ``handle``).
GatewayHandler = Callable[[ServerWebSocket], Awaitable[None]]

_READ_SIZE = 65536
_MAX_BODY = 16 * 1024 * 1024
_STREAM_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError)


class _SocketWebSocket:
    """A server-side WebSocket over an anyio byte stream, using ``websockets``' sans-IO protocol."""

    def __init__(
        self,
        stream: anyio.abc.SocketStream,
        protocol: ServerProtocol,
        close_timeout: float,
        pending: Sequence[object] = (),
    ) -> None:
        self._stream = stream
        self._proto = protocol
        self._close_timeout = close_timeout
        self._send_lock = anyio.Lock()
        self._messages: deque[str | bytes] = deque()
        self._fragments: list[bytes] = []
        self._fragment_text = True
        self._closed: PeerClosed | None = None
        # frames that arrived together with the handshake
        self._absorb(pending)
        self._check(eof=False)

    async def _flush(self) -> None:
        async with self._send_lock:
            data = b"".join(self._proto.data_to_send())  # one write per batch (b"" marks EOF: ignored)
            if data:
                await self._stream.send(data)

    def _absorb(self, events: Sequence[object]) -> None:
        for frame in events:
            if not isinstance(frame, Frame):
                continue
            if frame.opcode in (WsOpcode.TEXT, WsOpcode.BINARY):
                self._fragments = [bytes(frame.data)]
                self._fragment_text = frame.opcode is WsOpcode.TEXT
            elif frame.opcode is WsOpcode.CONT:
                self._fragments.append(bytes(frame.data))
            else:
                continue
            if frame.fin:
                payload = b"".join(self._fragments)
                self._fragments = []
                self._messages.append(payload.decode("utf-8", "replace") if self._fragment_text else payload)

    def _check(self, *, eof: bool) -> None:
        proto = self._proto
        if proto.close_rcvd is not None:
            self._closed = PeerClosed(proto.close_rcvd.code, proto.close_rcvd.reason)
        elif proto.parser_exc is not None or proto.eof_sent:
            # a protocol error (e.g. an unmasked frame): websockets sent close 1002; the server hangs up
            self._closed = PeerClosed(proto.close_sent.code if proto.close_sent else ABNORMAL_CLOSURE)
        elif proto.state is State.CLOSED or eof:
            self._closed = PeerClosed(ABNORMAL_CLOSURE)

    async def _pump(self) -> None:
        """Read once from the socket and turn what arrived into messages (or a close)."""
        try:
            data = await self._stream.receive(_READ_SIZE)
        except _STREAM_ERRORS:
            data = b""
        if data:
            self._proto.receive_data(data)
        else:
            self._proto.receive_eof()
        self._absorb(self._proto.events_received())
        with suppress(*_STREAM_ERRORS):
            await self._flush()
        self._check(eof=not data)

    async def receive(self) -> str | bytes:
        while True:
            if self._messages:
                return self._messages.popleft()
            if self._closed is not None:
                raise self._closed
            await self._pump()

    async def send_many(self, frames: Sequence[bytes]) -> None:
        if self._closed is not None:
            raise self._closed
        if self._proto.state is not State.OPEN:
            raise PeerClosed(ABNORMAL_CLOSURE)
        for frame in frames:
            self._proto.send_text(frame)
        await self._flush()

    async def close(self, code: int, reason: str = "") -> None:
        try:
            if self._proto.state is State.OPEN:
                self._proto.send_close(code, reason)
                await self._flush()
            with anyio.move_on_after(self._close_timeout):
                while self._closed is None:
                    await self._pump()
        except _STREAM_ERRORS:
            pass
        finally:
            with suppress(*_STREAM_ERRORS):
                await self._stream.aclose()

    async def abort(self) -> None:
        with suppress(OSError, AttributeError):
            sock = self._stream.extra(SocketAttribute.raw_socket)
            # linger 0: the kernel resets the connection instead of a graceful FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        with suppress(*_STREAM_ERRORS):
            await self._stream.aclose()
        self._closed = PeerClosed(ABNORMAL_CLOSURE)


def _is_websocket_upgrade(req: h11.Request) -> bool:
    if req.method != b"GET":
        return False
    path = req.target.split(b"?", 1)[0].rstrip(b"/")
    if not path.endswith(b"/websocket"):
        return False
    return any(name == b"upgrade" and value.lower() == b"websocket" for name, value in req.headers)


def _to_request(req: h11.Request, body: bytes) -> HttpRequest:
    target = req.target.decode("latin-1")
    path, _, query = target.partition("?")
    headers: dict[str, str] = {}
    for name, value in req.headers:
        key = name.decode("latin-1").lower()
        val = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {val}" if key in headers else val
    return HttpRequest(req.method.decode("ascii").upper(), path, dict(parse_qsl(query)), headers, body)


class EmulatorServer:
    """Serves ``router`` and the gateway on one loopback port."""

    def __init__(self, router: Router, gateway: GatewayHandler, *, close_timeout: float = 2.0) -> None:
        self.router = router
        self.gateway = gateway
        self.close_timeout = close_timeout
        self.url: str | None = None
        """``http://host:port`` while serving."""

    @asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Listen on ``host:port`` (0 = ephemeral) and yield the base URL; stop on exit."""
        listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
        bound = listener.extra(SocketAttribute.local_port)
        self.url = f"http://{host}:{bound}"
        try:
            async with listener, anyio.create_task_group() as tg:
                tg.start_soon(listener.serve, self._serve_connection)
                yield self.url
                tg.cancel_scope.cancel()  # on an exception the task group cancels itself
        finally:
            self.url = None

    async def _serve_connection(self, stream: anyio.abc.SocketStream) -> None:
        try:
            await self._http_loop(stream)
        except Exception:  # a bug must not kill the listener
            _log.exception("emulator connection handler failed")
        finally:
            with suppress(*_STREAM_ERRORS):
                await stream.aclose()

    async def _http_loop(self, stream: anyio.abc.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                await self._send_error(stream, conn, exc.error_status_hint, "malformed HTTP request")
                return
            if event is h11.NEED_DATA:
                try:
                    data = await stream.receive(_READ_SIZE)
                except _STREAM_ERRORS:
                    data = b""
                conn.receive_data(data)
                continue
            if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return
            if not isinstance(event, h11.Request):
                continue
            body = bytearray()
            while True:
                try:
                    part = conn.next_event()
                except h11.RemoteProtocolError as exc:
                    await self._send_error(stream, conn, exc.error_status_hint, "malformed HTTP request")
                    return
                if part is h11.NEED_DATA:
                    try:
                        data = await stream.receive(_READ_SIZE)
                    except _STREAM_ERRORS:
                        return
                    if not data:
                        return
                    conn.receive_data(data)
                elif isinstance(part, h11.Data):
                    body += part.data
                    if len(body) > _MAX_BODY:
                        await self._send_error(stream, conn, 413, "request body too large")
                        return
                elif isinstance(part, h11.EndOfMessage):
                    break
                else:
                    return
            if _is_websocket_upgrade(event):
                await self._upgrade(stream, conn, event)
                return
            request = _to_request(event, bytes(body))
            try:
                response = await self.router.dispatch(request)
            except Exception as exc:
                _log.exception("router failed on %s %s", request.method, request.path)
                response = error_response(500, 500, f"emulator internal error: {type(exc).__name__}")
            if not await self._send_response(stream, conn, response, head=request.method == "HEAD"):
                return
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            try:
                conn.start_next_cycle()
            except h11.LocalProtocolError:
                return

    async def _send_response(
        self, stream: anyio.abc.SocketStream, conn: h11.Connection, response: HttpResponse, *, head: bool = False
    ) -> bool:
        headers = [(k, v) for k, v in response.headers if k.lower() not in ("content-length", "transfer-encoding")]
        if response.stream is not None and not head:
            return await self._send_stream(stream, conn, response.status, headers, response.stream)
        headers.append(("Content-Length", str(len(response.body))))
        try:
            data = conn.send(h11.Response(status_code=response.status, headers=headers)) or b""
            if response.body and not head:
                data += conn.send(h11.Data(data=response.body)) or b""
            data += conn.send(h11.EndOfMessage()) or b""
            await stream.send(data)
        except (h11.LocalProtocolError, *_STREAM_ERRORS):
            return False
        return True

    async def _send_stream(
        self,
        stream: anyio.abc.SocketStream,
        conn: h11.Connection,
        status: int,
        headers: list[tuple[str, str]],
        chunks: AsyncIterator[bytes],
    ) -> bool:
        """Send a response whose body comes from ``chunks`` (chunked encoding); False once the client left."""
        try:
            await stream.send(conn.send(h11.Response(status_code=status, headers=headers)) or b"")
            async for chunk in chunks:
                if chunk:
                    await stream.send(conn.send(h11.Data(data=chunk)) or b"")
            await stream.send(conn.send(h11.EndOfMessage()) or b"")
        except (h11.LocalProtocolError, *_STREAM_ERRORS):
            return False
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()
        return True

    async def _send_error(self, stream: anyio.abc.SocketStream, conn: h11.Connection, status: int, msg: str) -> None:
        if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            await self._send_response(stream, conn, error_response(status, status, msg))

    async def _upgrade(self, stream: anyio.abc.SocketStream, conn: h11.Connection, event: h11.Request) -> None:
        protocol = ServerProtocol(max_size=16 * 1024 * 1024)
        # h11 consumed the handshake; hand the same request to the websockets protocol so that its
        # parser, which starts in the HTTP state, moves on to frames.
        head = b"GET " + event.target + b" HTTP/1.1\r\n"
        head += b"".join(name + b": " + value + b"\r\n" for name, value in event.headers.raw_items())
        leftover, _closed = conn.trailing_data
        protocol.receive_data(head + b"\r\n" + bytes(leftover))
        events = protocol.events_received()
        parsed = [e for e in events if isinstance(e, WsRequest)]
        if not parsed:
            with suppress(*_STREAM_ERRORS):
                for chunk in protocol.data_to_send():
                    if chunk:
                        await stream.send(chunk)
            return
        ws_request = parsed[0]
        response = protocol.accept(ws_request)
        protocol.send_response(response)
        try:
            for chunk in protocol.data_to_send():
                if chunk:
                    await stream.send(chunk)
        except _STREAM_ERRORS:
            return
        if response.status_code != 101:
            return
        pending = [e for e in events if not isinstance(e, WsRequest)]
        await self.gateway(_SocketWebSocket(stream, protocol, self.close_timeout, pending))
