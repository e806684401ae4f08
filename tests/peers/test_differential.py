"""Differential test: the same scenario through qq-botpy 1.2.1 and through this project's client
(``qqbot run`` with credentials pointing at the emulator), each against its own ``qqbot emulator`` process
started with the same options. The emulator records what each client sends:

- gateway: the WebSocket frame type of every client frame and the JSON shape (keys and value types, never
  values) of identify, heartbeat and resume (``GET /_emulator/gateway/sessions`` → ``connections[].received``);
- REST: method, path, headers and body of the group, C2C and guild replies (``GET /_emulator/calls``).

Every difference is either asserted away or matches exactly one entry of :data:`JUSTIFIED`, and every entry
must still match something (a stale justification fails too). docs/architecture.md, "Differences from peer
SDKs (differential test)", lists each entry by its key.
"""

from __future__ import annotations

import re
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest
from _peers import (
    APP_ID,
    CHANNEL_ID,
    HERE,
    ROOT,
    SECRET,
    Emulator,
    Proc,
    clean_env,
    emulator,
    peer_script,
    ping_every_scene,
    qqbot,
    spawn,
    wait_for,
)

from framework.emulator import Emulator as InProcessEmulator
from framework.emulator import EmulatorConfig
from framework.runtime.platform import Platform

OPS = {2: "identify", 1: "heartbeat", 6: "resume"}
REPLY_PATHS = {
    "group": "/v2/groups/G-PEERS/messages",
    "c2c": "/v2/users/U-PEERS/messages",
    "guild": f"/channels/{CHANNEL_ID}/messages",
}
# headers that belong to the HTTP client library, not to the platform protocol: names compared, values not
TRANSPORT_HEADERS = {"host", "content-length", "connection", "accept-encoding", "user-agent"}
# headers whose value the platform reads: compared exactly (the token is recorded as "QQBot ***")
PROTOCOL_HEADERS = ("authorization", "x-union-appid", "content-type")


@dataclass(frozen=True)
class Justified:
    key: str
    """Named in docs/architecture.md (in backticks)."""
    pattern: str
    """Matches the difference lines it justifies."""
    why: str


JUSTIFIED = [
    Justified(
        "identify.d.properties",
        r"^identify\.d\.properties: only this project sends it \(object\)$",
        "BD `event-emit.md` Identify example and nonebot (§12.3 row 8) send `properties`; botpy omits it and "
        "the platform accepts both.",
    ),
    Justified(
        "rest.get-users-me",
        r"^rest: only botpy calls GET /users/@me$",
        "botpy fetches the bot user before connecting; the gateway's READY carries it, so this project (and "
        "nonebot in gateway mode, §12.3 row 3) skip the call.",
    ),
    Justified(
        "body.null-fields",
        r"^(group|c2c|guild) body\.\w+: botpy sends null, this project omits it$",
        "botpy serialises every optional field, unset ones as JSON null; the platform treats null as absent; "
        "nonebot and botgo (`omitempty`) drop them as this project does.",
    ),
    Justified(
        "body.target-id",
        r"^(group body\.group_openid|c2c body\.openid|guild body\.channel_id): only botpy sends it \(str\)$",
        "botpy repeats the path's target id (group openid, user openid, channel id) in the body; the platform "
        "takes it from the path (BD `send.md`, `post_messages.md`) and nonebot omits it.",
    ),
    Justified(
        "headers.accept",
        r"^(group|c2c|guild) header accept: .*$",
        "an HTTP client default (aiohttp sends `*/*`, this project `application/json`); the platform ignores it.",
    ),
]


def shape_diff(where: str, botpy: Any, ours: Any) -> list[str]:
    """Lines naming every key present on one side only and every value type that differs."""
    if isinstance(botpy, dict) and isinstance(ours, dict):
        out: list[str] = []
        for key in sorted(botpy.keys() | ours.keys()):
            path = f"{where}.{key}"
            if key not in ours:
                out.append(f"{path}: only botpy sends it ({_type(botpy[key])})")
            elif key not in botpy:
                out.append(f"{path}: only this project sends it ({_type(ours[key])})")
            else:
                out += shape_diff(path, botpy[key], ours[key])
        return out
    if isinstance(botpy, list) and isinstance(ours, list) and len(botpy) == len(ours):
        return [
            line for i, (a, b) in enumerate(zip(botpy, ours, strict=True)) for line in shape_diff(f"{where}[{i}]", a, b)
        ]
    if botpy != ours:
        return [f"{where}: botpy {_type(botpy)}, this project {_type(ours)}"]
    return []


