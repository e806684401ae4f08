"""The audit flow end to end over real loopback sockets: the OpenAPI client sends a proactive guild
message, gets :class:`PendingAudit` (for the 202 and the 200 form), and a gateway session subscribed
to MESSAGE_AUDIT receives MESSAGE_AUDIT_PASS/REJECT with the same audit id (protocol.md §0 "Audit")."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from _gateway_client import RawWebSocket, recv_json, send_json

from framework.emulator import Emulator, EmulatorConfig
from framework.emulator.config import DEFAULT_APP_ID, DEFAULT_APP_SECRET
from framework.models.api import MessageToCreate
from framework.models.intents import Intents
from framework.runtime.credentials import Credentials, TokenManager
from framework.runtime.openapi import OpenAPI, PendingAudit
from framework.runtime.platform import Platform

pytestmark = pytest.mark.anyio

_INTENTS = int(Intents.GUILDS | Intents.MESSAGE_AUDIT)


async def _next_dispatch(ws: RawWebSocket, prefix: str) -> dict[str, Any]:
    while True:
        frame = await recv_json(ws)
        if frame.get("op") == 0 and str(frame.get("t", "")).startswith(prefix):
            return frame


@pytest.mark.parametrize(
    ("mode", "status", "event"), [("pass", 202, "MESSAGE_AUDIT_PASS"), ("reject", 200, "MESSAGE_AUDIT_REJECT")]
)
async def test_proactive_guild_send_is_audited(mode: str, status: int, event: str) -> None:
    emulator = Emulator(EmulatorConfig(allowed_intents={DEFAULT_APP_ID: _INTENTS}))
    emulator.world.add_guild("1001")
    emulator.world.add_channel("1001", "2001")
    async with emulator.serve("127.0.0.1", 0) as url:
        async with httpx.AsyncClient(base_url=url) as control:
            r = await control.post("/_emulator/audit", json={"mode": mode, "delay": 0.05, "status": status})
            assert r.status_code == 200
        tokens = TokenManager(Credentials(DEFAULT_APP_ID, DEFAULT_APP_SECRET), platform=Platform.at(url))
        async with OpenAPI(tokens, base_url=url) as api:
            gateway = await api.get_gateway_bot()
            ws = await RawWebSocket.connect(gateway.url)
            assert (await recv_json(ws))["op"] == 10
            token = await tokens.auth_header()
            await send_json(ws, {"op": 2, "d": {"token": token, "intents": _INTENTS, "shard": [0, 1]}})
            assert (await recv_json(ws))["t"] == "READY"
            result = await api.post_channel_message("2001", MessageToCreate(content="hello everyone"))
            assert isinstance(result, PendingAudit)
            assert result.status == status and result.code == 304023 and result.audit_id
            frame = await _next_dispatch(ws, "MESSAGE_AUDIT")
            assert frame["t"] == event and frame["d"]["audit_id"] == result.audit_id
            assert frame["d"]["channel_id"] == "2001" and frame["d"]["guild_id"] == "1001"
            sent = emulator.control.sent("guild", "2001")
            assert [m.content for m in sent] == (["hello everyone"] if mode == "pass" else [])
            await ws.close()
        await tokens.aclose()
