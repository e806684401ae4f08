"""``qqbot shards``: who owns which shard of a fleet (docs/fleet.md)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

import anyio

from framework.config import ConfigError, load_settings

__all__ = ["add_parser", "shards"]


def add_parser(sub: Any) -> None:
    """Declare ``qqbot shards`` on the subcommand parsers ``sub``."""
    p = sub.add_parser(
        "shards",
        help="print who owns which shard of a fleet sharing shards through Redis",
        description="Read the fleet's state in Redis: each shard's owner (process id and host), lease age, "
        "session state and last seq. The app comes from --app-id or the config (QQBOT_APP_ID).",
    )
    p.add_argument(
        "--sessions", "--redis", metavar="URL", help="redis://HOST:PORT/DB (default: config, QQBOT_SESSIONS)"
    )
    p.add_argument("--app-id", help="the bot's AppID (default: config, QQBOT_APP_ID)")
    p.add_argument("-c", "--config", help="TOML config file (default: $QQBOT_CONFIG or ./qqbot.toml)")
    p.add_argument(
        "--json", action="store_true", help="print a JSON list of objects (shard, owner, lease_age_s, state, ...)"
    )


def shards(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``qqbot shards``: print each shard's owner, lease age, state and last seq (a table, or JSON); the exit code."""
    out = out or sys.stdout
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"qqbot: error: {exc}", file=sys.stderr)
        return 1
    url = args.sessions or settings.gateway.sessions
    app_id = args.app_id or settings.bot.app_id
    if not url or url.strip().lower() == "local":
        print(
            "qqbot: error: no fleet configured: pass --sessions redis://HOST:PORT/DB (or set QQBOT_SESSIONS)",
            file=sys.stderr,
        )
        return 1
    if not app_id:
        print("qqbot: error: no app: pass --app-id (or set QQBOT_APP_ID)", file=sys.stderr)
        return 1
    from framework.runtime.gateway.sessions.redis import parse_sessions_url

    try:
        fleet = parse_sessions_url(url.strip())
    except ValueError as exc:
        print(f"qqbot: error: {exc}", file=sys.stderr)
        return 1
    try:
        rows = anyio.run(_read, fleet.redis_url, fleet.namespace, str(app_id))
    except Exception as exc:
        print(
            f"qqbot: error: cannot read the fleet from Redis ({exc}); check --sessions and that Redis runs",
            file=sys.stderr,
        )
        return 1
    if args.json:
        print(json.dumps(rows), file=out)
        return 0
    if not rows:
        print(f"no fleet of app {app_id} in this Redis (namespace {fleet.namespace!r})", file=out)
        return 0
    print(f"{'shard':>5}  {'owner':<32} {'lease age':>9}  {'state':<12} {'last seq':>8}  session", file=out)
    for r in rows:
        age = "-" if r["lease_age_s"] is None else f"{r['lease_age_s']:.1f} s"
        seq = "-" if r["last_seq"] is None else str(r["last_seq"])
        print(
            f"{r['shard']:>5}  {r['owner'] or '-':<32} {age:>9}  {r['state']:<12} {seq:>8}  {r['session_id'] or '-'}",
            file=out,
        )
    return 0


async def _read(url: str, namespace: str, app_id: str) -> list[dict[str, Any]]:
    import coredis

    from framework.runtime.gateway.sessions.redis_store import FleetKeys, FleetStore

    client: coredis.Redis[str] = coredis.Redis.from_url(url, decode_responses=True, connect_timeout=5, stream_timeout=5)
    async with client:
        with anyio.fail_after(20):
            return await FleetStore(client, FleetKeys.of(namespace, app_id), 0).snapshot()
