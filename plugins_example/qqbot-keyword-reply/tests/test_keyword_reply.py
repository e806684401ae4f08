from __future__ import annotations

import tomllib

import pytest
import qqbot_keyword_reply

from framework.app import Bot
from framework.models import Intents
from framework.testing.recording import RecordingApi, at_message, c2c, group_at

CONFIG = """
[plugins.qqbot_keyword_reply]
scenes = ["group", "c2c"]

[[plugins.qqbot_keyword_reply.rules]]
keyword = "hello"
reply = "Hello to you too!"

[[plugins.qqbot_keyword_reply.rules]]
keyword = "help me"
match = "exact"
reply = "Try /help."

[[plugins.qqbot_keyword_reply.rules]]
keyword = "^price of (\\\\w+)$"
match = "regex"
reply = "No idea what {1} costs."
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_bot() -> tuple[Bot, RecordingApi]:
    bot = Bot(plugins=[qqbot_keyword_reply], config=tomllib.loads(CONFIG))
    api = RecordingApi()
    bot.bind(api)
    return bot, api


@pytest.mark.anyio
async def test_rules_from_toml_answer_in_order() -> None:
    bot, api = make_bot()
    await bot.dispatch(group_at("well HELLO there", msg_id="m1"))
    await bot.dispatch(c2c("help me", msg_id="c1"))
    await bot.dispatch(c2c("please help me", msg_id="c2"))  # exact: no
    await bot.dispatch(c2c("price of apples", msg_id="c3"))
    await bot.dispatch(c2c("/hello", msg_id="c4"))  # commands are left alone
    await bot.dispatch(at_message("hello", msg_id="g1"))  # channel scene not configured
    assert api.texts() == ["Hello to you too!", "Try /help.", "No idea what apples costs."]
    assert [c.message.msg_id for c in api.sends if c.message] == ["m1", "c1", "c3"]


def test_intents_follow_the_configured_scenes() -> None:
    bot, _api = make_bot()
    assert bot.intents == Intents.GROUP_AND_C2C_EVENT


def test_a_typo_in_the_section_is_reported_by_name() -> None:
    bot = Bot(plugins=[qqbot_keyword_reply], config={"plugins": {"qqbot_keyword_reply": {"rulez": []}}})
    assert bot.intents == Intents.NONE
    [failure] = bot.plugins.failures
    assert failure.plugin == "qqbot_keyword_reply" and "rulez" in str(failure)
