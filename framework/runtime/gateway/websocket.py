"""The client WebSocket transport: ``ws://``/``wss://`` over anyio streams (asyncio and trio).

The opening handshake (HTTP upgrade, ``Sec-WebSocket-Accept`` check) is done by the sans-IO
``websockets.client.ClientProtocol``; frames are read and written by the project's own sans-IO codec,
:mod:`framework.protocol.wsframes`, which measured about 6× faster than ``websockets``' frame parser
(see ``docs/performance.md``). :func:`connect` is the default :data:`~framework.models.Connector`.

Behaviour (RFC 6455): server pings are answered with pongs inside :meth:`WebSocket.receive`; text
messages are UTF-8 validated (1007); fragmented messages are reassembled; client frames are masked;
messages over ``max_size`` fail the connection with 1009; masked or malformed server frames with 1002.
A dropped TCP connection surfaces as ``WebSocketClosed(1006)``.

Exceptions are mapped here, once: on an open connection every anyio, socket or TLS error becomes
:class:`~framework.models.transport.WebSocketClosed`; :func:`connect` raises
:class:`~framework.errors.ConnectError` (:class:`~framework.errors.ConnectTimeout` when ``open_timeout``
passed), with the library's exception as ``__cause__``. Callers never catch anyio or ``OSError``.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, NoReturn, TypeVar

import anyio
import anyio.abc

from framework.clock import Clock, SystemClock, fail_after
from framework.errors import ConnectError, ConnectTimeout
from framework.models.transport import ABNORMAL_CLOSURE, Connector, WebSocketClosed
from framework.protocol.wsframes import (
    OP_BINARY,
    OP_CLOSE,
    OP_PONG,
    OP_TEXT,
    Close,
    FrameProtocolError,
    FrameReader,
    Ping,
    Pong,
    close_payload,
    encode_frame,
    is_valid_close_code,
)

if TYPE_CHECKING:
    from websockets.client import ClientProtocol

__all__ = ["DEFAULT_CONNECTOR", "WebSocket", "WebSocketHandshakeError", "connect"]

_T = TypeVar("_T")
_REAL_TIME = SystemClock()

#: Bytes asked of the socket per read; a busy gateway delivers many frames per read. On asyncio, anyio hands out the
#: chunks the transport read (up to 256 KiB each) and splits a larger chunk by copying its rest on every read: asking
#: for 64 KiB copied ≈1.5 times each byte of a full chunk again; asking for a whole chunk copies nothing.
READ_SIZE = 262144
#: Largest HTTP response head accepted during the opening handshake.
MAX_RESPONSE_HEAD = 65536
_USER_AGENT = "qqbot-framework (+websocket transport)"

_OPEN, _CLOSING, _CLOSED = 0, 1, 2
_STREAM_ERRORS = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)

_default_ssl_context: ssl.SSLContext | None = None


class WebSocketHandshakeError(ConnectError):
    """The server did not accept the WebSocket upgrade. ``status`` is its HTTP status, if any.

    A :class:`~framework.errors.ConnectError` (so also an ``OSError``, as before)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def default_ssl_context() -> ssl.SSLContext:
    """A verifying TLS context using certifi's CA bundle when available (built once)."""
    global _default_ssl_context
    if _default_ssl_context is None:
        try:
            import certifi

            _default_ssl_context = ssl.create_default_context(cafile=certifi.where())
        except ImportError:  # pragma: no cover - certifi comes with httpx
            _default_ssl_context = ssl.create_default_context()
    return _default_ssl_context


async def _bounded(seconds: float, clock: Clock | None, fn: Callable[[], Awaitable[_T]]) -> _T:
    """Run ``fn`` and raise ``TimeoutError`` if it takes longer than ``seconds`` of ``clock`` time (default: real)."""
    return await fail_after(clock or _REAL_TIME, seconds, fn)