def _type(shape: Any) -> str:
    if isinstance(shape, dict):
        return "object"
    if isinstance(shape, list):
        return "array"
    return str(shape)


def body_diff(scene: str, botpy: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for key in sorted(botpy.keys() | ours.keys()):
        a, b = botpy.get(key), ours.get(key)
        if a is None and b is None:
            continue
        if b is None and key not in ours and a is not None:
            out.append(f"{scene} body.{key}: only botpy sends it ({type(a).__name__})")
        elif a is None and key in botpy and key in ours:
            out.append(f"{scene} body.{key}: botpy null, this project {type(b).__name__}")
        elif a is None:
            out.append(f"{scene} body.{key}: only this project sends it ({type(b).__name__})")
        elif type(a) is not type(b):
            out.append(f"{scene} body.{key}: botpy {type(a).__name__}, this project {type(b).__name__}")
    out += [
        f"{scene} body.{k}: botpy sends null, this project omits it"
        for k in sorted(botpy)
        if botpy[k] is None and k not in ours
    ]
    return out


@dataclass
class Capture:
    frames: list[dict[str, Any]]
    calls: list[dict[str, Any]]


def capture(emu: Emulator) -> Capture:
    snap = emu.get("/_emulator/gateway/sessions")
    frames = [f for c in snap["connections"] for f in c["received"]]
    return Capture(frames, emu.get("/_emulator/calls"))


def run_scenario(emu: Emulator, peer: Proc, ready_line: str) -> None:
    """Ready, a heartbeat, three replies, op 7 and a resume."""
    peer.wait_line(ready_line)

    def beat() -> bool:
        return any(f["op"] == 1 for f in capture(emu).frames)

    wait_for(f"a heartbeat from {peer.name}", beat, 15, log=peer)
    ping_every_scene(emu, peer=peer)
    emu.post("/_emulator/gateway/faults/reconnect", {})

    def resumed() -> bool:
        return any(c["kind"] == "resume" for c in emu.get("/_emulator/gateway/sessions")["connections"])

    wait_for(f"{peer.name} to resume after op 7", resumed, 20, log=peer)


def differences(botpy: Capture, ours: Capture) -> list[str]:
    # frame types are not negotiable: every client frame is text (protocol.md §0)
    assert {f["frame"] for f in botpy.frames} == {"text"}, botpy.frames
    assert {f["frame"] for f in ours.frames} == {"text"}, ours.frames
    out: list[str] = []
    for op, name in OPS.items():
        a = next(f["shape"] for f in botpy.frames if f["op"] == op)
        b = next(f["shape"] for f in ours.frames if f["op"] == op)
        out += shape_diff(name, a, b)

    def paths(calls: list[dict[str, Any]]) -> set[str]:
        return {f"{c['method']} {c['path']}" for c in calls if not c["path"].startswith("/app/")}

    for call in sorted(paths(botpy.calls) - paths(ours.calls)):
        out.append(f"rest: only botpy calls {call}")
    for call in sorted(paths(ours.calls) - paths(botpy.calls)):
        out.append(f"rest: only this project calls {call}")

    for scene, path in REPLY_PATHS.items():
        a = next(c for c in botpy.calls if c["method"] == "POST" and c["path"] == path)
        b = next(c for c in ours.calls if c["method"] == "POST" and c["path"] == path)
        assert a["status"] == b["status"] == 200, (a, b)
        for header in PROTOCOL_HEADERS:
            assert a["headers"].get(header) == b["headers"].get(header), (scene, header, a["headers"], b["headers"])
        assert a["headers"]["authorization"] == "QQBot ***"
        ha, hb = set(a["headers"]), set(b["headers"])
        for header in sorted(ha ^ hb):
            side = "botpy" if header in ha else "this project"
            out.append(f"{scene} header {header}: only {side} sends it")
        for header in sorted((ha & hb) - TRANSPORT_HEADERS - set(PROTOCOL_HEADERS)):
            if a["headers"][header] != b["headers"][header]:
                out.append(
                    f"{scene} header {header}: botpy {a['headers'][header]!r}, this project {b['headers'][header]!r}"
                )
        out += body_diff(scene, a["body"], b["body"])
        # the text is the same; each answers its injected message by msg_id (checked by ping_every_scene)
        assert a["body"]["content"] == b["body"]["content"] == "pong"
    return out


def test_botpy_and_this_project_send_the_same_things(tmp_path: Path) -> None:
    options = ("--app", f"{APP_ID}:{SECRET}", "--grant-intents", "all", "--heartbeat-interval", "5000")
    with ExitStack() as stack:
        emu_botpy = stack.enter_context(emulator(tmp_path, *options, name="emulator-botpy"))
        emu_ours = stack.enter_context(emulator(tmp_path, *options, name="emulator-ours"))
        for emu in (emu_botpy, emu_ours):
            emu.seed_guild()
        botpy = stack.enter_context(
            spawn("botpy", [*peer_script("botpy_pong.py"), emu_botpy.url, APP_ID, SECRET], tmp_path, clean_env())
        )
        ours_platform = Platform.at(emu_ours.url)
        ours_env = clean_env(
            QQBOT_APP_ID=APP_ID,
            QQBOT_APP_SECRET=SECRET,
            QQBOT_API_BASE=ours_platform.api_base,
            QQBOT_TOKEN_URL=ours_platform.token_url,
        )
        ours = stack.enter_context(
            spawn("qqbot-run", [*qqbot(), "run", f"{HERE / 'framework_pong.py'}:bot"], tmp_path, ours_env)
        )
        # botpy first: it heartbeats once after READY and then only every 30 s, so left idle it would meet the
        # emulator's heartbeat timeout (1.5 x 5 s) before the scripted op 7; this project heartbeats every 5 s
        run_scenario(emu_botpy, botpy, "peer ready: botpy")
        run_scenario(emu_ours, ours, "is ready")
        found = differences(capture(emu_botpy), capture(emu_ours))

    unjustified = [line for line in found if not any(re.search(j.pattern, line) for j in JUSTIFIED)]
    assert not unjustified, "differences to fix or justify (JUSTIFIED and docs/architecture.md):\n" + "\n".join(
        unjustified
    )
    stale = [j.key for j in JUSTIFIED if not any(re.search(j.pattern, line) for line in found)]
    assert not stale, f"justified differences that no longer occur (remove them here and in the docs): {stale}"


def test_every_justified_difference_is_documented() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    head = "## Differences from peer SDKs (differential test)"
    assert head in text
    section = text.split(head, 1)[1].split("\n## ", 1)[0]
    missing = [j.key for j in JUSTIFIED if f"`{j.key}`" not in section]
    assert not missing, f"docs/architecture.md does not list: {missing}"


def test_shape_diff_reports_missing_keys_and_type_changes() -> None:
    """The comparison itself can fail: a key on one side and a changed value type are both reported."""
    a = {"op": "int", "d": {"token": "str", "seq": "int", "shard": ["int", "int"]}}
    b = {"op": "int", "d": {"token": "str", "seq": "str", "extra": "bool", "shard": ["int", "str"]}}
    assert shape_diff("x", a, b) == [
        "x.d.extra: only this project sends it (bool)",
        "x.d.seq: botpy int, this project str",
        "x.d.shard[1]: botpy int, this project str",
    ]
    assert body_diff("group", {"content": "pong", "embed": None}, {"content": "pong", "msg_seq": 1}) == [
        "group body.msg_seq: only this project sends it (int)",
        "group body.embed: botpy sends null, this project omits it",
    ]


@pytest.mark.anyio
async def test_the_gateway_records_frame_type_and_shape_without_values() -> None:
    """What the differential test reads: each client frame's type, op and JSON shape; never the token."""
    emu = InProcessEmulator(EmulatorConfig(apps={APP_ID: SECRET}))
    async with emu, emu.http_client() as http:
        token = (await http.post("/app/getAppAccessToken", json={"appId": APP_ID, "clientSecret": SECRET})).json()[
            "access_token"
        ]
        ws = await emu.connect_websocket()
        await ws.receive()  # Hello
        identify = {"op": 2, "d": {"token": f"QQBot {token}", "intents": 1, "shard": [0, 1], "properties": {}}}
        await ws.send(msgspec.json.encode(identify).decode())
        await ws.receive()  # READY
        await ws.send(b'{"op":1,"d":null}')  # binary: recorded, then refused
        with anyio.fail_after(5):
            while emu.gateway.recorder.connections[0].closed_at is None:  # noqa: ASYNC110
                await anyio.sleep(0.01)
    received = emu.gateway.recorder.connections[0].received
    assert [(f.frame, f.op) for f in received] == [("text", 2), ("binary", 1)]
    assert received[0].shape == {
        "op": "int",
        "d": {"token": "str", "intents": "int", "shard": ["int", "int"], "properties": {}},
    }
    assert received[1].shape == {"op": "int", "d": "null"}
    assert token not in repr(emu.gateway.snapshot())
