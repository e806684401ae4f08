"""The emulator's web page: chat as users, watch the wire, inject faults, see the world.

Routes (no token, like the rest of the control API):

- ``GET /_emulator/ui``: the page (plain HTML, CSS and JavaScript shipped in ``framework/emulator/ui/``;
  no build step). ``GET /_emulator/ui/{file}`` serves its other files.
- ``GET /_emulator/feed``: Server-Sent Events, one per :class:`~framework.emulator.feed.Feed` entry
  (``id:`` is the entry id; ``Last-Event-ID`` or ``?since=N`` replays the kept entries after ``N``),
  after a first ``hello`` event ``{"since", "last_id"}`` (``since`` is 0 when the asked id is unknown,
  e.g. after the emulator restarted). A comment line every 15 s keeps idle connections alive.
- ``GET /_emulator/ui/state``: the world as the page's pickers and world panel need it, the apps'
  intent grants and, per gateway session, the intents it identified with and the event types it receives.
- ``POST /_emulator/ui/demo``: seed the console's defaults (group ``g1`` with alice and bob, C2C user
  alice, a guild with channel ``c1``) when the world is empty, so a fresh emulator has somewhere to talk.

Everything the page does besides reading goes through the ordinary control API (``/_emulator/act/…``,
``/_emulator/world/…``, ``/_emulator/gateway/faults/…``, ``/_emulator/rest/faults/…``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

import msgspec

from framework.emulator.gateway.hub import GatewayHub
from framework.emulator.http import ApiError, Code, HttpRequest, HttpResponse, Router, json_response
from framework.emulator.world import World
from framework.models.event_table import EVENT_TABLE
from framework.models.intents import Intents

__all__ = ["UI_PATH", "register_ui_routes", "ui_state"]

UI_PATH = "/_emulator/ui"
"""Where the page is served."""

KEEPALIVE_SECONDS = 15.0

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}
_encoder = msgspec.json.Encoder()


def _asset(name: str) -> tuple[bytes, str] | None:
    suffix = name[name.rfind(".") :] if "." in name else ""
    if suffix not in _TYPES or name.startswith("."):
        return None
    path = resources.files("framework.emulator").joinpath("ui", name)
    if not path.is_file():
        return None
    return path.read_bytes(), _TYPES[suffix]


def _intent_names(mask: int) -> list[str]:
    return [flag.name for flag in Intents if flag.name and flag.value and mask & flag.value]


def _events_for(mask: int) -> list[str]:
    return sorted(t for t, spec in EVENT_TABLE.items() if int(spec.intent) & mask)


def ui_state(world: World, hub: GatewayHub) -> dict[str, Any]:
    """What ``GET /_emulator/ui/state`` answers."""
    config = world.config
    apps = []
    for app_id in sorted(config.apps):
        mask = config.intents_allowed(app_id)
        apps.append(
            {"app_id": app_id, "all_intents": mask is None, "granted": _intent_names(mask) if mask is not None else []}
        )
    sessions = []
    for session in hub.sessions.values():
        sessions.append(
            {
                "session_id": session.session_id,
                "app_id": session.app_id,
                "shard": [session.shard_id, session.shard_count],
                "seq": session.seq,
                "connected": session.connection is not None,
                "intents": session.intents,
                "intent_names": _intent_names(session.intents),
                "events": _events_for(session.intents),
            }
        )
    guilds = []
    for guild in world.guilds.values():
        guilds.append(
            {
                "id": guild.id,
                "name": guild.name,
                "channels": [
                    {"id": ch.id, "name": ch.name, "type": ch.type}
                    for ch in world.channels.values()
                    if ch.guild_id == guild.id
                ],
                "members": [
                    {"id": m.user.id, "username": m.user.username, "nick": m.nick, "roles": list(m.roles)}
                    for m in world.members.get(guild.id, {}).values()
                ],
            }
        )
    return {
        "bot": world.bot.to_json(),
        "apps": apps,
        "sessions": sessions,
        "guilds": guilds,
        "groups": [
            {
                "openid": g.openid,
                "name": g.name,
                "bot_member": g.bot_member,
                "accepts_active": g.accepts_active,
                "members": [{"openid": m.openid, "role": m.role} for m in g.members.values()],
            }
            for g in world.groups.values()
        ],
        "c2c_users": [
            {"openid": u.openid, "nick": u.nick, "friend": u.friend, "accepts_active": u.accepts_active}
            for u in world.c2c_users.values()
        ],
        "dm_sessions": [
            {"guild_id": s.guild_id, "recipient_id": s.recipient_id, "source_guild_id": s.source_guild_id}
            for s in world.dm_sessions.values()
        ],
        "rest_faults": [
            {"status": f.status, "remaining": f.remaining, "path_prefix": f.path_prefix} for f in world.rest_faults
        ],
    }


def seed_demo(world: World) -> bool:
    """Seed the console's defaults when the world is empty; whether anything was added."""
    if world.groups or world.channels or world.c2c_users:
        return False
    world.add_group("g1", "Demo group")
    world.add_group_member("g1", "alice")
    world.add_group_member("g1", "bob")
    world.add_c2c_user("alice", nick="alice")
    guild = world.add_guild(name="Demo guild")
    world.add_channel(guild.id, "c1", "general")
    world.add_member(guild.id, None, "alice")
    world.add_member(guild.id, None, "bob")
    return True


def register_ui_routes(world: World, hub: GatewayHub, router: Router) -> None:
    """Add the page, its files, its state and the live feed to ``router``."""

    async def page(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        return _file("index.html")

    async def asset(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        return _file(params["name"])

    async def state(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        return json_response(200, ui_state(world, hub))

    async def demo(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        return json_response(200, {"seeded": seed_demo(world)})

    async def feed(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        raw = req.headers.get("last-event-id") or req.query.get("since") or "0"
        try:
            since = max(0, int(raw))
        except ValueError:
            raise ApiError(400, Code.BODY_INVALID, f"since must be an entry id (an integer), not {raw!r}") from None
        if since > world.feed.last_id:  # an id from an earlier emulator: start over
            since = 0
        headers = [
            ("Content-Type", "text/event-stream; charset=utf-8"),
            ("Cache-Control", "no-cache"),
            ("X-Accel-Buffering", "no"),
        ]
        return HttpResponse(200, b"", headers, stream=_events(world, since))

    router.add("GET", UI_PATH, page)
    router.add("GET", UI_PATH + "/state", state)
    router.add("POST", UI_PATH + "/demo", demo)
    router.add("GET", UI_PATH + "/{name}", asset)
    router.add("GET", "/_emulator/feed", feed)


def _file(name: str) -> HttpResponse:
    found = _asset(name)
    if found is None:
        raise ApiError(404, Code.NOT_FOUND, f"no file {name!r} in the web page")
    data, content_type = found
    return HttpResponse(200, data, [("Content-Type", content_type), ("Cache-Control", "no-cache")])


async def _events(world: World, since: int) -> AsyncIterator[bytes]:
    after = since
    hello = _encoder.encode({"since": since, "last_id": world.feed.last_id})
    yield b"retry: 1000\n\nevent: hello\ndata: %s\n\n" % hello
    while True:
        entries = await world.feed.wait(after, KEEPALIVE_SECONDS)
        if not entries:
            yield b": keep-alive\n\n"
            continue
        after = entries[-1]["id"]
        yield b"".join(b"id: %d\ndata: %s\n\n" % (e["id"], _encoder.encode(e)) for e in entries)
