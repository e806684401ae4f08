"""The live feed of the emulator's web page: what went over the wire and what was said, in order.

Every entry gets the next integer id. Two bounded histories keep the recent past, so a page opened
late still shows it: the *wire* (gateway frames in and out, connections opening and closing, REST
calls) and the *chat* (events the platform pushed, messages the bot sent). Readers wait with
:meth:`Feed.wait` for entries after the last id they saw; ``GET /_emulator/feed`` streams them as
Server-Sent Events.

Recording costs one deque append per batch of gateway frames the writer sends (a frame is decoded and
summarised only when a reader asks): about 3 ns per frame in batches of 256, so benchmarks through the
emulator pay next to nothing for it. Secrets never
enter an entry's JSON: identify/resume tokens and access tokens are replaced by ``***`` and the
Authorization header is already masked in :class:`ApiCall`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

if TYPE_CHECKING:
    from framework.clock import Clock
    from framework.emulator.world import ApiCall

__all__ = ["Feed", "summarise_frame"]

WIRE_KEPT = 2000
"""Wire entries kept (frames, connections, REST calls): between this and ``WIRE_KEPT + WIRE_SLACK``."""
WIRE_SLACK = 256
"""How far the wire history may grow past :data:`WIRE_KEPT` before it is trimmed (trimming in bulk)."""
CHAT_KEPT = 1000
"""Chat entries kept (pushed events, the bot's messages)."""
_BODY_CHARS = 4000
"""Longest ``body`` text of a wire entry (longer ones are cut, ``truncated`` says so)."""

_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()

# (id, wall time, kind, payload): "frame" payloads are (connection number, "in"/"out", data), summarised
# when read; the other kinds carry their JSON already.
_Entry = tuple[int, float, str, Any]


def _masked(value: Any) -> Any:
    """``value`` with every ``token``/``access_token``/``clientSecret`` string replaced by ``***``."""
    if isinstance(value, dict):
        return {
            k: "***" if k in ("token", "access_token", "clientSecret") and isinstance(v, str) else _masked(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def _body_text(value: Any) -> tuple[str, bool]:
    text = value if isinstance(value, str) else _encoder.encode(value).decode()
    if len(text) > _BODY_CHARS:
        return text[:_BODY_CHARS], True
    return text, False


def summarise_frame(data: str | bytes) -> dict[str, Any]:
    """A gateway frame as the wire log shows it: ``op``, ``t``, ``s`` and the (masked, cut) JSON text."""
    try:
        msg = _decoder.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        text = data if isinstance(data, str) else data.decode("utf-8", "replace")
        body, cut = _body_text(text)
        return {"op": None, "t": None, "s": None, "body": body, "truncated": cut}
    if not isinstance(msg, dict):
        body, cut = _body_text(msg)
        return {"op": None, "t": None, "s": None, "body": body, "truncated": cut}
    body, cut = _body_text(_masked(msg))
    return {"op": msg.get("op"), "t": msg.get("t"), "s": msg.get("s"), "body": body, "truncated": cut}


class Feed:
    """Bounded histories of wire and chat entries, and a wake-up for readers waiting for more."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.last_id = 0
        """The id of the newest entry (0 before the first)."""
        # wire entries: (first id, time, kind, payload, ids used); a batch of frames is one entry that
        # uses one id per frame, so recording costs the same for a batch of 256 frames as for one
        self._wire: deque[tuple[int, float, str, Any, int]] = deque()
        self._wire_ids = 0
        """Ids held by ``_wire``."""
        self._chat: deque[_Entry] = deque(maxlen=CHAT_KEPT)
        self._wake: anyio.Event | None = None

    # -- writing (synchronous: called from the gateway, the REST observer and the world) ----------

    def _woken(self) -> None:
        wake = self._wake
        if wake is not None:
            self._wake = None
            wake.set()

    def _add_wire(self, kind: str, payload: Any, ids: int = 1) -> None:
        first = self.last_id + 1
        self.last_id += ids
        self._wire.append((first, self._clock.time(), kind, payload, ids))
        self._wire_ids += ids
        if self._wire_ids > WIRE_KEPT + WIRE_SLACK:
            self._trim()
        if self._wake is not None:
            self._woken()

    def _trim(self) -> None:
        """Drop the oldest wire ids down to :data:`WIRE_KEPT` (a batch keeps its newest frames)."""
        wire = self._wire
        while self._wire_ids > WIRE_KEPT:
            excess = self._wire_ids - WIRE_KEPT
            first, at, kind, payload, ids = wire[0]
            if ids <= excess:
                wire.popleft()
                self._wire_ids -= ids
            else:
                conn, direction, frames = payload
                wire[0] = (first + excess, at, kind, (conn, direction, frames[excess:]), ids - excess)
                self._wire_ids -= excess

    def _add_chat(self, kind: str, payload: Any) -> None:
        self.last_id += 1
        self._chat.append((self.last_id, self._clock.time(), kind, payload))
        if self._wake is not None:
            self._woken()

    def frames(self, connection: int, direction: str, frames: Sequence[str | bytes]) -> None:
        """Gateway frames sent (``"out"``) or received (``"in"``) on connection number ``connection``.

        ``frames`` is kept as given (not copied): the caller must not change it afterwards.
        """
        if frames:
            self._add_wire("frame", (connection, direction, frames), len(frames))

    def connection(self, kind: str, connection: int, **details: Any) -> None:
        """A gateway connection opened (``"open"``) or ended (``"close"``), with what is known about it."""
        self._add_wire("connection", {"event": kind, "conn": connection, **details})

    def rest(self, call: ApiCall, response: bytes) -> None:
        """One REST call and the body answered (both summarised when read)."""
        self._add_wire("rest", (call, response))

    def webhook(self, payload: dict[str, Any]) -> None:
        """One webhook POST: ``url``, ``type``, ``event_id``, ``attempt``, ``status``, ``acked``, ``error``."""
        self._add_wire("webhook", payload)

    def event(self, payload: dict[str, Any]) -> None:
        """An event the platform pushed (``type``, ``id``, ``d``, ``scene``, ``target_id``)."""
        self._add_chat("event", payload)

    def sent(self, payload: dict[str, Any]) -> None:
        """A message the bot sent (``sent_json`` plus ``media_url`` when known)."""
        self._add_chat("sent", payload)

    # -- reading ----------------------------------------------------------------------------------

    def since(self, after: int) -> list[dict[str, Any]]:
        """Every kept entry with an id above ``after``, oldest first, as JSON-ready dicts."""
        picked: list[_Entry] = []
        for first, at, kind, payload, ids in reversed(self._wire):
            if first + ids - 1 <= after:
                break
            if kind == "frame":
                conn, direction, frames = payload
                skip = max(0, after - first + 1)
                picked.extend(
                    (n, at, kind, (conn, direction, frame)) for n, frame in enumerate(frames[skip:], start=first + skip)
                )
            else:
                picked.append((first, at, kind, payload))
        for entry in reversed(self._chat):
            if entry[0] <= after:
                break
            picked.append(entry)
        picked.sort(key=lambda e: e[0])
        return [_entry_json(e) for e in picked]

    async def wait(self, after: int, timeout: float) -> list[dict[str, Any]]:  # noqa: ASYNC109 - a keep-alive period
        """Entries after ``after``; waits up to ``timeout`` real seconds for one (``[]`` when none came)."""
        if self.last_id <= after:
            if self._wake is None:
                self._wake = anyio.Event()
            wake = self._wake
            with anyio.move_on_after(timeout):
                await wake.wait()
        return self.since(after)


def _entry_json(entry: _Entry) -> dict[str, Any]:
    entry_id, at, kind, payload = entry
    if kind == "frame":
        conn, direction, data = payload
        return {"id": entry_id, "at": at, "kind": "frame", "conn": conn, "dir": direction, **summarise_frame(data)}
    if kind == "rest":
        call, response = payload
        return {"id": entry_id, "at": at, "kind": "rest", **_rest_json(call, response)}
    return {"id": entry_id, "at": at, "kind": kind, **payload}


def _rest_json(call: ApiCall, response: bytes) -> dict[str, Any]:
    body, cut = _body_text(_masked(call.body)) if call.body is not None else ("", False)
    answer, answer_cut = "", False
    if response:
        try:
            decoded: Any = _decoder.decode(response)
        except (msgspec.DecodeError, RecursionError):
            decoded = response.decode("utf-8", "replace")
        answer, answer_cut = _body_text(_masked(decoded))
    return {
        "method": call.method,
        "path": call.path,
        "query": call.query,
        "status": call.status,
        "app_id": call.app_id,
        "body": body,
        "response": answer,
        "truncated": cut or answer_cut,
    }