class WebSocket:
    """An open client connection; implements :class:`framework.models.WebSocketConnection`.

    One task may call :meth:`receive` at a time (a second one gets ``RuntimeError``); :meth:`send`,
    :meth:`close` and :meth:`abort` may be called from other tasks meanwhile. ``receive`` is
    cancellation-safe: a cancelled call loses no data.
    """

    def __init__(
        self,
        stream: anyio.abc.ByteStream,
        reader: FrameReader,
        *,
        close_timeout: float = 5.0,
        clock: Clock | None = None,
    ) -> None:
        self._stream = stream
        self._reader = reader
        self._close_timeout = close_timeout
        self._clock = clock
        self._send_lock = anyio.Lock()
        self._state = _OPEN
        self._code = ABNORMAL_CLOSURE
        self._reason = ""
        self._receiving = False
        self._read_done: anyio.Event | None = None
        self._done = anyio.Event()
        # what receive_nowait() took from the reader but cannot handle without I/O (a control frame, a protocol
        # error): receive() handles it first
        self._stashed: Ping | Close | Pong | FrameProtocolError | None = None

    def __repr__(self) -> str:
        state = ("OPEN", "CLOSING", "CLOSED")[self._state]
        return f"<WebSocket {state}>" if self._state != _CLOSED else f"<WebSocket CLOSED code={self._code}>"

    @property
    def closed(self) -> bool:
        """Whether the connection is finished (after which ``close_code`` is final)."""
        return self._state == _CLOSED

    @property
    def close_code(self) -> int | None:
        """The close code once closed (1006 if no close frame was received), else ``None``."""
        return self._code if self._state == _CLOSED else None

    async def __aenter__(self) -> WebSocket:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- receiving ---------------------------------------------------------------------------

    def receive_nowait(self) -> str | bytes | None:
        """The next message if a whole one is already buffered, without I/O or a checkpoint; else None (then
        ``await receive()``, which also handles control frames, protocol errors and the closed state).

        The shard's reader takes the messages of one socket read this way (one coroutine fewer per message)."""
        if self._state != _OPEN or self._stashed is not None:
            return None
        try:
            event = self._reader.next_event()
        except FrameProtocolError as exc:
            self._stashed = exc
            return None
        if event is None:
            return None
        cls = type(event)
        if cls is str or cls is bytes:
            return event  # type: ignore[return-value]
        self._stashed = event  # type: ignore[assignment]
        return None

    def receive_all_nowait(self) -> list[str | bytes]:
        """Every whole message already buffered, in order, without I/O or a checkpoint (``[]`` when none): what
        :meth:`receive_nowait` would hand out call after call, in one call. The shard's reader takes each socket
        read's messages this way (one call per read instead of one per message)."""
        messages: list[str | bytes] = []
        if self._state != _OPEN or self._stashed is not None:
            return messages
        next_event = self._reader.next_event
        append = messages.append
        try:
            while (event := next_event()) is not None:
                cls = type(event)
                if cls is not str and cls is not bytes:
                    self._stashed = event  # type: ignore[assignment]
                    break
                append(event)  # type: ignore[arg-type]
        except FrameProtocolError as exc:
            self._stashed = exc
        return messages

    async def receive(self) -> str | bytes:
        """Return the next message (``str`` for text); raise :class:`WebSocketClosed` once closed."""
        reader = self._reader
        event: str | bytes | Ping | Pong | Close | None
        while True:
            if self._state == _CLOSED:
                raise WebSocketClosed(self._code, self._reason)
            stashed = self._stashed
            if stashed is not None:  # left by receive_nowait()
                self._stashed = None
                if isinstance(stashed, FrameProtocolError):
                    await self._fail(stashed.code, stashed.reason)
                event = stashed
            else:
                try:
                    event = reader.next_event()
                except FrameProtocolError as exc:
                    await self._fail(exc.code, exc.reason)
            if event is None:
                reader.feed(await self._read())
                continue
            # exact-type dispatch is cheaper than isinstance() per frame; mypy cannot narrow through ``cls``,
            # hence the ignores below
            cls = type(event)
            if cls is str or cls is bytes:
                if self._state == _OPEN:
                    return event  # type: ignore[return-value]
                continue  # closing: data after our close frame is discarded
            if cls is Ping:
                if self._state == _OPEN:
                    await self._send_frame(OP_PONG, event.payload)  # type: ignore[union-attr]
            elif cls is Close:
                await self._on_close(event)  # type: ignore[arg-type]
            # Pong: nothing to do.

    async def _read(self) -> bytes:
        if self._receiving:
            if self._state == _CLOSING:
                # close() is reading for the server's close frame: wait for it to finish.
                await self._done.wait()
                raise WebSocketClosed(self._code, self._reason)
            raise RuntimeError("another task is already receiving on this WebSocket")
        self._receiving = True
        try:
            return await self._stream.receive(READ_SIZE)
        except _STREAM_ERRORS:
            await self._finish(ABNORMAL_CLOSURE, "")
            raise WebSocketClosed(self._code, self._reason) from None
        finally:
            self._receiving = False
            if self._read_done is not None:
                self._read_done.set()
                self._read_done = None

    async def _on_close(self, close: Close) -> NoReturn:
        if self._state == _OPEN:
            # Echo the peer's close code and reason (RFC 6455 §5.5.1); an empty close frame is echoed empty.
            self._state = _CLOSING
            echo = close_payload(close.code, close.reason) if is_valid_close_code(close.code) else b""
            await self._send_close_frame(echo)
        await self._finish(close.code, close.reason)
        self._code, self._reason = close.code, close.reason  # even if the echo failed
        raise WebSocketClosed(close.code, close.reason)

    async def _fail(self, code: int, reason: str) -> NoReturn:
        """Fail the connection after a protocol violation: close frame with ``code``, then drop."""
        if self._state == _OPEN:
            self._state = _CLOSING
            await self._send_close_frame(close_payload(code, reason[:120]))
        await self._finish(code, reason)
        self._code, self._reason = code, reason  # even if sending the close frame failed
        raise WebSocketClosed(code, reason)

    # -- sending -----------------------------------------------------------------------------

    async def send(self, data: str | bytes) -> None:
        """Send a text frame (``str``) or a binary frame (``bytes``)."""
        if self._state != _OPEN:
            raise WebSocketClosed(self._code, self._reason)
        if isinstance(data, str):
            await self._send_frame(OP_TEXT, data.encode())
        else:
            await self._send_frame(OP_BINARY, bytes(data))

    async def _send_frame(self, opcode: int, payload: bytes) -> None:
        frame = encode_frame(opcode, payload, mask=True)
        async with self._send_lock:
            try:
                await self._stream.send(frame)
            except _STREAM_ERRORS:
                await self._finish(ABNORMAL_CLOSURE, "")
                raise WebSocketClosed(self._code, self._reason) from None

    async def _send_close_frame(self, payload: bytes) -> None:
        """Best-effort close frame, bounded by the close timeout; errors are swallowed."""
        with contextlib.suppress(WebSocketClosed, TimeoutError):
            await _bounded(self._close_timeout, self._clock, lambda: self._send_frame(OP_CLOSE, payload))

    # -- closing -----------------------------------------------------------------------------

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Closing handshake: send a close frame, wait (bounded) for the server's, then drop TCP.

        Idempotent; concurrent calls all return once the connection is closed.
        """
        if self._state == _CLOSED:
            return
        if self._state == _OPEN:
            payload = close_payload(code, reason)  # validates before changing state
            self._state = _CLOSING
            self._code, self._reason = code, reason
            await self._send_close_frame(payload)
        try:
            await _bounded(self._close_timeout, self._clock, self._await_close_frame)
        except TimeoutError:
            pass
        finally:
            await self._finish(ABNORMAL_CLOSURE, "")

    async def _await_close_frame(self) -> None:
        while self._state != _CLOSED:
            if self._receiving:
                # Another task is reading: it will see the close frame, or stop reading (cancelled,
                # or busy with a message), in which case this task takes over.
                if self._read_done is None:
                    self._read_done = anyio.Event()
                await self._read_done.wait()
                continue
            try:
                while True:
                    await self.receive()
            except WebSocketClosed:
                return

    async def abort(self) -> None:
        """Drop the TCP connection at once, without a closing handshake."""
        await self._finish(ABNORMAL_CLOSURE, "")

    async def _finish(self, code: int, reason: str) -> None:
        """Mark closed with ``code``/``reason`` (first call wins) and close the stream."""
        if self._state == _CLOSED:
            return
        self._state = _CLOSED
        self._code, self._reason = code, reason
        self._done.set()
        await anyio.aclose_forcefully(self._stream)


async def _handshake(
    stream: anyio.abc.ByteStream, protocol: ClientProtocol, headers: Iterable[tuple[str, str]]
) -> bytes:
    """Send the upgrade request and validate the response; return bytes received after it."""
    from websockets.http11 import Response
    from websockets.protocol import State

    request = protocol.connect()
    names = set()
    for name, value in headers:
        request.headers[name] = value
        names.add(name.lower())
    if "user-agent" not in names:
        request.headers["User-Agent"] = _USER_AGENT
    protocol.send_request(request)
    for chunk in protocol.data_to_send():
        await stream.send(chunk)
    buffer = b""
    while (end := buffer.find(b"\r\n\r\n")) < 0:
        if len(buffer) > MAX_RESPONSE_HEAD:
            raise WebSocketHandshakeError("handshake response head too large")
        try:
            buffer += await stream.receive(READ_SIZE)
        except anyio.EndOfStream:
            raise WebSocketHandshakeError("connection closed during the opening handshake") from None
    head, rest = buffer[: end + 4], buffer[end + 4 :]
    status_line = head.split(b"\r\n", 1)[0].split(b" ", 2)
    try:
        status = int(status_line[1])
    except (IndexError, ValueError):
        raise WebSocketHandshakeError("malformed handshake response status line") from None
    if status != 101:
        # The body (if any) is not read: the upgrade failed either way.
        raise WebSocketHandshakeError(f"server rejected the WebSocket upgrade with HTTP {status}", status)
    protocol.receive_data(head)
    events = protocol.events_received()
    if protocol.handshake_exc is not None:
        raise WebSocketHandshakeError(f"invalid handshake response: {protocol.handshake_exc}", status)
    if protocol.state is not State.OPEN or not events or not isinstance(events[0], Response):
        raise WebSocketHandshakeError("incomplete handshake response", status)
    if protocol.extensions or protocol.subprotocol:  # pragma: no cover - none are offered
        raise WebSocketHandshakeError("server negotiated an extension or subprotocol that was not offered", status)
    return rest


async def connect(
    url: str,
    *,
    open_timeout: float = 10.0,
    max_size: int | None = 4 * 2**20,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    close_timeout: float = 5.0,
    clock: Clock | None = None,
) -> WebSocket:
    """Open a client connection to ``url`` (``ws://`` or ``wss://``).

    ``open_timeout`` bounds TCP connect, TLS and the opening handshake together (``TimeoutError``);
    ``max_size`` bounds incoming messages (larger ones fail the connection with 1009);
    ``headers`` are added to the upgrade request; ``ssl_context`` defaults to a verifying context
    with certifi's CA bundle (SNI is the URL host); ``close_timeout`` bounds the closing handshake;
    ``clock`` measures both timeouts (real time when ``None``).
    Raises ``ValueError`` for a bad URL and :class:`~framework.errors.ConnectError` (an ``OSError``) when
    the connection cannot be opened: :class:`~framework.errors.ConnectTimeout` (also a ``TimeoutError``),
    :class:`WebSocketHandshakeError`, or the socket, DNS or TLS error as ``__cause__``.
    """
    # websockets (≈20 ms to import) is needed for the handshake only: imported on the first connect, not with
    # `from framework import BotRunner`
    from websockets.client import ClientProtocol
    from websockets.exceptions import InvalidURI
    from websockets.uri import parse_uri

    try:
        uri = parse_uri(url)
    except InvalidURI as exc:
        raise ValueError(f"not a ws:// or wss:// URL: {exc}") from None
    extra = list(headers.items() if isinstance(headers, Mapping) else headers or ())

    async def open_() -> WebSocket:
        try:
            return await _open()
        except (anyio.BrokenResourceError, anyio.EndOfStream) as exc:
            raise WebSocketHandshakeError(f"connection lost while opening: {type(exc).__name__}") from exc

    async def _open() -> WebSocket:
        if uri.secure:
            stream: anyio.abc.ByteStream = await anyio.connect_tcp(
                uri.host,
                uri.port,
                tls=True,
                ssl_context=ssl_context or default_ssl_context(),
                tls_hostname=uri.host,
            )
        else:
            stream = await anyio.connect_tcp(uri.host, uri.port)
        try:
            protocol = ClientProtocol(uri, max_size=max_size)
            rest = await _handshake(stream, protocol, extra)
        except BaseException:
            await anyio.aclose_forcefully(stream)
            raise
        reader = FrameReader(max_size, client=True)
        reader.feed(rest)
        return WebSocket(stream, reader, close_timeout=close_timeout, clock=clock)

    where = f"{'wss' if uri.secure else 'ws'}://{uri.host}:{uri.port}"
    try:
        return await _bounded(open_timeout, clock, open_)
    except WebSocketHandshakeError as exc:  # name the address, keep the status
        raise WebSocketHandshakeError(f"opening a WebSocket to {where}: {exc}", exc.status) from exc.__cause__
    except ConnectError:
        raise
    except TimeoutError as exc:
        raise ConnectTimeout(
            f"opening a WebSocket to {where} timed out after {open_timeout:g} s; check the address and the network"
        ) from exc
    except OSError as exc:  # socket, DNS and TLS errors (ssl.SSLError is an OSError)
        fix = (
            "check the server's certificate and ssl_context"
            if isinstance(exc, ssl.SSLError)
            else "check the address and the network"
        )
        raise ConnectError(f"cannot open a WebSocket to {where}: {type(exc).__name__}: {exc}; {fix}") from exc


#: The default :data:`~framework.models.Connector`: :func:`connect` with its default options.
DEFAULT_CONNECTOR: Connector = connect
