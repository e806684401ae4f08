"""The Redis side of a fleet: key names and the Lua scripts that read and change them atomically.

Every change a process makes to shared state is one server-side script, so a check and the change it guards
cannot be split by another process. Times that matter across processes (lease expiry, the identify window)
are Redis's own (``PX`` expiries, ``TIME``), never a process's clock.

Keys (``P`` = ``<namespace>:{<app id>}:fleet``; the braces keep one app's keys in one Redis Cluster slot):

======================  ======  ===============================================================================
key                     type    holds
======================  ======  ===============================================================================
``P:members``           zset    live processes, scored by the Redis time (ms) their membership expires
``P:member:<id>``       string  a process's host, pid and start time (JSON), expiring with its membership
``P:lease:<shard>``     string  ``"<process id> <token>"`` of the lease holder, with the lease TTL
``P:fence:<shard>``     string  the last fencing token handed out for the shard (``INCR``; never expires)
``P:state:<shard>``     hash    ``owner``, ``token``, ``session_id``, ``seq``, ``state``, ``acquired_ms``,
                                ``updated_ms``: what the holder last reported (kept a day); no token or secret
``P:config``            hash    ``shard_count`` the fleet agreed on
``P:identify:<bucket>`` string  ``"<next allowed ms> <holder>"``: bucket ``shard % max_concurrency``
``P:budget``            string  sessions left of ``session_start_limit``, expiring at its reset
``P:epoch``             string  a random id set when missing: a new one means Redis lost the fleet's keys
======================  ======  ===============================================================================
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import coredis

__all__ = ["FleetKeys", "FleetStore", "Grant", "Report", "Tick"]

_NOW = f"""
local STATE_TTL = {86_400_000}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: members, member info, lease[0..m-1], state[0..m-1], fence[0..m-1], epoch, config
# ARGV: member, ttl_ms, info, m, n, then n x (shard, token, session_id, seq, state), then an epoch candidate
_TICK = (
    _NOW
    + """
local member = ARGV[1]
local ttl = tonumber(ARGV[2])
local m = tonumber(ARGV[4])
local n = tonumber(ARGV[5])
redis.call('ZADD', KEYS[1], now + ttl, member)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('SET', KEYS[2], ARGV[3], 'PX', ttl)
local renewed = {}
for i = 0, n - 1 do
  local base = 6 + i * 5
  local shard = tonumber(ARGV[base])
  local token = ARGV[base + 1]
  local lease = KEYS[3 + shard]
  local want = member .. ' ' .. token
  local cur = redis.call('GET', lease)
  local ok = 0
  if cur == want then
    redis.call('PEXPIRE', lease, ttl)
    ok = 1
  elseif not cur then
    -- the key is gone although our lease cannot have expired (we stop serving before it can): Redis lost
    -- its data (a restart without persistence). Nobody else holds the shard: claim it again.
    redis.call('SET', lease, want, 'PX', ttl)
    local fence = KEYS[3 + 2 * m + shard]
    if tonumber(redis.call('GET', fence) or '0') < tonumber(token) then redis.call('SET', fence, token) end
    ok = 1
  end
  if ok == 1 then
    local state = KEYS[3 + m + shard]
    redis.call('HSET', state, 'owner', member, 'token', token, 'session_id', ARGV[base + 2],
      'seq', ARGV[base + 3], 'state', ARGV[base + 4], 'updated_ms', now)
    redis.call('PEXPIRE', state, STATE_TTL)
  end
  renewed[#renewed + 1] = ok
end
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local holders = {}
for s = 0, m - 1 do
  holders[#holders + 1] = redis.call('GET', KEYS[3 + s]) or ''
end
local epoch = redis.call('GET', KEYS[3 + 3 * m])
if not epoch then
  epoch = ARGV[6 + n * 5]
  redis.call('SET', KEYS[3 + 3 * m], epoch)
  redis.call('HSETNX', KEYS[4 + 3 * m], 'shard_count', m)
end
return {members, holders, renewed, now, epoch}
"""
)

# KEYS: lease, fence, state; ARGV: member, ttl_ms
_ACQUIRE = (
    _NOW
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, '', ''} end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. token, 'PX', ARGV[2])
local s = redis.call('HMGET', KEYS[3], 'session_id', 'seq')
redis.call('HSET', KEYS[3], 'owner', ARGV[1], 'token', token, 'state', 'acquired', 'acquired_ms', now,
  'updated_ms', now)
redis.call('PEXPIRE', KEYS[3], STATE_TTL)
return {token, s[1] or '', s[2] or ''}
"""
)

# KEYS: lease, state; ARGV: "member token", session_id, seq
_RELEASE = (
    _NOW
    + """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], 'owner', '', 'session_id', ARGV[2], 'seq', ARGV[3], 'state', 'released',
  'updated_ms', now)
