"""The payload envelope ``{op, s, t, id, d}`` and lazy decoding of ``d`` by event type.

``d`` stays a ``msgspec.Raw`` until someone needs it; decoders are built once per Struct.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from framework.models.event_table import EVENT_TABLE
from framework.models.events import Resumed

__all__ = [
    "Envelope",
    "EventSink",
    "InboundEvent",
    "RawEvent",
    "decode_envelope",
    "decode_event",
    "encode",
    "encode_envelope",
    "event_decoder",
]

_NULL = msgspec.Raw(b"null")


class Envelope(msgspec.Struct, omit_defaults=True):
    """A gateway frame or webhook body. ``d`` is kept raw until decoded with :func:`decode_event`."""

    op: int
    d: msgspec.Raw = _NULL
    s: int | None = None
    t: str | None = None
    id: str | None = None


class RawEvent(msgspec.Struct, frozen=True):
    """An event whose type is not in the event table: the payload is kept undecoded."""

    type: str
    data: msgspec.Raw

    def json(self) -> Any:
        """Decode the raw payload into builtins."""
        return msgspec.json.decode(self.data) if self.data else None


class InboundEvent(msgspec.Struct, frozen=True, kw_only=True, weakref=True):
    """A dispatch event as handed to the app, whatever carried it (gateway, webhook, event bus).

    ``data`` is the raw ``d``; decode it with :func:`decode_event` only when a handler wants it. One object is one
    handling of the event (weak references to it: the reply ledger counts that handling's replies).
    """

    type: str
    data: msgspec.Raw
    id: str | None = None
    """The envelope ``id`` (the event id used for ``event_id`` replies and dedupe)."""
    seq: int | None = None
    shard_id: int | None = None
    source: str = "gateway"
    """``"gateway"``, ``"webhook"`` or a bus name."""

    def decode(self) -> Any:
        """Decode ``data`` into the event's Struct (or a :class:`RawEvent`)."""
        return decode_event(self.type, self.data)


EventSink = Callable[[InboundEvent], Awaitable[None]]
"""Where every transport hands its events: ``async def sink(event: InboundEvent) -> None``."""


_envelope_decoder = msgspec.json.Decoder(Envelope)
_encoder = msgspec.json.Encoder()
_decoders: dict[str, msgspec.json.Decoder[Any]] = {}
_resumed_decoder = msgspec.json.Decoder(Resumed | str | None)


def decode_envelope(data: bytes | str) -> Envelope:
    """Decode a frame; raises ``msgspec.DecodeError``/``ValidationError`` on malformed input, and
    ``RecursionError`` on input nested too deeply for msgspec to skip (callers treat it as malformed)."""
    return _envelope_decoder.decode(data)


def _decoder_for(event_type: str) -> msgspec.json.Decoder[Any] | None:
    dec = _decoders.get(event_type)
    if dec is None:
        spec = EVENT_TABLE.get(event_type)
        if spec is None:
            return None
        dec = _decoders[event_type] = msgspec.json.Decoder(spec.model)
    return dec


def event_decoder(event_type: str) -> Callable[[msgspec.Raw | bytes], Any]:
    """The fastest way to :func:`decode_event` one type: its Struct decoder's ``decode`` when the type is in the
    event table (and not RESUMED), else a function calling :func:`decode_event`. Same results either way."""
    dec = None if event_type == "RESUMED" else _decoder_for(event_type)
    if dec is None:

        def decode(data: msgspec.Raw | bytes) -> Any:
            return decode_event(event_type, data)

        return decode
    return dec.decode


def decode_event(event_type: str, data: msgspec.Raw | bytes) -> Any:
    """Decode an event payload into its Struct, or a :class:`RawEvent` for unknown types.

    Unknown fields are ignored. RESUMED's empty-string ``d`` becomes ``Resumed()``.
    """
    if event_type == "RESUMED":
        value = _resumed_decoder.decode(data) if data else None
        return value if isinstance(value, Resumed) else Resumed()
    dec = _decoder_for(event_type)
    if dec is None:
        return RawEvent(event_type, msgspec.Raw(bytes(data)))
    return dec.decode(data)


def encode(obj: Any) -> bytes:
    """Encode a Struct or builtins as compact JSON."""
    return _encoder.encode(obj)


def encode_envelope(
    op: int, d: Any = None, *, s: int | None = None, t: str | None = None, id: str | None = None
) -> bytes:
    """Encode a frame; ``d`` may be a Struct, builtins or already-encoded ``msgspec.Raw``."""
    raw = d if isinstance(d, msgspec.Raw) else msgspec.Raw(_encoder.encode(d))
    return _encoder.encode(Envelope(op=op, d=raw, s=s, t=t, id=id))
