"""botpy's own REST client (qq-botpy 1.2.1, unmodified) against the emulator over real loopback sockets.

Only the two knobs of protocol.md §12.1 are redirected: ``Route.SCHEME/DOMAIN`` and the token URL.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from botpy import http as botpy_http  # type: ignore[import-untyped]
from botpy import robot as botpy_robot
from botpy.api import BotAPI  # type: ignore[import-untyped]
from botpy.errors import ServerError  # type: ignore[import-untyped]

from framework.emulator import Emulator
from framework.emulator.config import DEFAULT_APP_ID, DEFAULT_APP_SECRET


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # botpy runs on aiohttp


@pytest.mark.anyio
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_botpy_rest_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = Emulator()
    async with emulator.serve() as url:
        monkeypatch.setattr(botpy_http.Route, "SCHEME", "http")
        monkeypatch.setattr(botpy_http.Route, "DOMAIN", url.removeprefix("http://"))

        async def update_access_token(self: Any) -> None:
            async with aiohttp.ClientSession() as session:
                body = {"appId": self.app_id, "clientSecret": self.secret}
                async with session.post(f"{url}/app/getAppAccessToken", json=body) as r:
                    data = await r.json(content_type=None)
            self.access_token = data["access_token"]
            self.expires_in = int(data["expires_in"]) + 10**9

        monkeypatch.setattr(botpy_robot.Token, "update_access_token", update_access_token)
        http = botpy_http.BotHttp(timeout=5, app_id=DEFAULT_APP_ID, secret=DEFAULT_APP_SECRET)
        try:
            api = BotAPI(http)
            me = await api.me()
            assert int(me["id"]) == int(emulator.config.bot_id)
            gateway = await api.get_ws_url()
            assert gateway["url"] == f"{url.replace('http://', 'ws://')}/websocket"

            ev = emulator.control.group_at_message("ping", group_openid="G1")
            sent = await api.post_group_message(group_openid="G1", content="pong", msg_id=ev.d["id"], msg_seq=1)
            assert set(sent) == {"id", "timestamp", "ext_info"}
            with pytest.raises(ServerError, match="deduplicated"):
                await api.post_group_message(group_openid="G1", content="pong", msg_id=ev.d["id"], msg_seq=1)

            guild = emulator.world.add_guild("1001")
            emulator.world.add_channel(guild.id, "2001")
            msg = await api.post_message(channel_id="2001", content="hi")
            assert msg["content"] == "hi" and msg["author"]["bot"] is True
            assert [m.content for m in emulator.control.sent("group", "G1")] == ["pong"]
            calls = emulator.control.calls(path_prefix="/v2/groups/")
            assert [c.status for c in calls] == [200, 400]
        finally:
            await http.close()
