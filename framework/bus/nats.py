"""The NATS JetStream backend of the event bus (the ``nats`` extra: nats-py; asyncio only).

Names (``A`` = the app id, ``N`` = the namespace):

======================================  =========  =====================================================================
name                                    kind       holds
======================================  =========  =====================================================================
``N_A_BUS`` subjects ``N.A.bus.p.<i>``  stream     one message per event (the msgpack BusMessage), at most ``maxlen``
                                                   per partition subject (``max_msgs_per_subject``, oldest discarded)
``p<i>-<worker>``                       consumer   the durable pull consumer of partition ``i`` (explicit acks)
``N_A_bus_leases``                      KV bucket  ``p.<i>``: the worker consuming partition ``i``; ``m.<worker>``: live
                                                   workers; entries expire ``lease_ttl`` after their last write
``N_A_bus_done``                        KV bucket  handled event ids (the idempotency guard), expiring after
                                                   ``idempotency_ttl``
``N_A_bus_seq``                         KV bucket  the last ``msg_seq`` per message id, and per ``<msg id>.<reply key>``
                                                   the one a reply of an event's handling took; kept 65 minutes
======================================  =========  =====================================================================

Partitions are leased like on Redis (:mod:`framework.bus.redis`). A worker that takes a partition re-creates its
consumer from the first sequence not acknowledged (the consumer's ack floor + 1), so a departed worker's
unacknowledged events come first and in order; events past the floor that were acknowledged are delivered again
and skipped by the idempotency guard.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
import os
import random
import re
import secrets
import socket
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import anyio
import msgspec
import msgspec.json
import nats
import nats.errors
import nats.js.api
import nats.js.errors
from anyio.abc import TaskStatus
from nats.js import api

from framework.bus.base import BusEntry, BusUnavailable
from framework.bus.message import decode_message
from framework.bus.nats_url import NatsBusConfig, parse_nats_bus_url

__all__ = ["NatsBusConfig", "NatsJetStreamBus", "NatsSeqStore", "parse_nats_bus_url"]

log = logging.getLogger("framework.bus.nats")

_UNAVAILABLE = (
    nats.errors.TimeoutError,
    nats.errors.ConnectionClosedError,
    nats.errors.NoRespondersError,
    nats.errors.NoServersError,
    nats.errors.StaleConnectionError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.OutboundBufferLimitError,  # publishing while reconnecting, the client's buffer full
    nats.js.errors.ServiceUnavailableError,
    OSError,
)


def _key(text: str) -> str:
    """A KV key for any event id (KV keys allow letters, digits and ``-_=./``)."""
    return base64.urlsafe_b64encode(text.encode()).decode()


class NatsJetStreamBus:
    """:class:`~framework.bus.base.EventBus` on NATS JetStream; ``async with`` connects and creates the stream and
    buckets if needed. Arguments as for :class:`~framework.bus.redis.RedisStreamsBus`."""

    name = "nats"

    def __init__(
        self,
        config: NatsBusConfig | str,
        *,
        app_id: str,
        worker: str | None = None,
        block: float = 0.5,
        timeout: float = 5.0,
    ) -> None:
        self.config = config if isinstance(config, NatsBusConfig) else parse_nats_bus_url(config)
        self.partitions = self.config.partitions
        self.worker = worker or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.block = block
        self.timeout = timeout
        app = re.sub(r"[^A-Za-z0-9_-]", "_", app_id)
        ns = self.config.namespace
        self.stream = f"{ns}_{app}_BUS"
        self.subjects = [f"{ns}.{app}.bus.p.{i}" for i in range(self.partitions)]
        self._buckets = (f"{ns}_{app}_bus_leases", f"{ns}_{app}_bus_done", f"{ns}_{app}_bus_seq")
        self.owned: set[int] = set()
        self.reading: set[int] = set()
        self._releasing: set[int] = set()
        self._untaken: set[int] = set()  # leased, but re-creating their consumer has not succeeded yet
        self._floors: dict[int, int] = {}  # ack floor of a consumer deleted by a take that then failed
        self._taking: dict[int, int] = {}  # unacknowledged entries of old consumers a take (not yet done) found
        self._revision: dict[int, int] = {}
        self._inflight = [0] * self.partitions
        self._messages: dict[tuple[int, str], Any] = {}  # entry -> the JetStream message to ack
        self._subs: dict[int, Any] = {}
        self._replies: dict[str, asyncio.Future[Any]] = {}  # reply subject -> the request waiting for it
        self._inbox = ""
        self._next_reply = 0
        self._nc: Any = None
        self._js: Any = None
        self._leases: Any = None
        self._done: Any = None
        self._seq: Any = None
        self._send, self._recv = anyio.create_memory_object_stream[BusEntry](1024)
        self._tg: anyio.abc.TaskGroup | None = None
        self._errors_seen = 0
        self.lost = 0
        """Partitions lost because a lease could not be renewed in time."""
        self.claimed = 0
        """Unacknowledged entries taken over from a departed worker's consumer: redeliveries."""

    def __repr__(self) -> str:
        host = urlsplit(self.config.nats_url).hostname
        return f"NatsJetStreamBus(host={host!r}, partitions={self.partitions}, worker={self.worker!r})"

    async def __aenter__(self) -> NatsJetStreamBus:
        try:
            with anyio.fail_after(self.timeout * 2):
                self._nc = await nats.connect(
                    self.config.nats_url,
                    connect_timeout=self.timeout,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                )
        except (TimeoutError, *_UNAVAILABLE) as exc:
            raise BusUnavailable(
                f"cannot connect to NATS at {urlsplit(self.config.nats_url).netloc} ({exc!r})"
            ) from None
        self._js = self._nc.jetstream(timeout=self.timeout)
        try:
            await self._js.add_stream(
                name=self.stream,
                subjects=[f"{self.subjects[0].rsplit('.', 1)[0]}.*"],
                max_msgs_per_subject=self.config.maxlen,
                discard=api.DiscardPolicy.OLD,
            )
        except nats.js.errors.BadRequestError:  # exists with another config (e.g. maxlen changed): keep it
            log.warning("bus: stream %s exists with another configuration; using it as it is", self.stream)
        leases, done, seq = self._buckets
        self._leases = await self._js.create_key_value(bucket=leases, ttl=self.config.lease_ttl, history=1)
        self._done = await self._js.create_key_value(bucket=done, ttl=float(self.config.idempotency_ttl), history=1)
        self._seq = await self._js.create_key_value(bucket=seq, ttl=3900.0, history=1)
        self._inbox = self._nc.new_inbox()
        await self._nc.subscribe(f"{self._inbox}.*", cb=self._on_reply)
        return self

    # the client's callbacks: one line each instead of nats-py's default tracebacks, and while reconnecting only
    # the first failed attempt at WARNING (the client retries every half second)
    async def _on_error(self, exc: Exception) -> None:
        log.log(logging.DEBUG if self._errors_seen else logging.WARNING, "bus: NATS connection error: %r", exc)
        self._errors_seen += 1

    async def _on_disconnected(self) -> None:
        if self._nc is not None:  # not while closing
            log.warning("bus: disconnected from NATS; reconnecting")

    async def _on_reconnected(self) -> None:
        failed, self._errors_seen = self._errors_seen, 0
        log.warning("bus: reconnected to NATS (after %d connection error(s))", failed)

    async def __aexit__(self, *exc: Any) -> None:
        nc, self._nc = self._nc, None
        if nc is not None:
            # closing while the server is away flushes into a dead socket: nothing is left to lose by then
            with anyio.CancelScope(shield=True), anyio.move_on_after(self.timeout), contextlib.suppress(*_UNAVAILABLE):
                await nc.close()

    async def _call(self, what: str, coro: Any) -> Any:
        try:
            with anyio.fail_after(self.timeout):
                return await coro
        except TimeoutError:
            raise BusUnavailable(f"NATS did not answer {what} within {self.timeout:g} s") from None
        except _UNAVAILABLE as exc:
            raise BusUnavailable(f"NATS unavailable during {what} ({exc!r})") from None

    async def _create(self, what: str, kv: Any, key: str, value: bytes) -> int | None:
        """``kv.create``: the new revision, or None when ``key`` holds a value (another process was first).

        nats-py's ``create``, finding an earlier revision of ``key``, reads it to see whether it is a delete marker;
        when that entry expired or was purged in between, the read raises ``KeyNotFoundError``: the key is free
        again, so the create is tried once more (seen under load: a worker's lease round crashed on it)."""
        for _ in range(3):
            try:
                revision: int = await self._call(what, kv.create(key, value))
            except nats.js.errors.KeyWrongLastSequenceError:
                return None
            except nats.js.errors.KeyNotFoundError:
                continue
            return revision
        return None

    async def _on_reply(self, msg: Any) -> None:
        future = self._replies.pop(msg.subject, None)
        if future is not None and not future.done():
            future.set_result(msg)

    async def _requests(self, what: str, requests: Sequence[tuple[str, bytes]]) -> list[dict[str, Any]]:
        """Send the JetStream API ``requests`` (subject, payload) in order on the connection, each answered on this
        bus's inbox, and wait for every answer together under one deadline (no task per request); the decoded JSON
        answers in order. A missing answer (no responder, timeout, connection) raises :class:`BusUnavailable`."""
        loop = asyncio.get_running_loop()
        waiting: list[tuple[str, asyncio.Future[Any]]] = []
        try:
            with anyio.fail_after(self.timeout):
                for subject, payload in requests:
                    self._next_reply += 1
                    reply = f"{self._inbox}.{self._next_reply}"
                    future = loop.create_future()
                    self._replies[reply] = future
                    waiting.append((reply, future))
                    await self._nc.publish(subject, payload, reply=reply)
                answers = [await future for _, future in waiting]
        except TimeoutError:
            raise BusUnavailable(f"NATS did not answer {what} within {self.timeout:g} s") from None
        except _UNAVAILABLE as exc:
            raise BusUnavailable(f"NATS unavailable during {what} ({exc!r})") from None
        finally:
            for reply, _ in waiting:
                self._replies.pop(reply, None)
        out = []
        for msg in answers:
            if not msg.data:  # a status message: 503 no responders (JetStream not there), 408, ...
                status = (msg.headers or {}).get("Status", "?")
                raise BusUnavailable(f"NATS answered {what} with status {status}")
            out.append(msgspec.json.decode(msg.data))
        return out

    # -- publishing ---------------------------------------------------------------------------

    async def publish(self, batch: Sequence[tuple[int, bytes]], /) -> None:
        if not batch:
            return
        # sent in order on one connection (JetStream stores them in that order), the acks awaited together
        acks = await self._requests("PUB", [(self.subjects[p], payload) for p, payload in batch])
        _refused("PUB", acks)

    # -- consuming ----------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        started = False
        offset = random.randrange(self.partitions)
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                while True:
                    try:
                        await self._tick(offset)
                    except BusUnavailable as exc:
                        log.warning("bus: cannot renew partition leases: %s; retrying", exc)
                    else:
                        if not started:
                            started = True
                            task_status.started()
                    await anyio.sleep(self.config.lease_ttl / 3 if started else 0.2)
        finally:
            self._tg = None
            if not started:
                task_status.started()
            with anyio.CancelScope(shield=True):
                await self._leave()

    async def _tick(self, offset: int) -> None:
        kv = self._leases
        await self._call("the membership", kv.put(f"m.{_key(self.worker)}", b"1"))
        try:
            keys = await self._call("the members", kv.keys())
        except nats.js.errors.NoKeysError:
            keys = []
        members = [k for k in keys if k.startswith("m.")]
        share = math.ceil(self.partitions / max(1, len(members)))
        me = self.worker.encode()
        for p in sorted(self.owned):
            try:
                self._revision[p] = await self._call(
                    "the lease renewal", kv.update(f"p.{p}", me, last=self._revision[p])
                )
            except nats.js.errors.KeyWrongLastSequenceError:
                self.lost += 1
                log.warning("bus: lost the lease of partition %d (not renewed within %g s)", p, self.config.lease_ttl)
                self._drop(p)
        for j in range(self.partitions):
            if len(self.owned) >= share:
                break
            p = (offset + j) % self.partitions
            if p in self.owned:
                continue
            revision = await self._create("a lease", kv, f"p.{p}", me)
            if revision is None:
                continue
            self._revision[p] = revision
            self.owned.add(p)
            self._untaken.add(p)
        for p in sorted(self._untaken):  # taken now, or again after a failure (the lease is held meanwhile)
            await self._take(p)
            self._untaken.discard(p)
        surplus = len(self.owned) - share
        if surplus > 0:
            for p in sorted(self.owned - self._releasing, reverse=True)[:surplus]:
                self._releasing.add(p)
                self.reading.discard(p)
        for p in list(self._releasing):
            if not self._inflight[p]:
                await self._release(p)
                self._drop(p)
                log.info("bus: handed partition %d over (another worker joined)", p)

    async def _release(self, p: int) -> None:
        with contextlib.suppress(nats.js.errors.KeyWrongLastSequenceError):
            await self._call("the lease release", self._leases.delete(f"p.{p}", last=self._revision.get(p)))

    def _drop(self, p: int) -> None:
        self.owned.discard(p)
        self._untaken.discard(p)
        self.reading.discard(p)
        self._releasing.discard(p)
        self._revision.pop(p, None)
        self._taking.pop(p, None)

    async def _consumer_infos(self) -> list[Any]:
        """The stream's consumers (CONSUMER.LIST). The server lists a consumer deleted while it answers as ``null``,
        on which nats-py's ``consumers_info`` raises ``AttributeError`` (seen under load: a worker taking a
        partition crashed); those entries are skipped."""
        answers = await self._requests("CONSUMER.LIST", [(f"$JS.API.CONSUMER.LIST.{self.stream}", b"")])
        _refused("CONSUMER.LIST", answers)
        listed = answers[0].get("consumers") or []
        return [nats.js.api.ConsumerInfo.from_response(info) for info in listed if info is not None]

    async def _take(self, p: int) -> None:
        """Re-create partition ``p``'s consumer from its first unacknowledged event and start reading it."""
        # each owner reads through a consumer of its own: a departed owner's last pull cannot take events from it
        durable = f"p{p}-{re.sub(r'[^A-Za-z0-9_-]', '_', self.worker)}"
        floor: int | None = self._floors.get(p)
        infos = await self._consumer_infos()
        old = [i for i in infos if i.config is not None and i.config.filter_subject == self.subjects[p]]
        if old:
            floors = [i.ack_floor.stream_seq if i.ack_floor is not None else 0 for i in old]
            floor = min(floors) if floor is None else min(floor, *floors)
            self._floors[p] = floor
            pending = sum(i.num_ack_pending or 0 for i in old)
            self._taking[p] = max(self._taking.get(p, 0), pending)  # a retry after deleting them sees none
            for info in old:
                with contextlib.suppress(nats.js.errors.NotFoundError):
                    await self._call("CONSUMER.DELETE", self._js.delete_consumer(self.stream, info.name))
            if pending:
                log.warning(
                    "bus: partition %d: taking over %d unacknowledged event(s) of a departed worker", p, pending
                )
        config = api.ConsumerConfig(
            durable_name=durable,
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE if floor else api.DeliverPolicy.ALL,
            opt_start_seq=floor + 1 if floor else None,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=3600.0,  # redelivery happens by takeover, never to the worker that holds the partition
            max_ack_pending=-1,
            filter_subject=self.subjects[p],
        )
        sub = await self._call(
            "CONSUMER.CREATE",
            self._js.pull_subscribe(self.subjects[p], durable=durable, stream=self.stream, config=config),
        )
        self._floors.pop(p, None)
        self.claimed += self._taking.pop(p, 0)
        self.reading.add(p)
        assert self._tg is not None
        self._tg.start_soon(self._fetch, p, sub)

    async def _fetch(self, p: int, sub: Any) -> None:
        try:
            while p in self.reading:
                try:
                    messages = await sub.fetch(128, timeout=self.block)
                except (TimeoutError, nats.errors.TimeoutError, nats.js.errors.FetchTimeoutError):
                    continue  # nothing new within ``block``
                except _UNAVAILABLE as exc:
                    log.warning("bus: reading partition %d failed (%r); retrying", p, exc)
                    await anyio.sleep(0.5)
                    continue
                for msg in messages:
                    entry_id = str(msg.metadata.sequence.stream)
                    message = None
                    try:
                        message = decode_message(msg.data)
                    except (msgspec.DecodeError, msgspec.ValidationError):
                        log.error("bus: partition %d message %s is not a bus message; acknowledging it", p, entry_id)
                    self._messages[(p, entry_id)] = msg
                    await self._send.send(BusEntry(p, entry_id, message))
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(1.0):
                await sub.unsubscribe()

    async def receive(self, limit: int, /) -> list[BusEntry]:
        out: list[BusEntry] = []
        with anyio.move_on_after(self.block):
            out.append(await self._recv.receive())
        while out and len(out) < limit:
            try:
                out.append(self._recv.receive_nowait())
            except anyio.WouldBlock:
                break
        live = self.reading | self._releasing
        kept = [e for e in out if e.partition in live]
        if len(kept) < len(out):
            for entry in out:
                if entry.partition not in live:  # its partition moved on: the next owner reads it again
                    self._messages.pop((entry.partition, entry.entry_id), None)
        for entry in kept:
            self._inflight[entry.partition] += 1
        return kept

    async def handled(self, keys: Sequence[str], /) -> list[bool]:
        # one STREAM.MSG.GET per key (answered by the stream leader: a mark written is seen), all in flight at once
        bucket = self._buckets[1]
        answers = await self._requests(
            "the idempotency check",
            [
                (
                    f"$JS.API.STREAM.MSG.GET.KV_{bucket}",
                    msgspec.json.encode({"last_by_subj": f"$KV.{bucket}.{_key(k)}"}),
                )
                for k in keys
            ],
        )
        found = []
        for answer in answers:
            message = answer.get("message")
            if message is None:
                error = answer.get("error") or {}
                if error.get("code") != 404:
                    raise BusUnavailable(f"NATS refused the idempotency check: {error.get('description', error)}")
            found.append(message is not None and not _deleted(message))
        return found

    async def acknowledge(self, done: Sequence[tuple[BusEntry, str | None]], /) -> None:
        # every mark is stored (its publish acknowledged) before any entry of the batch is acknowledged
        bucket = self._buckets[1]
        names = [key if key is not None else f"entry:{entry.partition}:{entry.entry_id}" for entry, key in done]
        _refused("the idempotency mark", await self._requests("the idempotency mark", [
            (f"$KV.{bucket}.{_key(name)}", b"1") for name in names
        ]))  # fmt: skip
        for entry, _ in done:
            msg = self._messages.pop((entry.partition, entry.entry_id), None)
            if msg is None:  # acknowledged by an earlier attempt of this batch
                continue
            self._inflight[entry.partition] -= 1
            # not waited for: a lost ack means a redelivery on takeover, which the mark absorbs
            with contextlib.suppress(*_UNAVAILABLE):
                await msg.ack()

    async def _leave(self) -> None:
        if self._nc is None:
            return
        try:
            for p in sorted(self.owned):
                await self._release(p)
            await self._call("the membership", self._leases.delete(f"m.{_key(self.worker)}"))
        except BusUnavailable as exc:
            log.warning(
                "bus: could not release the partition leases (%s); they expire after %g s", exc, self.config.lease_ttl
            )
        self.owned.clear()
        self.reading.clear()

    def seq_store(self) -> NatsSeqStore:
        return NatsSeqStore(self)