redis.call('DEL', KEYS[1])
return 1
"""
)

# KEYS: lease, bucket, budget; ARGV: "member token", lease ttl ms, hold ms, budget init, budget reset ms, holder
# -> {0, now}: granted; {1, ms}: the bucket is busy for ms; {2, 0}: the lease is not ours; {3, ms}: no budget
_IDENTIFY = (
    _NOW
    + """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {2, 0} end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local b = redis.call('GET', KEYS[2])
if b then
  local nxt = tonumber(string.match(b, '^(%d+)'))
  if nxt and nxt > now then return {1, nxt - now} end
end
if redis.call('EXISTS', KEYS[3]) == 0 then redis.call('SET', KEYS[3], ARGV[4], 'PX', ARGV[5]) end
local rem = tonumber(redis.call('GET', KEYS[3]))
if rem <= 0 then return {3, redis.call('PTTL', KEYS[3])} end
redis.call('DECR', KEYS[3])
redis.call('SET', KEYS[2], (now + tonumber(ARGV[3])) .. ' ' .. ARGV[6], 'PX', ARGV[3])
return {0, now}
"""
)

# KEYS: bucket, budget; ARGV: holder, sent (1/0), window ms
_IDENTIFY_DONE = (
    _NOW
    + """
local b = redis.call('GET', KEYS[1])
if not b or string.match(b, '^%d+ (.*)$') ~= ARGV[1] then return 0 end
if ARGV[2] == '1' then
  redis.call('SET', KEYS[1], (now + tonumber(ARGV[3])) .. ' ' .. ARGV[1], 'PX', ARGV[3])
else
  redis.call('DEL', KEYS[1])
  if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('INCR', KEYS[2]) end
end
return 1
"""
)

# KEYS: members, member info, config
_LEAVE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1
"""

# KEYS: config; ARGV: shard_count -> the agreed count
_AGREE = """
redis.call('HSETNX', KEYS[1], 'shard_count', ARGV[1])
return tonumber(redis.call('HGET', KEYS[1], 'shard_count'))
"""


@dataclass(frozen=True, slots=True)
class FleetKeys:
    """Key names of one app's fleet (see the module docstring)."""

    prefix: str

    @classmethod
    def of(cls, namespace: str, app_id: str) -> FleetKeys:
        return cls(f"{namespace}:{{{app_id}}}:fleet")

    @property
    def members(self) -> str:
        return f"{self.prefix}:members"

    def member(self, member: str) -> str:
        return f"{self.prefix}:member:{member}"

    def lease(self, shard: int) -> str:
        return f"{self.prefix}:lease:{shard}"

    def fence(self, shard: int) -> str:
        return f"{self.prefix}:fence:{shard}"

    def state(self, shard: int) -> str:
        return f"{self.prefix}:state:{shard}"

    @property
    def config(self) -> str:
        return f"{self.prefix}:config"

    def bucket(self, bucket: int) -> str:
        return f"{self.prefix}:identify:{bucket}"

    @property
    def budget(self) -> str:
        return f"{self.prefix}:budget"

    @property
    def epoch(self) -> str:
        return f"{self.prefix}:epoch"


@dataclass(frozen=True, slots=True)
class Report:
    """What a holder reports for one of its shards on each renewal."""

    shard: int
    token: int
    session_id: str | None
    seq: int | None
    state: str


@dataclass(frozen=True, slots=True)
class Tick:
    """One renewal round's answer."""

    members: list[str]
    holders: list[str | None]
    """Lease value (``"<process id> <token>"``) of each shard, None when free."""
    renewed: dict[int, bool]
    redis_ms: int
    epoch: str
    """Changes when Redis lost the fleet's keys (a restart without persistence)."""


@dataclass(frozen=True, slots=True)
class Grant:
    """A lease just taken: its fencing token and the session left by the previous holder, if any."""

    token: int
    session_id: str | None
    seq: int | None


