"""Bounded bookkeeping shared by every reply: ``msg_seq`` per source message and acknowledged interactions.

The ``msg_seq`` count is kept in the process by default. Bots whose handlers run in several processes (event-bus
workers, docs/event-bus.md) plug in a shared :class:`SeqStore` (``framework.bus.redis.RedisSeqStore``) and turn on
the passive-reply window check (:data:`PASSIVE_REPLY_WINDOWS`): a reply to a message older than its window fails
before it is sent. With a store that also remembers which handling of which event took each number
(:class:`ReplaySeqStore`, both bus backends), :meth:`ReplyLedger.reply_seq` gives the k-th reply of an event's
handling the same ``msg_seq`` on every delivery of that event, so the platform's own dedupe (40054005) stops a
reply a crashed worker had already sent from going out twice (:attr:`ReplySeq.replayed`).
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Protocol, runtime_checkable

from framework.app.errors import BotError
from framework.models.envelope import InboundEvent
from framework.protocol.recent_ids import RecentIds

__all__ = ["PASSIVE_REPLY_WINDOWS", "ReplaySeqStore", "ReplyLedger", "ReplySeq", "ReplyWindowError", "SeqStore"]

#: Seconds after a user's message within which the bot may answer it (``msg_id``), per scene
#: (docs/protocol-notes.md: 5 minutes in groups, 60 in C2C).
PASSIVE_REPLY_WINDOWS: Mapping[str, float] = {"group": 300.0, "c2c": 3600.0}


class ReplyWindowError(BotError):
    """A passive reply to a message older than the scene's reply window (the platform would refuse it)."""


class SeqStore(Protocol):
    """Shared ``msg_seq`` counters: ``await store.next_seq(source_id)`` returns 1, 2, ... across processes."""

    async def next_seq(self, source_id: str, /) -> int: ...


@runtime_checkable
class ReplaySeqStore(SeqStore, Protocol):
    """A :class:`SeqStore` that also keeps which reply of which event's handling took each number."""

    async def seq_for(self, source_id: str, reply_key: str, /) -> tuple[int, bool]:
        """The ``msg_seq`` of the reply ``reply_key`` (``<event id>#<ordinal>``) to ``source_id``, and whether an
        earlier handling already took it: the number it got then, else the next one of :meth:`next_seq`'s count
        (recorded for the next time)."""
        ...


@dataclass(frozen=True, slots=True)
class ReplySeq:
    """A reply's ``msg_seq`` (:meth:`ReplyLedger.reply_seq`)."""

    value: int
    replayed: bool = False
    """An earlier delivery of the same event took this number for the same reply: a worker that stopped before
    acknowledging the event. The platform answering 40054005 then means that earlier send landed."""


class ReplyLedger:
    """Counts replies per source id so each gets a fresh ``msg_seq`` (no 40054005 duplicates).

    The count lives on the bot, not on one context, so a message the platform pushes twice still
    gets increasing sequence numbers. At most ``capacity`` ids are remembered (least recently used
    forgotten first); passive-reply windows are minutes long, so that is plenty. ``store``, when set, keeps the
    counts instead (shared by processes; :meth:`allocate` uses it). ``windows`` (scene -> seconds), when set,
    makes :meth:`check_window` refuse replies to messages older than their scene's window.
    """

    def __init__(
        self, capacity: int = 10_000, *, store: SeqStore | None = None, windows: Mapping[str, float] | None = None
    ) -> None:
        self._capacity = capacity
        self._seq: OrderedDict[str, int] = OrderedDict()
        # per handling (InboundEvent object) alive: its replies so far per source id; gone with the object
        self._handlings: dict[int, tuple[weakref.ref[InboundEvent], dict[str, int]]] = {}
        self._acked = RecentIds(capacity)
        self.store = store
        self.windows = windows

    def next_seq(self, source_id: str) -> int:
        """Return the next ``msg_seq`` (1, 2, ...) for replies to ``source_id``, counted in this process."""
        seq = self._seq.pop(source_id, 0) + 1
        self._seq[source_id] = seq
        if len(self._seq) > self._capacity:
            self._seq.popitem(last=False)
        return seq

    async def allocate(self, source_id: str) -> int:
        """The next ``msg_seq`` for ``source_id``: from :attr:`store` when set, else :meth:`next_seq`."""
        store = self.store
        return self.next_seq(source_id) if store is None else await store.next_seq(source_id)

    async def reply_seq(self, source_id: str, event: InboundEvent) -> ReplySeq:
        """The ``msg_seq`` of a reply to ``source_id`` made while handling ``event`` (one object per handling).

        With a :class:`ReplaySeqStore` the replies of one handling are numbered 1, 2, ... (their ordinal) and
        ordinal *k* of the event's id keeps the ``msg_seq`` the store gave it the first time, whichever worker (or
        this one) handles the event again; otherwise this is :meth:`allocate`.
        """
        store = self.store
        if not isinstance(store, ReplaySeqStore):
            return ReplySeq(await self.allocate(source_id))
        entry = self._handlings.get(id(event))
        if entry is None or entry[0]() is not event:
            key = id(event)
            entry = (weakref.ref(event, partial(self._handled, key)), {})
            self._handlings[key] = entry
        counts = entry[1]
        ordinal = counts[source_id] = counts.get(source_id, 0) + 1
        value, replayed = await store.seq_for(source_id, f"{event.id or f'{event.type}:{source_id}'}#{ordinal}")
        return ReplySeq(value, replayed)

    def _handled(self, key: int, ref: weakref.ref[InboundEvent]) -> None:
        entry = self._handlings.get(key)
        if entry is not None and entry[0] is ref:
            del self._handlings[key]

    def check_window(self, scene: str, sent_at: str | float | None, now: float) -> None:
        """Raise :class:`ReplyWindowError` when a message of ``scene`` sent at ``sent_at`` (the payload's ISO 8601
        ``timestamp``, or Unix seconds) is past its reply window at ``now`` (Unix seconds). Does nothing without
        :attr:`windows`, for scenes without a window, or when the timestamp is missing or unreadable."""
        windows = self.windows
        if not windows or not sent_at:
            return
        window = windows.get(scene)
        if window is None:
            return
        if isinstance(sent_at, int | float):
            sent = float(sent_at)
        else:
            try:
                sent = datetime.fromisoformat(sent_at).timestamp()
            except ValueError:
                return
        age = now - sent
        if age > window:
            raise ReplyWindowError(
                f"the {scene} message sent at {sent_at} is {age:.0f} s old, past the {window:.0f} s passive-reply "
                "window: the platform would refuse the reply (40034005); answer sooner (more workers, a shorter "
                "backlog) or send it as an active message"
            )

    def first_ack(self, interaction_id: str) -> bool:
        """Return True the first time ``interaction_id`` is seen (it must be acknowledged once)."""
        return self._acked.add(interaction_id)
