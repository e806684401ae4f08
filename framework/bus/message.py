"""The bus's message format and partitioning, without I/O.

A :class:`BusMessage` is one dispatch event as the gateway received it: the raw ``d`` (JSON bytes, never
re-encoded) with its metadata (event type, envelope id, shard, seq, the gateway's receive time), encoded with
msgspec's MessagePack as a compact array. :func:`partition_key` reads the chat an event belongs to (a group, a
C2C user, a channel; the event table's ``lane`` column, read from a small Struct with only the chat fields
instead of the full payload model) and :func:`partition_of` maps it to one of ``n`` partitions with CRC-32, the
same in every process (Python's ``hash`` of a string is not).
"""

from __future__ import annotations

import zlib

import msgspec

from framework.models.envelope import InboundEvent

__all__ = ["BusMessage", "decode_message", "encode_event", "encode_message", "partition_key", "partition_of"]


class BusMessage(msgspec.Struct, array_like=True, frozen=True):
    """One event on the bus (field order is the wire format: append new fields at the end, with defaults)."""

    type: str
    data: bytes
    """The raw ``d`` of the envelope (JSON)."""
    id: str | None = None
    seq: int | None = None
    shard: int | None = None
    received: float = 0.0
    """Unix time the gateway handed the event to the bus publisher."""
    source: str = "gateway"
    """The transport that received it at the gateway (``gateway`` or ``webhook``)."""
    trace: dict[str, str] | None = None
    """The gateway's trace context, when it traces (:class:`~framework.observability.tracing.TracingPlugin`): the
    W3C ``traceparent`` (and ``tracestate``, ``baggage``) headers of its publish span, which the worker's event span
    continues. None: encoded exactly as before the field existed. Either way a worker of an earlier release
    decodes the message (msgspec ignores trailing array items it does not know)."""

    @classmethod
    def of(cls, event: InboundEvent, received: float, trace: dict[str, str] | None = None) -> BusMessage:
        return cls(event.type, bytes(event.data), event.id, event.seq, event.shard_id, received, event.source, trace)

    def event(self, source: str = "bus") -> InboundEvent:
        """The :class:`InboundEvent` a worker hands to its bot (``source`` names the bus)."""
        return InboundEvent(
            type=self.type, data=msgspec.Raw(self.data), id=self.id, seq=self.seq, shard_id=self.shard, source=source
        )


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(BusMessage)


def encode_message(message: BusMessage) -> bytes:
    """The bytes of one bus entry (a MessagePack array; without a trace context, the seven fields it had before
    ``trace`` existed, byte for byte)."""
    m = message
    return _encode((m.type, m.data, m.id, m.seq, m.shard, m.received, m.source), m.trace)


def encode_event(event: InboundEvent, received: float, trace: dict[str, str] | None = None) -> bytes:
    """``encode_message(BusMessage.of(event, received, trace))`` without building the Struct (the publisher's path)."""
    fields = (event.type, bytes(event.data), event.id, event.seq, event.shard_id, received, event.source)
    return _encode(fields, trace)


def _encode(fields: tuple[object, ...], trace: dict[str, str] | None) -> bytes:
    """The array of :class:`BusMessage`'s fields, ``trace`` appended only when there is one."""
    return _encoder.encode(fields if trace is None else (*fields, trace))


def decode_message(data: bytes) -> BusMessage:
    """Raises ``msgspec.DecodeError``/``ValidationError`` on a malformed entry."""
    return _decoder.decode(data)


class _Author(msgspec.Struct):
    id: str | None = None
    user_openid: str | None = None


class _Message(msgspec.Struct):
    channel_id: str | None = None
    guild_id: str | None = None


class _Chat(msgspec.Struct):
    """The chat fields of every payload the event table routes by chat (everything else is skipped unread)."""

    group_openid: str | None = None
    channel_id: str | None = None
    openid: str | None = None
    user_openid: str | None = None
    guild_id: str | None = None
    author: _Author | None = None
    message: _Message | None = None


_chat_decoder = msgspec.json.Decoder(_Chat)

# Event types whose chat is not their first chat field (the event table's special lanes).
_C2C = frozenset({"C2C_MESSAGE_CREATE"})
_DELETES = frozenset({"MESSAGE_DELETE", "PUBLIC_MESSAGE_DELETE", "DIRECT_MESSAGE_DELETE"})
_NONE = frozenset({"READY", "RESUMED"})


def partition_key(event: InboundEvent) -> str | None:
    """The chat ``event`` belongs to (the same chat as :mod:`framework.delivery`'s lane), or None.

    ``INTERACTION_CREATE`` reads group, user, then channel (the event table's order for it); C2C messages their
    author; deletions the deleted message's channel; other events their first chat field in the order group,
    channel, user, guild.
    """
    if event.type in _NONE:
        return None
    try:
        chat = _chat_decoder.decode(event.data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if event.type in _C2C:
        author = chat.author
        return (author.user_openid or author.id or None) if author is not None else None
    if event.type in _DELETES and chat.message is not None:
        return chat.message.channel_id or chat.message.guild_id or None
    if event.type == "INTERACTION_CREATE":
        return chat.group_openid or chat.user_openid or chat.channel_id or None
    return chat.group_openid or chat.channel_id or chat.openid or chat.user_openid or chat.guild_id or None


def partition_of(key: str | None, partitions: int, fallback: str | None = None) -> int:
    """The partition of chat ``key`` among ``partitions`` (``fallback``, e.g. the event id, when there is no chat;
    partition 0 without either)."""
    text = key if key is not None else fallback
    if not text or partitions <= 1:
        return 0
    return zlib.crc32(text.encode()) % partitions
