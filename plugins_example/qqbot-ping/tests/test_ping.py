from __future__ import annotations

import importlib.metadata

import pytest
import qqbot_ping

from framework.app import Bot
from framework.testing.recording import RecordingApi, c2c, group_at


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_declares_the_entry_point() -> None:
    eps = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="qqbot.plugins")}
    assert eps.get("ping") == "qqbot_ping"


@pytest.mark.anyio
async def test_ping_and_echo() -> None:
    bot = Bot(plugins=[qqbot_ping])
    api = RecordingApi()
    bot.bind(api)
    await bot.dispatch(group_at("/ping", msg_id="m1"))
    await bot.dispatch(c2c("/echo  hello world", msg_id="c1"))
    await bot.dispatch(c2c("/echo", msg_id="c2"))
    texts = api.texts()
    assert texts[:2] == ["pong", "hello world"]
    assert texts[2] is not None and texts[2].startswith("missing argument text")
