"""The Redis Streams backend of the event bus (the ``redis`` extra: coredis, an anyio Redis client).

Keys (``P`` = ``<namespace>:{<app id>}:bus``; the braces keep one app's keys in one Redis Cluster slot):

=====================  ======  ==============================================================================
key                    type    holds
=====================  ======  ==============================================================================
``P:p:<i>``            stream  partition ``i``: one entry per event (field ``m``: the msgpack
                               :class:`~framework.bus.message.BusMessage`), trimmed to about ``maxlen`` entries
                               (``XADD MAXLEN ~``); consumer group ``workers``
``P:lease:<i>``        string  the worker that consumes partition ``i``, with the lease TTL
``P:members``          zset    live workers, scored by the Redis time (ms) their membership expires
``P:done:<key>``       string  an event handled (the idempotency guard), expiring after ``idempotency_ttl``
``P:seq:<msg id>``     string  the last ``msg_seq`` used to answer a message (:class:`RedisSeqStore`), kept 65 min
``P:seqof:<msg id>``   hash    ``<event id>#<k>`` -> the ``msg_seq`` of the k-th reply of that event's handling,
                               expiring with ``P:seq:<msg id>``
=====================  ======  ==============================================================================

A worker holds about ``partitions / live workers`` partition leases (renewed every third of ``lease_ttl``) and
reads only those streams, so one partition (and so one chat) is consumed by one worker at a time, in stream
order. A worker gives up surplus partitions when others join: it stops reading them, waits until their entries
are acknowledged, then deletes the lease. A worker that dies stops renewing: after ``lease_ttl`` its partitions
are free, the next owner claims every pending entry of them (``XAUTOCLAIM``) and handles those first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import secrets
import socket
from collections import deque
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import anyio
import coredis
import msgspec
from anyio.abc import TaskStatus

from framework.bus.base import BusEntry, BusUnavailable, bus_options
from framework.bus.message import decode_message

__all__ = ["RedisBusConfig", "RedisSeqStore", "RedisStreamsBus", "parse_redis_bus_url"]

log = logging.getLogger("framework.bus.redis")

GROUP = "workers"

_PUBLISH = """
for i = 1, #KEYS do
  redis.call('XADD', KEYS[i], 'MAXLEN', '~', ARGV[1], '*', 'm', ARGV[i + 1])
end
return #KEYS
"""

# KEYS[1] members, KEYS[2..n+1] leases; ARGV: worker, ttl_ms, first partition to try
_TICK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local me = ARGV[1]
local ttl = tonumber(ARGV[2])
local off = tonumber(ARGV[3])
local n = #KEYS - 1
redis.call('ZADD', KEYS[1], now + ttl, me)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local live = redis.call('ZCARD', KEYS[1])
local share = math.ceil(n / live)
local mine = {}
for i = 0, n - 1 do
  if redis.call('GET', KEYS[2 + i]) == me then
    redis.call('PEXPIRE', KEYS[2 + i], ttl)
    mine[#mine + 1] = i
  end
end
for j = 0, n - 1 do
  if #mine >= share then break end
  local i = (off + j) % n
  if redis.call('SET', KEYS[2 + i], me, 'NX', 'PX', ttl) then mine[#mine + 1] = i end
end
return {share, mine}
"""

# KEYS: leases (and the members zset last when ARGV[2] == '1'); ARGV: worker, leave
_RELEASE = """
local n = #KEYS
if ARGV[2] == '1' then
  redis.call('ZREM', KEYS[n], ARGV[1])
  n = n - 1
end
for i = 1, n do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
end
return 1
"""

# KEYS: (stream, done key) pairs; ARGV: group, ttl_s, then one entry id per pair (pcall: a group lost with Redis's
# data, NOGROUP, has nothing to acknowledge)
_ACK = """
for i = 1, #KEYS, 2 do
  redis.call('SET', KEYS[i + 1], '1', 'EX', ARGV[2])
  redis.pcall('XACK', KEYS[i], ARGV[1], ARGV[2 + (i + 1) / 2])
end
return 1
"""


_SEQ = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""

