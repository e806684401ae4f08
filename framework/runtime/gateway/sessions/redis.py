"""A fleet: processes (on one host or many) share a bot's shards through Redis (docs/fleet.md).

:class:`RedisSessionManager` is a :class:`~framework.runtime.gateway.sessions.LocalSessionManager` whose
shards are not fixed: each process runs the shards whose *leases* it holds in Redis, and the set changes
while it runs.

- **Leases with fencing.** A shard's lease is a key with a TTL whose value names the holder and a fencing
  token (``INCR`` per shard). Every renewal and every identify first checks, in one Redis script, that the
  key still holds this process's token; a process whose check fails closes that shard at once.
- **Stop before the lease can expire elsewhere.** A holder counts the lease from when it *sent* the renewal,
  on its own clock, minus a clock-rate allowance and a close margin (:class:`~framework.protocol.fleet.LeaseTiming`);
  when that moment passes without a successful renewal (Redis unreachable, a partition) it closes the shard.
- **Balance and handover.** Every process computes the same quotas from the live members
  (:func:`~framework.protocol.fleet.plan`); one above its quota closes a READY shard with 4000 (the session
  stays resumable), stores its ``session_id`` and ``seq`` in Redis and deletes the lease in one script; the
  process below its quota takes the lease and *resumes* the session. No token or secret is stored.
- **Fleet-wide identify pacing.** One identify per ``shard % max_concurrency`` bucket per window across the
  fleet, and one shared ``session_start_limit`` budget, both kept in Redis (:class:`FleetIdentifyQueue`).
- **Graceful stop** closes every shard with 4000, stores the sessions and releases the leases at once, so the
  others resume them on their next round.

Lease times are real seconds (Redis expiries run on the Redis host's clock); the gateway timers still read the
manager's injected clock. Requires the ``redis`` extra (coredis).
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio
import anyio.abc

from framework.models.api import SessionStartLimit
from framework.protocol.fleet import LeaseTiming, holders_from, plan
from framework.protocol.gateway import GatewayFatalError
from framework.runtime.gateway.identify import IDENTIFY_WINDOW, IdentifyQueue, IdentifyTicket
from framework.runtime.gateway.sessions.local import LocalSessionManager
from framework.runtime.gateway.shard import Shard, ShardOptions

__all__ = ["FleetIdentifyQueue", "FleetSettings", "RedisSessionManager", "parse_sessions_url"]

log = logging.getLogger(__name__)

_FLEET_PARAMS = {"lease_ttl", "namespace"}


@dataclass(frozen=True, slots=True)
class FleetSettings:
    """What a ``redis://`` sessions URL says: the Redis URL proper plus the fleet's own query parameters
    ``lease_ttl`` (seconds, default 15) and ``namespace`` (key prefix, default ``qqbot``)."""

    redis_url: str
    lease_ttl: float = 15.0
    namespace: str = "qqbot"

    def __repr__(self) -> str:  # the URL may carry a Redis password
        url = _redacted(self.redis_url)
        return f"FleetSettings(redis_url={url!r}, lease_ttl={self.lease_ttl}, namespace={self.namespace!r})"


def parse_sessions_url(url: str) -> FleetSettings:
    """Split ``redis://host:6379/0?lease_ttl=10&namespace=mybot`` into the Redis URL and the fleet settings;
    ValueError naming the fix on anything else."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ValueError(
            f"sessions: expected 'local' or a redis://HOST:PORT/DB URL, got {_redacted(url)!r} "
            "(set [gateway] sessions, QQBOT_SESSIONS or --sessions)"
        )
    ours = {k: v for k, v in parse_qsl(parts.query) if k in _FLEET_PARAMS}
    rest = [(k, v) for k, v in parse_qsl(parts.query) if k not in _FLEET_PARAMS]
    try:
        ttl = float(ours.get("lease_ttl", 15.0))
    except ValueError:
        raise ValueError(f"sessions URL: lease_ttl must be seconds, got {ours['lease_ttl']!r}") from None
    if ttl < 1.0:
        raise ValueError(f"sessions URL: lease_ttl must be at least 1 second, got {ttl:g}")
    namespace = ours.get("namespace", "qqbot")
    if not namespace or any(c in namespace for c in " {}"):
        raise ValueError(
            f"sessions URL: namespace must be a non-empty word without spaces or braces, got {namespace!r}"
        )
    return FleetSettings(urlunsplit(parts._replace(query=urlencode(rest))), lease_ttl=ttl, namespace=namespace)


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))


