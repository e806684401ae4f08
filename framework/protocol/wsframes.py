"""Sans-IO WebSocket frame codec (RFC 6455 §5): a fast incremental reader and a frame encoder.

No sockets and no handshake here: :class:`FrameReader` turns bytes into messages (``str`` for text,
``bytes`` for binary) and control frames (:class:`Ping`, :class:`Pong`, :class:`Close`);
:func:`encode_frame` builds frames to send. The reader is the receive hot path of the gateway client,
so a complete unfragmented text frame costs one slice and one UTF-8 decode.

Violations raise :class:`FrameProtocolError` carrying the close code to fail the connection with:
1002 (protocol error), 1007 (invalid UTF-8) or 1009 (message larger than ``max_size``).
"""

from __future__ import annotations

import os
import struct

from framework.errors import TransportError

__all__ = [
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "Close",
    "FrameProtocolError",
    "FrameReader",
    "Ping",
    "Pong",
    "apply_mask",
    "close_payload",
    "encode_frame",
    "is_valid_close_code",
]

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

_PROTOCOL_ERROR = 1002
_INVALID_DATA = 1007
_TOO_BIG = 1009
_NO_STATUS = 1005

_HEAD16 = struct.Struct("!BBH")
_HEAD64 = struct.Struct("!BBQ")
_CODE = struct.Struct("!H")


class FrameProtocolError(TransportError):
    """The peer broke RFC 6455; fail the connection with ``code`` (1002, 1007 or 1009)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{reason} (close code {code})")
        self.code = code
        self.reason = reason


class Ping:
    """A ping control frame; answer it with a pong carrying the same ``payload``."""

    __slots__ = ("payload",)

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def __repr__(self) -> str:
        return f"Ping({self.payload!r})"


class Pong:
    """A pong control frame."""

    __slots__ = ("payload",)

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def __repr__(self) -> str:
        return f"Pong({self.payload!r})"


class Close:
    """A close control frame: ``code`` (1005 when the frame had no body) and ``reason``."""

    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason

    def __repr__(self) -> str:
        return f"Close({self.code}, {self.reason!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Close) and (other.code, other.reason) == (self.code, self.reason)

    def __hash__(self) -> int:
        return hash((self.code, self.reason))


def is_valid_close_code(code: int) -> bool:
    """Whether ``code`` may appear in a close frame (RFC 6455 §7.4, IANA registry)."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def apply_mask(data: bytes, key: bytes) -> bytes:
    """XOR ``data`` with the 4-byte masking ``key`` (masking and unmasking are the same)."""
    n = len(data)
    if not n:
        return b""
    stream = key * (n >> 2) + key[: n & 3]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


