"""Deeply nested JSON (a RecursionError in the decoder) is answered like any malformed body: REST 400,
gateway close 4002, never a 500 or a dropped connection."""

from __future__ import annotations

import httpx
import pytest
from _gateway_client import RawWebSocket, expect_close, recv_json

from framework.emulator import Emulator
from framework.models import CloseCode

pytestmark = pytest.mark.anyio

NESTED = "[" * 200_000 + "]" * 200_000
NESTED_OBJECT = '{"a":' * 100_000 + "1" + "}" * 100_000


@pytest.mark.parametrize("body", [NESTED, NESTED_OBJECT])
async def test_every_body_taking_route_answers_400(body: str) -> None:
    emu = Emulator()
    emu.world.add_group("G1")
    app_id, secret = next(iter(emu.config.apps.items()))
    async with emu.serve() as url, httpx.AsyncClient(base_url=url) as http:
        token = (await http.post("/app/getAppAccessToken", json={"appId": app_id, "clientSecret": secret})).json()
        headers = {"Authorization": f"QQBot {token['access_token']}", "Content-Type": "application/json"}
        routes = [(m, p) for m, p in emu.router.routes() if m in ("POST", "PUT", "PATCH")]
        assert len(routes) > 10
        nested = 0
        for method, pattern in routes:
            path = pattern.replace("{", "").replace("}", "")
            resp = await http.request(method, path, content=body, headers=headers)
            assert resp.status_code != 500, (method, pattern, resp.text[:200])  # 501: route not modelled
            assert isinstance(resp.json(), dict)
            nested += "nested too deeply" in resp.text
        assert nested >= 5  # every route that reads its body says why (the others refuse earlier)
        sent = await http.post("/v2/groups/G1/messages", content=body, headers=headers)
        assert sent.status_code == 400 and "nested too deeply" in sent.json()["message"]
        tok = await http.post("/app/getAppAccessToken", content=body, headers={"Content-Type": "application/json"})
        assert tok.status_code == 200 and tok.json()["code"] != 0  # the token endpoint answers errors with 200


@pytest.mark.parametrize("transport", ["socket", "pipe"])
async def test_gateway_closes_4002_on_nested_frame(transport: str, caplog: pytest.LogCaptureFixture) -> None:
    emu = Emulator()
    if transport == "socket":
        async with emu.serve() as url:
            ws = await RawWebSocket.connect(url.replace("http://", "ws://") + "/websocket")
            await recv_json(ws)  # Hello
            await ws.send(NESTED)
            code, _ = await expect_close(ws)
    else:
        async with emu:
            ws = await emu.connect_websocket()
            await recv_json(ws)
            await ws.send(NESTED)
            code, _ = await expect_close(ws)
    assert code == CloseCode.INVALID_PAYLOAD
    assert any("nested too deeply" in r.getMessage() for r in caplog.records)