class _LeaseLost(Exception):
    """Raised inside a shard's identify slot when the fleet says its lease is gone."""


class FleetIdentifyQueue(IdentifyQueue):
    """Identify pacing shared by the fleet: a shard may identify only while its lease holds, at most one
    identify per ``shard % max_concurrency`` bucket per window (plus the margin) across all processes, and
    each identify spends one session of the shared ``session_start_limit`` budget. All three are checked and
    taken in one Redis script; an unused slot is handed back (window and budget)."""

    def __init__(
        self,
        manager: RedisSessionManager,
        limit: SessionStartLimit | None,
        *,
        window: float = IDENTIFY_WINDOW,
        shard_count: int | None = None,
        hold: float = 30.0,
    ) -> None:
        super().__init__(limit, clock=manager.clock, window=window, shard_count=shard_count)
        self.manager = manager
        self.hold = hold
        """Seconds a bucket stays taken while its holder connects and identifies (a crashed holder's slot
        frees itself after this)."""
        self._limit = limit or SessionStartLimit(total=1000, remaining=1000, reset_after=86_400_000, max_concurrency=1)
        self._counter_n = 0

    @asynccontextmanager
    async def slot(self, shard_id: int) -> AsyncIterator[IdentifyTicket]:
        manager = self.manager
        store = manager._store
        assert store is not None
        bucket = shard_id % self.max_concurrency
        self._counter_n += 1
        holder = f"{manager.member}/{shard_id}/{self._counter_n}"
        logged = False
        while True:
            held = manager._held.get(shard_id)
            if held is None:
                raise _LeaseLost(shard_id)
            try:
                with anyio.fail_after(manager.redis_timeout):
                    code, value = await store.take_identify(
                        shard_id,
                        bucket,
                        manager.member,
                        held.token,
                        ttl_ms=manager.timing.ttl_ms,
                        hold_ms=round(self.hold * 1000),
                        budget=max(0, self._limit.remaining),
                        reset_ms=self._limit.reset_after or 86_400_000,
                        holder=holder,
                    )
            except Exception as exc:
                manager._redis_trouble(exc)
                await anyio.sleep(manager.timing.renew_every)
                continue
            if code == 0:
                break
            if code == 2:
                manager._lose(shard_id, "its lease was taken over before identify")
                raise _LeaseLost(shard_id)
            if code == 3:
                log.warning(
                    "session start limit of the fleet spent; shard %d waits %.0f s for the reset",
                    shard_id,
                    value / 1000,
                )
            elif not logged:
                logged = True
                log.info(
                    "shard %d/%s waiting for a fleet identify slot (max_concurrency %d per %g s across the fleet)",
                    shard_id,
                    self.shard_count,
                    self.max_concurrency,
                    self.window,
                )
            await anyio.sleep(min(max(value / 1000, 0.05), manager.timing.renew_every))
        ticket = IdentifyTicket(shard_id)
        try:
            yield ticket
        finally:
            if ticket.sent:
                self.granted.append((shard_id, self.clock.monotonic()))
            with anyio.CancelScope(shield=True), anyio.move_on_after(manager.redis_timeout):
                try:
                    await store.identify_done(
                        bucket, holder, sent=ticket.sent, window_ms=round((self.window + self.margin) * 1000)
                    )
                except Exception as exc:  # the hold expires by itself
                    manager._redis_trouble(exc)


@dataclass(eq=False)
class _Held:
    shard: Shard
    token: int
    serve_until: float
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    done: anyio.Event = field(default_factory=anyio.Event)
    lost: bool = False


