"""qq-botpy 1.2.1 as a peer: unchanged but for its base URLs (protocol.md §12.1); answers "pong" to "/ping"
in groups (@), C2C and guild channels (@).

Usage: python botpy_pong.py EMULATOR_URL APP_ID SECRET
"""

from __future__ import annotations

import sys
import time
from typing import Any

import aiohttp
import botpy
from botpy import http as botpy_http
from botpy import robot as botpy_robot


def point_botpy_at(url: str) -> None:
    """The three knobs of protocol.md §12.1: REST scheme and host, and the token URL (a literal in botpy)."""
    host = url.removeprefix("http://")
    botpy_http.Route.SCHEME = "http"
    botpy_http.Route.DOMAIN = host
    botpy_http.Route.SANDBOX_DOMAIN = host

    async def update_access_token(self: Any) -> None:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{url}/app/getAppAccessToken", json={"appId": self.app_id, "clientSecret": self.secret}
            ) as resp,
        ):
            data = await resp.json(content_type=None)
        self.access_token = data["access_token"]
        self.expires_in = int(data["expires_in"]) + int(time.time())

    botpy_robot.Token.update_access_token = update_access_token


def is_ping(content: str) -> bool:
    # group: " /ping"; guild @: "<@!bot_id> /ping"
    return content.split()[-1:] == ["/ping"]


class PongBot(botpy.Client):  # type: ignore[misc]
    async def on_ready(self) -> None:
        print("peer ready: botpy", flush=True)

    async def on_group_at_message_create(self, message: Any) -> None:
        if is_ping(message.content):
            await message.reply(content="pong")

    async def on_c2c_message_create(self, message: Any) -> None:
        if is_ping(message.content):
            await message.reply(content="pong")

    async def on_at_message_create(self, message: Any) -> None:
        if is_ping(message.content):
            await message.reply(content="pong")


def main() -> None:
    url, app_id, secret = sys.argv[1:4]
    point_botpy_at(url)
    intents = botpy.Intents(public_messages=True, public_guild_messages=True)
    PongBot(intents=intents, bot_log=None, ext_handlers=False).run(appid=app_id, secret=secret)


if __name__ == "__main__":
    main()