class NatsSeqStore:
    """``msg_seq`` counters in the ``seq`` KV bucket (compare-and-set on the entry's revision), and which reply of
    which event's handling took each number (:class:`framework.app.ledger.ReplaySeqStore`)."""

    def __init__(self, bus: NatsJetStreamBus) -> None:
        self.bus = bus
        self._last: dict[str, int] = {}

    async def next_seq(self, source_id: str, /) -> int:
        try:
            seq = await self._count(source_id)
        except BusUnavailable as exc:
            return self._local(source_id, exc)
        self._last[source_id] = seq
        return seq

    async def seq_for(self, source_id: str, reply_key: str, /) -> tuple[int, bool]:
        kv = self.bus._seq
        key = f"{_key(source_id)}.{_key(reply_key)}"
        try:
            try:
                entry = await self.bus._call("the msg_seq", kv.get(key))
                return int(entry.value), True
            except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
                pass
            seq = await self._count(source_id)
            if await self.bus._create("the msg_seq", kv, key, str(seq).encode()) is None:
                # the same reply numbered meanwhile elsewhere
                entry = await self.bus._call("the msg_seq", kv.get(key))
                return int(entry.value), True
        except BusUnavailable as exc:
            return self._local(source_id, exc), False
        self._last[source_id] = seq
        return seq, False

    def _local(self, source_id: str, exc: BusUnavailable) -> int:
        log.warning("bus: msg_seq counted in this process (%s)", exc)
        seq = self._last.get(source_id, 0) + 1
        if len(self._last) > 10_000:
            self._last.clear()
        self._last[source_id] = seq
        return seq

    async def _count(self, source_id: str) -> int:
        kv = self.bus._seq
        key = _key(source_id)
        for _ in range(20):
            try:
                entry = await self.bus._call("the msg_seq", kv.get(key))
            except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
                if await self.bus._create("the msg_seq", kv, key, b"1") is None:
                    continue
                return 1
            seq = int(entry.value or b"0") + 1
            try:
                await self.bus._call("the msg_seq", kv.update(key, str(seq).encode(), last=entry.revision))
            except nats.js.errors.KeyWrongLastSequenceError:
                continue
            return seq
        raise BusUnavailable("the msg_seq counter changed 20 times in a row")


def _deleted(message: dict[str, Any]) -> bool:
    """Whether a KV entry read by STREAM.MSG.GET is a delete or purge marker (``KV-Operation`` header)."""
    headers = message.get("hdrs")
    return isinstance(headers, str) and b"KV-Operation" in base64.b64decode(headers)


def _refused(what: str, answers: list[dict[str, Any]]) -> None:
    """Raise :class:`BusUnavailable` for the first JetStream error among ``answers`` (the request is retried)."""
    for answer in answers:
        error = answer.get("error")
        if error is not None:
            raise BusUnavailable(f"NATS refused {what}: {error.get('description', error)}")
