"""Bounded bookkeeping shared by every reply: ``msg_seq`` per source message and acknowledged interactions."""

from __future__ import annotations

from collections import OrderedDict

from framework.protocol.recent_ids import RecentIds

__all__ = ["ReplyLedger"]


class ReplyLedger:
    """Counts replies per source id so each gets a fresh ``msg_seq`` (no 40054005 duplicates).

    The count lives on the bot, not on one context, so a message the platform pushes twice still
    gets increasing sequence numbers. At most ``capacity`` ids are remembered (least recently used
    forgotten first); passive-reply windows are minutes long, so that is plenty.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._seq: OrderedDict[str, int] = OrderedDict()
        self._acked = RecentIds(capacity)

    def next_seq(self, source_id: str) -> int:
        """Return the next ``msg_seq`` (1, 2, ...) for replies to ``source_id``."""
        seq = self._seq.pop(source_id, 0) + 1
        self._seq[source_id] = seq
        if len(self._seq) > self._capacity:
            self._seq.popitem(last=False)
        return seq

    def first_ack(self, interaction_id: str) -> bool:
        """Return True the first time ``interaction_id`` is seen (it must be acknowledged once)."""
        return self._acked.add(interaction_id)