# KEYS[1] the counter, KEYS[2] the replies' numbers; ARGV: reply key, ttl_s -> {msg_seq, 1 if taken before}
_SEQ_FOR = """
local s = redis.call('HGET', KEYS[2], ARGV[1])
if s then return {tonumber(s), 1} end
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
redis.call('HSET', KEYS[2], ARGV[1], n)
local t = redis.call('PTTL', KEYS[1])
if t > 0 then redis.call('PEXPIRE', KEYS[2], t) end
return {n, 0}
"""


@dataclass(frozen=True, slots=True)
class RedisBusConfig:
    """A parsed ``--bus redis://HOST:PORT/DB?partitions=16&maxlen=100000&lease_ttl=10&idempotency_ttl=86400``."""

    redis_url: str
    """The URL without the bus's own query parameters (what the client connects to)."""
    namespace: str = "qqbot"
    partitions: int = 16
    maxlen: int = 100_000
    lease_ttl: float = 10.0
    idempotency_ttl: int = 86_400


def parse_redis_bus_url(url: str) -> RedisBusConfig:
    """Validate ``url``; ValueError naming the bad part and the fix."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError(f"--bus {parts.scheme}://...: expected redis://HOST:PORT/DB (or rediss://, nats://)")
    if not parts.hostname:
        raise ValueError("--bus redis://: the URL names no host; use redis://HOST:PORT/DB")
    options, rest = bus_options(parts.query)
    return RedisBusConfig(urlunsplit(parts._replace(query=urlencode(rest))), **options)


class RedisStreamsBus:
    """:class:`~framework.bus.base.EventBus` on Redis Streams; use it as ``async with`` (opens the clients).

    ``worker`` names this consumer in the group (default: host, pid and a random suffix: a restarted worker is a
    new consumer, its predecessor's entries are claimed like any dead worker's). ``block`` is how long one read
    waits for entries (seconds); ``timeout`` bounds every other call (a paused or unreachable Redis raises
    :class:`BusUnavailable` after it).
    """

    name = "redis"

    def __init__(
        self,
        config: RedisBusConfig | str,
        *,
        app_id: str,
        worker: str | None = None,
        block: float = 0.5,
        timeout: float = 5.0,
    ) -> None:
        self.config = config if isinstance(config, RedisBusConfig) else parse_redis_bus_url(config)
        self.partitions = self.config.partitions
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.block = block
        self.timeout = timeout
        prefix = f"{self.config.namespace}:{{{app_id}}}:bus"
        self.prefix = prefix
        self.streams = [f"{prefix}:p:{i}" for i in range(self.partitions)]
        self.leases = [f"{prefix}:lease:{i}" for i in range(self.partitions)]
        self.members = f"{prefix}:members"
        self.owned: set[int] = set()
        """Partitions this worker holds a lease for."""
        self.reading: set[int] = set()
        """Owned partitions whose claimed entries are taken care of: new entries are read from them."""
        self._releasing: set[int] = set()
        self._untaken: set[int] = set()  # leased, but claiming their pending entries has not succeeded yet
        self._inflight = [0] * self.partitions  # entries handed out and not acknowledged, per partition
        self._backlog: deque[BusEntry] = deque()  # claimed entries, handed out before new ones
        self._stack: AsyncExitStack | None = None
        self._client: coredis.Redis[bytes] | None = None
        self._reader: coredis.Redis[bytes] | None = None
        self._assigned = anyio.Event()
        self.lost = 0
        """Partitions lost because a lease could not be renewed in time."""
        self.claimed = 0
        """Pending entries claimed from another consumer (a departed worker's, or stale ones): redeliveries."""

    def __repr__(self) -> str:
        host = urlsplit(self.config.redis_url).hostname
        return f"RedisStreamsBus(host={host!r}, partitions={self.partitions}, worker={self.worker!r})"

    def done_key(self, key: str) -> str:
        return f"{self.prefix}:done:{key}"

    async def __aenter__(self) -> RedisStreamsBus:
        url = self.config.redis_url
        common: dict[str, Any] = {"decode_responses": False, "connect_timeout": self.timeout}
        stack = AsyncExitStack()
        await stack.__aenter__()
        try:
            self._client = await stack.enter_async_context(
                coredis.Redis.from_url(url, stream_timeout=self.timeout, **common)
            )
            self._reader = await stack.enter_async_context(
                coredis.Redis.from_url(url, stream_timeout=self.block + self.timeout, **common)
            )
        except BaseException as exc:
            await stack.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        self._stack = stack
        return self

    async def __aexit__(self, *exc: Any) -> None:
        # the clients' own task groups must be exited in the scope they were entered in: no scope of ours around
        stack, self._stack = self._stack, None
        self._client = self._reader = None
        if stack is not None:
            await stack.__aexit__(*exc)

    @property
    def client(self) -> coredis.Redis[bytes]:
        if self._client is None:
            raise RuntimeError("enter the bus first: `async with RedisStreamsBus(...) as bus`")
        return self._client

    async def _call(self, what: str, coro: Any, within: float | None = None) -> Any:
        try:
            with anyio.fail_after(within or self.timeout):
                return await coro
        except TimeoutError:
            raise BusUnavailable(f"Redis did not answer {what} within {within or self.timeout:g} s") from None
        except (coredis.exceptions.ConnectionError, OSError) as exc:
            raise BusUnavailable(f"Redis unreachable during {what} ({exc})") from None

    # -- publishing ---------------------------------------------------------------------------

    async def publish(self, batch: Sequence[tuple[int, bytes]], /) -> None:
        if not batch:
            return
        keys = [self.streams[p] for p, _ in batch]
        args: list[Any] = [self.config.maxlen, *(payload for _, payload in batch)]
        await self._call("XADD", self.client.eval(_PUBLISH, keys=keys, args=args))

    # -- consuming ----------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Keep the membership and leases (every third of ``lease_ttl``); started after the first renewal; releases
        everything when cancelled."""
        started = False
        offset = random.randrange(self.partitions)
        try:
            while True:
                try:
                    await self._tick(offset)
                except BusUnavailable as exc:
                    log.warning("bus: cannot renew partition leases: %s; retrying", exc)
                else:
                    if not started:  # a member now (with partitions, unless there are more workers than them)
                        started = True
                        task_status.started()
                await anyio.sleep(self.config.lease_ttl / 3 if started else 0.2)
        finally:
            if not started:
                task_status.started()
            with anyio.CancelScope(shield=True):
                await self._leave()

    async def _tick(self, offset: int) -> None:
        ttl_ms = int(self.config.lease_ttl * 1000)
        started = anyio.current_time()
        reply = await self._call(
            "the lease renewal",
            self.client.eval(_TICK, keys=[self.members, *self.leases], args=[self.worker, ttl_ms, offset]),
        )
        if anyio.current_time() - started > self.config.lease_ttl / 2:
            log.warning("bus: renewing partition leases took more than half the lease TTL")
        share = int(reply[0])
        mine = {int(p) for p in reply[1]}
        for p in self.owned - mine:  # expired before we renewed it: another worker may own it now
            self.lost += 1
            log.warning(
                "bus: lost the lease of partition %d (not renewed within %g s); stopped reading it",
                p,
                self.config.lease_ttl,
            )
            self._drop(p)
        for p in sorted(mine - self.owned):
            self.owned.add(p)
            self._untaken.add(p)
        for p in sorted(self._untaken):  # taken now, or again after a failure (the lease is held meanwhile)
            await self._take(p)
            self._untaken.discard(p)
        await self._reclaim()
        surplus = len(self.owned) - share
        if surplus > 0:
            for p in sorted(self.owned - self._releasing, reverse=True)[:surplus]:
                self._releasing.add(p)
                self.reading.discard(p)
        for p in list(self._releasing):
            if not self._inflight[p] and not any(e.partition == p for e in self._backlog):
                await self._call(
                    "the lease release", self.client.eval(_RELEASE, keys=[self.leases[p]], args=[self.worker, "0"])
                )
                self._drop(p)
                log.info("bus: handed partition %d over (another worker joined)", p)

    async def _reclaim(self) -> None:
        """Entries of our partitions pending longer than three lease TTLs with anyone (a read answered after its
        worker released the partition, a worker stopped at an odd moment): claimed and handled now, late."""
        idle = int(self.config.lease_ttl * 3000)
        for p in sorted(self.reading):
            try:
                reply = await self._call(
                    "XAUTOCLAIM", self.client.xautoclaim(self.streams[p], GROUP, self.worker, idle, "0-0", count=256)
                )
            except coredis.exceptions.StreamConsumerGroupError:  # NOGROUP: Redis lost its data
                await self._create_group(p)
                continue
            stale = [self._entry(p, entry) for entry in reply[1]]
            if stale:
                log.warning("bus: partition %d: claimed %d event(s) pending for over %g s", p, len(stale), idle / 1000)
                self.claimed += len(stale)
                self._backlog.extend(stale)

    def _drop(self, p: int) -> None:
        self.owned.discard(p)
        self._untaken.discard(p)
        self.reading.discard(p)
        self._releasing.discard(p)
        if self._backlog:
            self._backlog = deque(e for e in self._backlog if e.partition != p)

    async def _take(self, p: int) -> None:
        """A partition just acquired: create the group if needed, claim every pending entry (a dead or departed
        worker's: the lease expiry was the claim timeout), then read new entries from it."""
        stream = self.streams[p]
        await self._create_group(p)  # at every take: Redis may have lost it since (a restart without persistence)
        cursor: Any = "0-0"
        claimed: list[BusEntry] = []
        while True:
            reply = await self._call(
                "XAUTOCLAIM", self.client.xautoclaim(stream, GROUP, self.worker, 0, cursor, count=256)
            )
            cursor, entries = reply[0], reply[1]
            claimed.extend(self._entry(p, entry) for entry in entries)
            if _text(cursor) == "0-0":
                break
        if claimed:
            log.warning("bus: partition %d: claimed %d pending event(s) of a departed worker", p, len(claimed))
        self._backlog.extend(claimed)  # only once every pending entry is claimed: a failure above claims them again
        self.claimed += len(claimed)
        self.reading.add(p)

    async def _create_group(self, p: int) -> None:
        with contextlib.suppress(coredis.exceptions.StreamDuplicateConsumerGroupError):  # it exists
            await self._call("XGROUP CREATE", self.client.xgroup_create(self.streams[p], GROUP, "0", mkstream=True))

    def _entry(self, p: int, entry: Any) -> BusEntry:
        raw = entry.field_values.get(b"m") if entry.field_values else None
        message = None
        if raw is not None:
            try:
                message = decode_message(raw)
            except (msgspec.DecodeError, msgspec.ValidationError):
                log.error(
                    "bus: partition %d entry %s is not a bus message; acknowledging it", p, _text(entry.identifier)
                )
        return BusEntry(p, _text(entry.identifier), message)

    async def receive(self, limit: int, /) -> list[BusEntry]:
        out: list[BusEntry] = []
        if self._backlog:
            while self._backlog and len(out) < limit:
                out.append(self._backlog.popleft())
        else:
            reading = sorted(self.reading)
            if not reading:
                await anyio.sleep(self.block)
                return []
            assert self._reader is not None
            streams = {self.streams[p]: ">" for p in reading}
            count = max(1, limit // len(reading))
            try:
                reply = await self._call(
                    "XREADGROUP",
                    self._reader.xreadgroup(GROUP, self.worker, streams, count=count, block=int(self.block * 1000)),
                    within=self.block + self.timeout,
                )
            except coredis.exceptions.StreamConsumerGroupError:  # NOGROUP
                # Redis lost its data (a restart without persistence): create the streams and the group again
                log.warning("bus: the consumer group is gone (Redis lost its data?); creating it again")
                for p in reading:
                    await self._create_group(p)
                return []
            index = {s.encode(): p for p, s in enumerate(self.streams)}
            for stream, entries in (reply or {}).items():
                p = index[stream if isinstance(stream, bytes) else str(stream).encode()]
                if p in self.reading:  # else released meanwhile: left pending, for the next owner to claim
                    out.extend(self._entry(p, entry) for entry in entries)
        for entry in out:
            self._inflight[entry.partition] += 1
        return out

    async def handled(self, keys: Sequence[str], /) -> list[bool]:
        if not keys:
            return []
        values = await self._call("the idempotency check", self.client.mget([self.done_key(k) for k in keys]))
        return [v is not None for v in values]

    async def acknowledge(self, done: Sequence[tuple[BusEntry, str | None]], /) -> None:
        if not done:
            return
        keys: list[str] = []
        ids: list[str] = []
        for entry, key in done:
            keys.append(self.streams[entry.partition])
            keys.append(self.done_key(key if key is not None else f"entry:{entry.partition}:{entry.entry_id}"))
            ids.append(entry.entry_id)
        await self._call("XACK", self.client.eval(_ACK, keys=keys, args=[GROUP, self.config.idempotency_ttl, *ids]))
        for entry, _ in done:
            self._inflight[entry.partition] -= 1

    async def _leave(self) -> None:
        """Release every lease held and leave the members (a clean stop: others take over at once)."""
        if self._client is None:
            return
        keys = [self.leases[p] for p in sorted(self.owned)] + [self.members]
        try:
            await self._call("the release", self.client.eval(_RELEASE, keys=keys, args=[self.worker, "1"]))
        except BusUnavailable as exc:
            log.warning(
                "bus: could not release the partition leases (%s); they expire after %g s", exc, self.config.lease_ttl
            )
        self.owned.clear()
        self.reading.clear()

    async def stop_reading(self) -> None:
        """Read nothing more (shutting down); entries already handed out are still acknowledged."""
        self.reading.clear()
        self._backlog.clear()

    def inflight(self) -> int:
        return sum(self._inflight)

    def seq_store(self) -> RedisSeqStore:
        """Shared ``msg_seq`` counters for the workers' bot (``bot.ledger.store``)."""
        return RedisSeqStore(self)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisSeqStore:
    """``msg_seq`` counters shared by every worker (:class:`framework.app.ledger.ReplaySeqStore`): ``INCR`` of
    ``P:seq:<msg id>``, expiring ``ttl`` seconds after the first reply (the longest passive-reply window is an hour).
    :meth:`seq_for` also records, in ``P:seqof:<msg id>``, which reply of which event's handling took each number,
    and gives it the same number when that event is handled again (a redelivery after a worker died).

    When Redis cannot be reached the count goes on in this process (one WARNING per outage): the reply is still
    sent; only a message answered by two workers during the outage could repeat a ``msg_seq``, and a reply
    numbered then is not recognised if its event is delivered again.
    """

    def __init__(self, bus: RedisStreamsBus, *, ttl: int = 3900) -> None:
        self.bus = bus
        self.ttl = ttl
        self._last: dict[str, int] = {}
        self._failing = False

    def __repr__(self) -> str:
        return f"RedisSeqStore(bus={self.bus!r})"

    async def next_seq(self, source_id: str, /) -> int:
        bus = self.bus
        try:
            seq = int(
                await bus._call(
                    "INCR msg_seq", bus.client.eval(_SEQ, keys=[f"{bus.prefix}:seq:{source_id}"], args=[self.ttl])
                )
            )
        except BusUnavailable as exc:
            return self._local(source_id, exc)
        self._failing = False
        return self._remember(source_id, seq)

    async def seq_for(self, source_id: str, reply_key: str, /) -> tuple[int, bool]:
        bus = self.bus
        keys = [f"{bus.prefix}:seq:{source_id}", f"{bus.prefix}:seqof:{source_id}"]
        try:
            reply = await bus._call("msg_seq", bus.client.eval(_SEQ_FOR, keys=keys, args=[reply_key, self.ttl]))
        except BusUnavailable as exc:
            return self._local(source_id, exc), False
        self._failing = False
        return self._remember(source_id, int(reply[0])), bool(int(reply[1]))

    def _local(self, source_id: str, exc: BusUnavailable) -> int:
        if not self._failing:
            self._failing = True
            log.warning("bus: msg_seq counted in this process while Redis is unavailable (%s)", exc)
        return self._remember(source_id, self._last.get(source_id, 0) + 1)

    def _remember(self, source_id: str, seq: int) -> int:
        if len(self._last) > 10_000:
            self._last.clear()
        self._last[source_id] = seq
        return seq