def encode_frame(opcode: int, payload: bytes, *, mask: bool, fin: bool = True) -> bytes:
    """Encode one frame. Clients must send masked frames (``mask=True``), servers unmasked ones."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | opcode
    mbit = 0x80 if mask else 0
    if n < 126:
        header = bytes((b0, mbit | n))
    elif n < 0x10000:
        header = _HEAD16.pack(b0, mbit | 126, n)
    else:
        header = _HEAD64.pack(b0, mbit | 127, n)
    if not mask:
        return header + payload
    key = os.urandom(4)
    return header + key + apply_mask(payload, key)


def close_payload(code: int, reason: str = "") -> bytes:
    """The body of a close frame; ``code`` 1005 means an empty body."""
    if code == _NO_STATUS:
        return b""
    body = _CODE.pack(code) + reason.encode()
    if len(body) > 125:
        raise ValueError("close reason too long (a close frame body is at most 125 bytes)")
    return body


def _parse_close(payload: bytes) -> Close:
    n = len(payload)
    if n == 0:
        return Close(_NO_STATUS, "")
    if n == 1:
        raise FrameProtocolError(_PROTOCOL_ERROR, "close frame with a 1-byte body")
    code = (payload[0] << 8) | payload[1]
    if not is_valid_close_code(code):
        raise FrameProtocolError(_PROTOCOL_ERROR, f"invalid close code {code}")
    try:
        reason = payload[2:].decode()
    except UnicodeDecodeError:
        raise FrameProtocolError(_INVALID_DATA, "close reason is not valid UTF-8") from None
    return Close(code, reason)


class FrameReader:
    """Incremental frame reader: :meth:`feed` bytes, then call :meth:`next_event` until it returns ``None``.

    ``next_event`` returns a whole message (``str`` or ``bytes``, fragments reassembled), a
    :class:`Ping`/:class:`Pong`/:class:`Close`, or ``None`` when more bytes are needed. With
    ``client=True`` (the default) masked frames are rejected, as RFC 6455 §5.1 requires of a client;
    with ``client=False`` (server side) frames must be masked and are unmasked.
    ``max_size`` bounds a (reassembled) message in bytes (``None``: no limit); it is checked from
    the frame header, before the payload is buffered. After a :class:`Close` or a
    :class:`FrameProtocolError` the reader must not be used again.
    """

    __slots__ = (
        "_buf",
        "_client",
        "_fast",
        "_fast_ok",
        "_frag",
        "_frag_len",
        "_frag_op",
        "_max_size",
        "_need",
        "_pending",
        "_pending_len",
        "_pos",
    )

    def __init__(self, max_size: int | None = 4 * 2**20, *, client: bool = True) -> None:
        self._max_size = max_size
        self._client = client
        # Whether the hot path (whole text frame < 64 KiB) applies: client side, no fragmented message
        # in progress, and a size limit that such a frame cannot exceed.
        self._fast_ok = client and (max_size is None or max_size >= 0xFFFF)
        self._fast = self._fast_ok
        self._buf = b""
        self._pos = 0
        self._pending: list[bytes] = []
        self._pending_len = 0
        self._need = 0
        self._frag_op = 0
        self._frag: list[bytes] = []
        self._frag_len = 0

    @property
    def max_size(self) -> int | None:
        """Largest message accepted, in bytes (``None``: no limit)."""
        return self._max_size

    @property
    def buffered(self) -> int:
        """Bytes fed but not yet consumed."""
        return len(self._buf) - self._pos + self._pending_len

    def feed(self, data: bytes) -> None:
        """Add bytes received from the peer."""
        if not data:
            return
        if self._pos >= len(self._buf) and not self._pending:
            # Common case: everything before was consumed; the new chunk becomes the buffer (no copy).
            self._buf = data
            self._pos = 0
            return
        # Keep chunks aside until the frame being waited for is complete, then join once: a large
        # frame arriving in many reads is copied O(n) times, not O(n²).
        self._pending.append(data)
        self._pending_len += len(data)
        if len(self._buf) - self._pos + self._pending_len >= self._need:
            self._join()

    def _join(self) -> None:
        self._pending.insert(0, self._buf[self._pos :])
        self._buf = b"".join(self._pending)
        self._pos = 0
        self._pending.clear()
        self._pending_len = 0

    def _wait(self, need: int) -> bool:
        """Record that ``need`` bytes are required; join pending chunks if they already suffice."""
        self._need = need
        if self._pending and len(self._buf) - self._pos + self._pending_len >= need:
            self._join()
            return True
        return False

    def next_event(self) -> str | bytes | Ping | Pong | Close | None:
        """The next message or control frame, or ``None`` if more bytes are needed."""
        while True:
            buf = self._buf
            pos = self._pos
            avail = len(buf) - pos
            if avail < 2:
                if self._wait(2):
                    continue
                return None
            b0 = buf[pos]
            b1 = buf[pos + 1]
            if b0 == 0x81 and b1 <= 126 and self._fast:
                # Hot path: a whole unmasked text message of < 64 KiB, not inside a fragmented one.
                if b1 < 126:
                    start = pos + 2
                    stop = start + b1
                else:
                    start = pos + 4
                    stop = start + ((buf[pos + 2] << 8) | buf[pos + 3]) if avail >= 4 else -1
                if 0 <= stop <= len(buf):
                    self._pos = stop
                    try:
                        return buf[start:stop].decode()
                    except UnicodeDecodeError:
                        raise FrameProtocolError(_INVALID_DATA, "text message is not valid UTF-8") from None
            n = b1 & 0x7F
            if n < 126:
                hl = 2
            elif n == 126:
                if avail < 4:
                    if self._wait(4):
                        continue
                    return None
                n = (buf[pos + 2] << 8) | buf[pos + 3]
                hl = 4
            else:
                if avail < 10:
                    if self._wait(10):
                        continue
                    return None
                n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                if n >> 63:
                    raise FrameProtocolError(_PROTOCOL_ERROR, "frame length has the most significant bit set")
                hl = 10
            if b1 & 0x80:
                if self._client:
                    raise FrameProtocolError(_PROTOCOL_ERROR, "masked frame from server")
                hl += 4
            elif not self._client:
                raise FrameProtocolError(_PROTOCOL_ERROR, "unmasked frame from client")
            if b0 & 0x70:
                raise FrameProtocolError(_PROTOCOL_ERROR, "reserved bits set (no extension negotiated)")
            opcode = b0 & 0x0F
            if opcode >= 8:
                if opcode > OP_PONG:
                    raise FrameProtocolError(_PROTOCOL_ERROR, f"reserved opcode {opcode}")
                if n > 125:
                    raise FrameProtocolError(_PROTOCOL_ERROR, "control frame payload longer than 125 bytes")
                if not b0 & 0x80:
                    raise FrameProtocolError(_PROTOCOL_ERROR, "fragmented control frame")
            elif opcode > OP_BINARY:
                raise FrameProtocolError(_PROTOCOL_ERROR, f"reserved opcode {opcode}")
            elif self._max_size is not None and n + self._frag_len > self._max_size:
                raise FrameProtocolError(_TOO_BIG, f"message larger than {self._max_size} bytes")
            stop = pos + hl + n
            if stop > len(buf):
                if self._wait(hl + n):
                    continue
                return None
            self._pos = stop
            payload = (
                buf[pos + hl : stop] if self._client else apply_mask(buf[pos + hl : stop], buf[pos + hl - 4 : pos + hl])
            )
            event = self._frame(b0, opcode, payload)
            if event is not None:
                return event

    def _frame(self, b0: int, opcode: int, payload: bytes) -> str | bytes | Ping | Pong | Close | None:
        fin = b0 & 0x80
        if opcode in (OP_TEXT, OP_BINARY):
            if self._frag_op:
                raise FrameProtocolError(_PROTOCOL_ERROR, "new message before the fragmented one finished")
            if fin:
                return _message(opcode, payload)
            self._frag_op = opcode
            self._fast = False
            self._frag = [payload]
            self._frag_len = len(payload)
            return None
        if opcode == OP_CONT:
            if not self._frag_op:
                raise FrameProtocolError(_PROTOCOL_ERROR, "continuation frame without a message to continue")
            self._frag.append(payload)
            self._frag_len += len(payload)
            if not fin:
                return None
            message = b"".join(self._frag)
            opcode = self._frag_op
            self._frag_op = 0
            self._fast = self._fast_ok
            self._frag = []
            self._frag_len = 0
            return _message(opcode, message)
        if opcode == OP_PING:
            return Ping(payload)
        if opcode == OP_PONG:
            return Pong(payload)
        # OP_CLOSE (the only opcode left after the checks in next_event).
        return _parse_close(payload)


def _message(opcode: int, payload: bytes) -> str | bytes:
    if opcode == OP_BINARY:
        return payload
    try:
        return payload.decode()
    except UnicodeDecodeError:
        raise FrameProtocolError(_INVALID_DATA, "text message is not valid UTF-8") from None
