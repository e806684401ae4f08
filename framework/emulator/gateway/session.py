"""A resumable gateway session: sequence numbers, intents, shard and the replay buffer."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import msgspec

from framework.emulator.gateway.records import SessionRecord
from framework.models.envelope import encode_envelope

if TYPE_CHECKING:
    from framework.emulator.gateway.connection import GatewayConnection

__all__ = ["Session"]


class Session:
    """State that survives reconnects: ``seq`` and the frames a resume may replay.

    At most one connection is attached at a time; while none is, dispatches are only buffered, so an
    event emitted during a disconnect is delivered by the resume.
    """

    def __init__(self, record: SessionRecord, buffer_size: int) -> None:
        self.record = record
        self.session_id = record.session_id
        self.app_id = record.app_id
        self.shard_id, self.shard_count = record.shard
        self.intents = record.intents
        self.seq = 0
        self.buffer: deque[tuple[int, bytes]] = deque(maxlen=max(1, buffer_size))
        self.evicted_upto = 0
        """The highest ``s`` dropped from the buffer (a resume from before it cannot be served)."""
        self.connection: GatewayConnection | None = None

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def dispatch(self, t: str, event_id: str | None, d: msgspec.Raw) -> None:
        """Assign the next ``s``, buffer the frame and hand it to the attached connection, if any."""
        s = self.next_seq()
        frame = encode_envelope(0, d, s=s, t=t, id=event_id)
        if len(self.buffer) == self.buffer.maxlen:
            self.evicted_upto = self.buffer[0][0]
        self.buffer.append((s, frame))
        self.record.dispatched += 1
        conn = self.connection
        if conn is not None:
            conn.enqueue(frame)

    def frames_after(self, seq: int) -> list[bytes] | None:
        """Buffered frames with ``s > seq``; None when some of them were already evicted."""
        if seq < self.evicted_upto:
            return None
        return [frame for s, frame in self.buffer if s > seq]

    def __repr__(self) -> str:
        return f"Session(app={self.app_id}, shard=[{self.shard_id}, {self.shard_count}], seq={self.seq})"