class _Script:
    def __init__(self, client: coredis.Redis[str], text: str) -> None:
        self.client = client
        self.text = text

    async def __call__(self, *, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        return await self.client.eval(self.text, keys=list(keys), args=list(args))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class FleetStore:
    """The scripts of one app's fleet on one Redis client (``decode_responses=True``)."""

    def __init__(self, client: coredis.Redis[str], keys: FleetKeys, shard_count: int) -> None:
        self.client = client
        self.keys = keys
        self.shard_count = shard_count
        # EVAL with the text each time (Redis caches the compiled script by its hash): no NOSCRIPT round trip
        # and retry after a Redis restart, and the scripts are small next to a round's keys
        self._tick = _Script(client, _TICK)
        self._acquire = _Script(client, _ACQUIRE)
        self._release = _Script(client, _RELEASE)
        self._identify = _Script(client, _IDENTIFY)
        self._identify_done = _Script(client, _IDENTIFY_DONE)
        self._leave = _Script(client, _LEAVE)
        self._agree = _Script(client, _AGREE)

    async def agree_shard_count(self) -> int:
        """Record this process's shard count for the fleet unless one is recorded; the recorded one."""
        result: Any = await self._agree(keys=[self.keys.config], args=[self.shard_count])
        return int(result)

    async def tick(self, member: str, info: dict[str, Any], ttl_ms: int, reports: Sequence[Report]) -> Tick:
        m = self.shard_count
        keys = [self.keys.members, self.keys.member(member)]
        keys += [self.keys.lease(s) for s in range(m)]
        keys += [self.keys.state(s) for s in range(m)]
        keys += [self.keys.fence(s) for s in range(m)]
        keys += [self.keys.epoch, self.keys.config]
        args: list[str | int] = [member, ttl_ms, json.dumps(info, separators=(",", ":")), m, len(reports)]
        for r in reports:
            args += [r.shard, r.token, r.session_id or "", "" if r.seq is None else r.seq, r.state]
        args.append(secrets.token_hex(8))
        result = cast(list[Any], await self._tick(keys=keys, args=args))
        members = [_text(x) for x in result[0]]
        holders = [(_text(x) or None) for x in result[1]]
        renewed = {r.shard: bool(int(ok)) for r, ok in zip(reports, result[2], strict=True)}
        return Tick(members, holders, renewed, int(result[3]), _text(result[4]))

    async def acquire(self, shard: int, member: str, ttl_ms: int) -> Grant | None:
        keys = [self.keys.lease(shard), self.keys.fence(shard), self.keys.state(shard)]
        token, session_id, seq = cast(list[Any], await self._acquire(keys=keys, args=[member, ttl_ms]))
        if not int(token):
            return None
        sid, sq = _text(session_id), _text(seq)
        return Grant(int(token), sid or None, int(sq) if sq.lstrip("-").isdigit() else None)

    async def release(self, shard: int, member: str, token: int, session_id: str | None, seq: int | None) -> bool:
        keys = [self.keys.lease(shard), self.keys.state(shard)]
        args: list[str | int] = [f"{member} {token}", session_id or "", "" if seq is None else seq]
        return bool(int(cast(Any, await self._release(keys=keys, args=args))))

    async def take_identify(
        self,
        shard: int,
        bucket: int,
        member: str,
        token: int,
        *,
        ttl_ms: int,
        hold_ms: int,
        budget: int,
        reset_ms: int,
        holder: str,
    ) -> tuple[int, int]:
        keys = [self.keys.lease(shard), self.keys.bucket(bucket), self.keys.budget]
        args: list[str | int] = [f"{member} {token}", ttl_ms, hold_ms, budget, max(1, reset_ms), holder]
        code, value = cast(list[Any], await self._identify(keys=keys, args=args))
        return int(code), int(value)

    async def identify_done(self, bucket: int, holder: str, *, sent: bool, window_ms: int) -> None:
        keys = [self.keys.bucket(bucket), self.keys.budget]
        await self._identify_done(keys=keys, args=[holder, "1" if sent else "0", window_ms])

    async def leave(self, member: str) -> None:
        await self._leave(keys=[self.keys.members, self.keys.member(member)], args=[member])

    async def snapshot(self) -> list[dict[str, Any]]:
        """Every shard's lease, owner, session state and last seq, for ``qqbot shards``."""
        raw = await self.client.hget(self.keys.config, "shard_count")
        count = int(raw) if raw else self.shard_count
        seconds, micros = cast(list[Any], await self.client.eval("return redis.call('TIME')", keys=[], args=[]))
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        members: dict[str, Any] = {}
        rows: list[dict[str, Any]] = []
        for shard in range(count):
            lease = await self.client.get(self.keys.lease(shard))
            state = await self.client.hgetall(self.keys.state(shard))
            owner = lease.rsplit(" ", 1)[0] if lease else None
            if owner and owner not in members:
                info = await self.client.get(self.keys.member(owner))
                members[owner] = json.loads(info) if info else {}
            acquired = state.get("acquired_ms")
            seq = state.get("seq") or ""
            rows.append(
                {
                    "shard": shard,
                    "owner": owner,
                    "host": members.get(owner, {}).get("host") if owner else None,
                    "pid": members.get(owner, {}).get("pid") if owner else None,
                    "token": int(lease.rsplit(" ", 1)[1]) if lease else None,
                    "lease_age_s": round(max(0, now_ms - int(acquired)) / 1000, 1) if owner and acquired else None,
                    "lease_ttl_s": round(max(0, await self.client.pttl(self.keys.lease(shard))) / 1000, 1)
                    if owner
                    else None,
                    "state": (state.get("state") or "unknown") if owner else ("released" if state else "free"),
                    "session_id": state.get("session_id") or None,
                    "last_seq": int(seq) if seq.lstrip("-").isdigit() else None,
                }
            )
        return rows
