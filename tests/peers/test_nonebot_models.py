"""The emulator's gateway frames validate against nonebot-adapter-qq 1.7.3's own pydantic models.

Every event type the emulator emits (control API acts, REST side effects, audits) is pushed through the
emulator's real gateway to an identified client; each dispatch frame is parsed the way nonebot parses it
(``PayloadType`` → ``Dispatch`` → ``Adapter.payload_to_event``) and must become that type's event class,
never the adapter's "unknown payload" fallback. Hello, READY and RESUMED validate as nonebot reads them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest
from nonebot.adapters.qq import Adapter
from nonebot.adapters.qq.event import (
    EVENT_CLASSES,
    AtMessageCreateEvent,
    C2CMessageCreateEvent,
    DirectMessageCreateEvent,
    GroupAtMessageCreateEvent,
    InteractionCreateEvent,
    MessageReactionAddEvent,
    ReadyEvent,
    ResumedEvent,
)
from nonebot.adapters.qq.models import Dispatch, Hello, PayloadType
from nonebot.compat import type_validate_json, type_validate_python

from framework.emulator import Emulator, EmulatorConfig
from framework.models.intents import ALL_INTENTS

pytestmark = pytest.mark.anyio

EMULATOR_SRC = Path(__file__).resolve().parents[2] / "framework" / "testing" / "emulator"
APP, SECRET = "102000001", "models-secret"
GUILD, CHANNEL = "1001", "2001"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def act(emu: Emulator, http: Any, token: str) -> None:
    """Make the emulator emit every event type it can, with the optional fields too."""
    c = emu.control
    c.group_at_message("/ping", group_openid="G1", member_openid="M1")
    c.group_at_message(" hi", group_openid="G1", member_openid="M2", role="admin", at_bot=False)
    c.group_at_message("pic", group_openid="G1", attachments=[_image()])
    c.c2c_message("/ping", openid="U1")
    c.c2c_message("pic", openid="U1", attachments=[_image()])
    at, _created = c.channel_message(CHANNEL, "/ping", mention_bot=True)
    c.channel_message(CHANNEL, "quote", message_reference={"message_id": at.d["id"]}, attachments=[_image()])
    c.dm("3003", "hello")
    c.member_add(GUILD, "3004", "carol")
    c.member_remove(GUILD, "3004")
    c.reaction(CHANNEL, at.d["id"])
    c.reaction(CHANNEL, at.d["id"], remove=True)
    c.group_add_robot("G2")
    c.group_msg_switch("G2", receive=False)
    c.group_msg_switch("G2", receive=True)
    c.group_member_add("G2", "M9")
    c.group_member_remove("G2", "M9")
    c.group_del_robot("G2")
    c.friend_add("U2")
    c.c2c_msg_switch("U2", receive=False)
    c.c2c_msg_switch("U2", receive=True)
    c.friend_del("U2")
    c.button_click("group", "G1", button_data="a")
    c.button_click("c2c", "U1", button_data="b")
    c.button_click("guild", CHANNEL, button_data="c", message_id=at.d["id"])
    auth = {"Authorization": f"QQBot {token}"}
    r = await http.post(f"/guilds/{GUILD}/channels", json={"name": "new", "type": 0, "position": 1}, headers=auth)
    assert r.status_code == 200, r.text
    cid = r.json()["id"]
    assert (await http.patch(f"/channels/{cid}", json={"name": "renamed"}, headers=auth)).status_code == 200
    assert (await http.delete(f"/channels/{cid}", headers=auth)).status_code == 200
    emu.world.add_member(GUILD, "3005", "dave")
    assert (await http.delete(f"/guilds/{GUILD}/members/3005", headers=auth)).status_code == 204
    for mode in ("pass", "reject"):  # a proactive guild send held for audit, then its result
        assert (await http.post("/_emulator/audit", json={"mode": mode, "delay": 0})).status_code == 200
        r = await http.post(f"/channels/{CHANNEL}/messages", json={"content": "news"}, headers=auth)
        assert r.json()["code"] == 304023, r.text


def _image() -> dict[str, Any]:
    return {
        "content_type": "image/png",
        "filename": "a.png",
        "height": 1,
        "width": 1,
        "size": 1,
        "url": "https://x/a.png",
    }


async def test_every_emitted_event_validates_against_nonebot_models() -> None:
    emu = Emulator(EmulatorConfig(apps={APP: SECRET}, default_intents=int(ALL_INTENTS)))
    emu.world.add_guild(GUILD)
    emu.world.add_channel(GUILD, CHANNEL)
    emitted: list[Any] = []
    emu.world.add_listener(emitted.append)
    with anyio.fail_after(20):
        async with emu, emu.http_client() as http:
            token = (await http.post("/app/getAppAccessToken", json={"appId": APP, "clientSecret": SECRET})).json()[
                "access_token"
            ]
            ws = await emu.connect_websocket()
            hello = await ws.receive()
            identify = {"op": 2, "d": {"token": f"QQBot {token}", "intents": int(ALL_INTENTS), "shard": [0, 1]}}
            await ws.send(msgspec.json.encode(identify).decode())
            ready = await ws.receive()
            await act(emu, http, token)
            frames: list[str | bytes] = []
            audits = {"MESSAGE_AUDIT_PASS", "MESSAGE_AUDIT_REJECT"}  # pushed later by the emulator's timer
            while len(frames) < len(emitted) or not audits <= {e.type for e in emitted}:
                frames.append(await ws.receive())
            await ws.close()
            # a resume on a new connection ends with RESUMED (d is "", which nonebot handles since 1.7.0)
            ws = await emu.connect_websocket()
            await ws.receive()
            session_id = msgspec.json.decode(ready)["d"]["session_id"]
            seq = msgspec.json.decode(frames[-1])["s"]
            resume = {"op": 6, "d": {"token": f"QQBot {token}", "session_id": session_id, "seq": seq}}
            await ws.send(msgspec.json.encode(resume).decode())
            resumed = await ws.receive()
            await ws.close()

    # Hello and READY, as nonebot checks them around identify, and RESUMED
    assert isinstance(type_validate_json(PayloadType, hello), Hello)
    payload = type_validate_json(PayloadType, resumed)
    assert isinstance(payload, Dispatch) and type(Adapter.payload_to_event(payload)) is ResumedEvent
    payload = type_validate_json(PayloadType, ready)
    assert isinstance(payload, Dispatch) and payload.type == "READY"
    ready_event = type_validate_python(ReadyEvent, payload.data)
    assert ready_event.shard == (0, 1) and ready_event.user.bot is True

    events = []
    for frame in frames:
        payload = type_validate_json(PayloadType, frame)
        assert isinstance(payload, Dispatch), frame
        assert payload.type in EVENT_CLASSES, f"nonebot does not know {payload.type}"
        event = Adapter.payload_to_event(payload)  # raises pydantic.ValidationError on a bad payload
        assert type(event) is EVENT_CLASSES[payload.type], payload.type
        assert event.event_id == payload.id and payload.id.startswith(f"{payload.type}:")
        events.append(event)
    assert [type(e) for e in events] == [EVENT_CLASSES[e.type] for e in emitted]  # all delivered, in order

    # what nonebot reads from them is what the emulator meant
    group = next(e for e in events if isinstance(e, GroupAtMessageCreateEvent))
    assert (group.get_plaintext().strip(), group.get_user_id(), group.group_openid) == ("/ping", "M1", "G1")
    assert any(x.startswith("msg_idx=REFIDX_") for x in group.message_scene.ext)
    c2c = next(e for e in events if isinstance(e, C2CMessageCreateEvent))
    assert (c2c.get_plaintext(), c2c.get_user_id()) == ("/ping", "U1")
    guild_at = next(e for e in events if isinstance(e, AtMessageCreateEvent))
    assert guild_at.get_plaintext().strip() == "/ping" and guild_at.to_me
    dm = next(e for e in events if isinstance(e, DirectMessageCreateEvent))
    assert dm.get_plaintext() == "hello" and dm.get_user_id() == "3003"
    reaction = next(e for e in events if isinstance(e, MessageReactionAddEvent))
    assert reaction.target.id == guild_at.id
    clicks = [e for e in events if isinstance(e, InteractionCreateEvent)]
    assert sorted(str(e.data.resolved.button_data) for e in clicks) == ["a", "b", "c"]

    # every event type named in the emulator's source that nonebot models was exercised above (replies.py
    # only lists the types an event_id reply may answer)
    named: set[str] = set()
    for path in (p for p in EMULATOR_SRC.rglob("*.py") if p.name != "replies.py"):
        named |= set(re.findall(r'"([A-Z][A-Z0-9_]+)"', path.read_text(encoding="utf-8")))
    missing = (named & set(EVENT_CLASSES)) - {"READY", "RESUMED"} - {e.type for e in emitted}
    assert not missing, f"the emulator emits {sorted(missing)}: make act() emit them too"