class RedisSessionManager(LocalSessionManager):
    """Runs the shards this process holds leases for, among every process of the fleet sharing ``redis_url``
    and ``app_id`` (see the module docstring and docs/fleet.md).

    It takes the arguments of :class:`LocalSessionManager` (except ``shard_ids``: the fleet assigns shards)
    and ``redis_url`` (a ``redis://`` URL, optionally with ``lease_ttl`` and ``namespace`` parameters),
    ``app_id`` (keys are per app), ``member`` (this process's id; default ``host:pid:random``), ``max_moves``
    (shards handed over per round) and ``redis_timeout`` (seconds per Redis call; default the renew interval).
    ``shards`` and :meth:`status` cover the shards held now.
    """

    def __init__(
        self,
        *args: Any,
        redis_url: str,
        app_id: str,
        member: str | None = None,
        max_moves: int = 1,
        redis_timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("shard_ids") is not None:
            raise ValueError("a fleet assigns shards to processes itself: drop shard_ids (keep shard_count)")
        super().__init__(*args, **kwargs)
        self.fleet = parse_sessions_url(redis_url)
        self.app_id = str(app_id)
        self.member = member or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        if " " in self.member:
            raise ValueError(f"member id must not contain spaces, got {self.member!r}")
        close_timeout = min(self.options.close_timeout, 2.0)
        self.timing = LeaseTiming.for_ttl(self.fleet.lease_ttl, close_timeout=close_timeout)
        self.options = ShardOptions(
            gateway=self.options.gateway,
            connect_timeout=self.options.connect_timeout,
            close_timeout=close_timeout,
            outbound_limit=self.options.outbound_limit,
        )
        self.max_moves = max_moves
        self.redis_timeout = redis_timeout or self.timing.renew_every
        self.rounds = 0
        """Coordination rounds done (renewal + plan)."""
        self._held: dict[int, _Held] = {}
        self._store: Any = None
        self._shards_tg: anyio.abc.TaskGroup | None = None
        self._gateway_url = ""
        self._count = 0
        self._redis_down_since: float | None = None
        self._wake = anyio.Event()
        self._epoch: str | None = None
        self._leaving: set[int] = set()
        self._settle_until = 0.0

    def __repr__(self) -> str:
        url = _redacted(self.fleet.redis_url)
        return f"RedisSessionManager(member={self.member!r}, shards={sorted(self._held)}, redis={url!r})"

    # -- the run --------------------------------------------------------------------------------

    async def _run(self) -> None:
        import coredis

        from framework.runtime.gateway.sessions.redis_store import FleetKeys, FleetStore

        gateway = await self._resolve_gateway()
        count, _ = self._plan(gateway)
        self._count = count
        self._gateway_url = gateway.url
        client: coredis.Redis[str] = coredis.Redis.from_url(
            self.fleet.redis_url,
            decode_responses=True,
            connect_timeout=self.redis_timeout,
            stream_timeout=self.redis_timeout,
        )
        async with client:
            store = FleetStore(client, FleetKeys.of(self.fleet.namespace, self.app_id), count)
            self._store = store
            agreed = await self._until_redis(store.agree_shard_count)
            if agreed != count:
                raise GatewayFatalError(
                    f"the fleet in Redis runs {agreed} shards and this process was configured for {count}: "
                    f"give every process the same shard count (or clear {store.keys.config} after stopping them all)"
                )
            self.identify_queue = FleetIdentifyQueue(
                self, gateway.session_start_limit, window=self.identify_window, shard_count=count
            )
            log.info(
                "fleet member %s: %d shards shared through Redis %s (lease %g s, max_concurrency %d)",
                self.member,
                count,
                _redacted(self.fleet.redis_url),
                self.timing.ttl,
                self.identify_queue.max_concurrency,
            )
            owns = self._owns_dispatcher
            async with anyio.create_task_group() as outer:
                if self.watchdog is not None:
                    await outer.start(self.watchdog.run)
                if owns:
                    await outer.start(self.dispatcher.run)
                async with anyio.create_task_group() as shards_tg:
                    self._shards_tg = shards_tg
                    async with anyio.create_task_group() as coord:
                        coord.start_soon(self._coordinate, store)
                        coord.start_soon(self._enforce_deadlines)
                        await self._stop_requested.wait()
                        coord.cancel_scope.cancel()
                    with anyio.CancelScope(shield=True):
                        await self._release_all(store)
                self._shards_tg = None
                if not owns:
                    outer.cancel_scope.cancel()
                    return
                await self.dispatcher.shutdown(self.drain_timeout, self.handler_deadline)
                outer.cancel_scope.cancel()

    async def _until_redis(self, call: Callable[[], Awaitable[int]]) -> int:
        while True:
            try:
                with anyio.fail_after(self.redis_timeout):
                    result = await call()
                self._redis_back()
                return result
            except Exception as exc:
                self._redis_trouble(exc)
                await anyio.sleep(self.timing.renew_every)

    # -- coordination ---------------------------------------------------------------------------

    def _info(self) -> dict[str, Any]:
        return {"host": socket.gethostname(), "pid": os.getpid(), "started": int(time.time())}

    async def _coordinate(self, store: Any) -> None:
        from framework.runtime.gateway.sessions.redis_store import Report

        info = self._info()
        while True:
            reports = [
                Report(s, h.token, st.session_id, st.last_seq, st.state)
                for s, h in sorted(self._held.items())
                if not h.lost
                for st in (h.shard.status(),)
            ]
            sent_at = time.monotonic()
            try:
                with anyio.fail_after(self.redis_timeout):
                    tick = await store.tick(self.member, info, self.timing.ttl_ms, reports)
            except Exception as exc:
                self._redis_trouble(exc)
                await self._pause(self.timing.renew_every)
                continue
            self._redis_back()
            if self._epoch is not None and tick.epoch != self._epoch:
                # Redis lost our keys (a restart without persistence): the holders claim their leases again on
                # their next round; until every one has had a round, no shard counts as free
                self._settle_until = time.monotonic() + self.timing.ttl
                log.warning(
                    "Redis lost the fleet's state (restarted without persistence?); shards %s claimed again, "
                    "no free shard is taken for %g s while the other processes claim theirs",
                    sorted(tick.renewed),
                    self.timing.ttl,
                )
            self._epoch = tick.epoch
            serve_until = self.timing.serve_until(sent_at)
            for shard_id, ok in tick.renewed.items():
                held = self._held.get(shard_id)
                if held is None or held.lost:
                    continue
                if ok:
                    held.serve_until = max(held.serve_until, serve_until)
                else:
                    owner = tick.holders[shard_id]
                    self._lose(shard_id, f"its lease is held by {owner.rsplit(' ', 1)[0] if owner else 'nobody'} now")
            holders = holders_from(tick.holders)
            for shard_id, held in self._held.items():  # our view: shards we still run count as ours
                if not held.lost:
                    holders[shard_id] = self.member
            for shard_id in self._leaving:  # being handed over: neither ours nor free until the release lands
                holders[shard_id] = "~leaving"
            movable = [s for s, h in self._held.items() if not h.lost and h.shard.status().state == "ready"]
            decision = plan(self.member, tick.members, holders, self._count, movable=movable, max_moves=self.max_moves)
            for shard_id in decision.release:
                self._hand_over(store, shard_id, "rebalancing: another process joined")
            for shard_id in decision.acquire:
                if self._stop_requested.is_set() or time.monotonic() < self._settle_until:
                    break
                try:
                    with anyio.fail_after(self.redis_timeout):
                        grant = await store.acquire(shard_id, self.member, self.timing.ttl_ms)
                except Exception as exc:
                    self._redis_trouble(exc)
                    break
                if grant is not None:
                    self._start_shard(shard_id, grant.token, grant.session_id, grant.seq, sent_at)
            self.rounds += 1
            self._started.set()
            await self._pause(self.timing.renew_every)

    async def _pause(self, seconds: float) -> None:
        self._wake = anyio.Event()
        with anyio.move_on_after(seconds):
            await self._wake.wait()

    async def _enforce_deadlines(self) -> None:
        """Close every shard whose lease this process can no longer prove, before it can expire in Redis."""
        while True:
            now = time.monotonic()
            for shard_id, held in list(self._held.items()):
                if not held.lost and now >= held.serve_until:
                    self._lose(
                        shard_id,
                        f"its lease could not be renewed for {self.timing.serve_window():.1f} s (Redis unreachable?)",
                    )
            await anyio.sleep(min(0.25, self.timing.renew_every / 4))

    def _start_shard(self, shard_id: int, token: int, session_id: str | None, seq: int | None, sent_at: float) -> None:
        shard = Shard(
            shard_id,
            self._count,
            url=self._gateway_url,
            connector=self.connector,
            token_provider=self.token_provider,
            token_invalidate=self.token_invalidate,
            intents=self.intents,
            optional_intents=self.optional_intents & ~self.dropped_intents,
            on_intents_dropped=self._intents_dropped,
            emit=self.dispatcher.put,
            offer=self.dispatcher.offer,
            identify_queue=self.identify_queue or IdentifyQueue(),
            clock=self.clock,
            options=self.options,
            rng=random.Random(self._rng.random()),
        )
        resumes = session_id is not None and seq is not None and shard.machine.restore_session(session_id, seq)
        held = _Held(shard, token, self.timing.serve_until(sent_at))
        self._held[shard_id] = held
        self.shards = [h.shard for _, h in sorted(self._held.items())]
        log.info(
            "shard %d/%d: lease taken (token %d); %s",
            shard_id,
            self._count,
            token,
            f"resuming session {session_id} at seq {seq}" if resumes else "identifying",
        )
        assert self._shards_tg is not None
        self._shards_tg.start_soon(self._serve, held)

    async def _serve(self, held: _Held) -> None:
        try:
            with held.scope:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._report_when_ready, held.shard)
                    try:
                        await held.shard.run()
                    except _LeaseLost:
                        pass
                    except GatewayFatalError as exc:
                        if self._fatal is None:
                            self._fatal = exc
                        self._stop_requested.set()
                    finally:
                        tg.cancel_scope.cancel()
        finally:
            held.done.set()
            if self._held.get(held.shard.shard_id) is held and held.lost:
                self._forget(held.shard.shard_id)

    async def _report_when_ready(self, shard: Shard) -> None:
        """A new session's id reaches Redis at once, not on the next round: a process that dies right after
        READY leaves a session the taker can resume."""
        while True:
            session = shard.machine.session_id
            try:
                await shard.wait_ready()
            except GatewayFatalError:
                return  # the shard stopped; run() raises it
            if shard.machine.session_id != session or session is None:
                self._wake.set()  # the coordinator runs a round now
            await anyio.sleep(self.timing.renew_every)  # at most one extra round per renewal interval

    def _forget(self, shard_id: int) -> None:
        self._held.pop(shard_id, None)
        self.shards = [h.shard for _, h in sorted(self._held.items())]

    def _lose(self, shard_id: int, why: str) -> None:
        """The lease is gone or unprovable: close the shard now (its session stays resumable for the taker)."""
        held = self._held.get(shard_id)
        if held is None or held.lost:
            return
        held.lost = True
        log.warning("shard %d/%d: closing it now: %s", shard_id, self._count, why)
        held.scope.cancel()
        if held.done.is_set():
            self._forget(shard_id)

    def _hand_over(self, store: Any, shard_id: int, why: str) -> None:
        """Close the shard with 4000, then store its session and delete the lease in one fenced script; in the
        background, so that a slow close never delays the renewal of the other shards."""
        held = self._held.get(shard_id)
        if held is None or held.lost or self._shards_tg is None:
            return
        held.lost = True
        self._leaving.add(shard_id)
        log.info("shard %d/%d: handing it over (%s)", shard_id, self._count, why)
        held.scope.cancel()
        self._shards_tg.start_soon(self._finish_hand_over, store, held)

    async def _finish_hand_over(self, store: Any, held: _Held) -> None:
        shard_id = held.shard.shard_id
        try:
            await held.done.wait()
            status = held.shard.status()
            try:
                with anyio.fail_after(self.redis_timeout):
                    await store.release(shard_id, self.member, held.token, status.session_id, status.last_seq)
            except Exception as exc:  # the lease expires by itself
                self._redis_trouble(exc)
        finally:
            self._leaving.discard(shard_id)
            if self._held.get(shard_id) is held:
                self._forget(shard_id)

    async def _release_all(self, store: Any) -> None:
        holding = sorted(((s, h) for s, h in self._held.items() if not h.lost), key=lambda item: item[0])
        for _, held in holding:
            held.lost = True
            held.scope.cancel()
        for _, held in list(self._held.items()):
            await held.done.wait()
        with anyio.move_on_after(max(self.redis_timeout, 2.0)):
            for shard_id, held in holding:
                status = held.shard.status()
                try:
                    await store.release(shard_id, self.member, held.token, status.session_id, status.last_seq)
                except Exception as exc:
                    self._redis_trouble(exc)
                    break
            try:
                await store.leave(self.member)
            except Exception as exc:
                self._redis_trouble(exc)
        released = [s for s, _ in holding]
        self._held.clear()
        self.shards = []
        if released:
            log.info("fleet member %s: released shards %s", self.member, released)

    # -- Redis trouble ----------------------------------------------------------------------------

    def _redis_trouble(self, exc: BaseException) -> None:
        if self._redis_down_since is None:
            self._redis_down_since = time.monotonic()
            held = sorted(s for s, h in self._held.items() if not h.lost)
            log.warning(
                "cannot reach Redis at %s (%s); shards %s keep running while their leases are provable "
                "(at most %.1f s), then close",
                _redacted(self.fleet.redis_url),
                type(exc).__name__ if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__,
                held,
                self.timing.serve_window(),
            )

    def _redis_back(self) -> None:
        if self._redis_down_since is not None:
            log.warning(
                "Redis at %s is reachable again after %.1f s",
                _redacted(self.fleet.redis_url),
                time.monotonic() - self._redis_down_since,
            )
            self._redis_down_since = None
