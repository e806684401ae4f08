from __future__ import annotations

import pytest
import qqbot_antispam

from framework.app import Bot, Context
from framework.clock import VirtualClock
from framework.testing.recording import RecordingApi, c2c, group_at


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_bot(clock: VirtualClock, **section: object) -> tuple[Bot, RecordingApi, list[str]]:
    bot = Bot(plugins=[qqbot_antispam], clock=clock, config={"plugins": {"qqbot_antispam": section}})
    api = RecordingApi()
    bot.bind(api)
    handled: list[str] = []

    @bot.on_c2c_message
    @bot.on_group_at_message
    async def handle(ctx: Context) -> None:
        handled.append(f"{ctx.user_id}:{ctx.text}")

    return bot, api, handled


@pytest.mark.anyio
async def test_a_user_over_the_limit_is_dropped_and_warned_once() -> None:
    clock = VirtualClock()
    bot, api, handled = make_bot(clock, max_messages=2, per_seconds=10)
    for i in range(5):
        await bot.dispatch(c2c(str(i), msg_id=f"a{i}", user="A"))
    await bot.dispatch(c2c("b", msg_id="b0", user="B"))  # other users are not affected
    assert handled == ["A:0", "A:1", "B:b"]
    assert api.texts() == ["Slow down, please."]
    clock.advance(10)
    await bot.dispatch(c2c("later", msg_id="a9", user="A"))
    assert handled[-1] == "A:later"


@pytest.mark.anyio
async def test_silent_mode_and_groups() -> None:
    clock = VirtualClock()
    bot, api, handled = make_bot(clock, max_messages=1, per_seconds=5, warning="")
    await bot.dispatch(group_at("x", msg_id="m1", member="M"))
    await bot.dispatch(group_at("y", msg_id="m2", member="M"))
    assert handled == ["M:x"] and api.sends == []


def test_a_bad_section_disables_the_plugin_and_names_it() -> None:
    bot = Bot(plugins=[qqbot_antispam], config={"plugins": {"qqbot_antispam": {"max_messages": "many"}}})
    bot.prepare()
    assert "qqbot_antispam" not in bot.plugins.names
    [failure] = bot.plugins.failures
    assert failure.plugin == "qqbot_antispam" and failure.hook == "qqbot_configure"
    assert "max_messages" in str(failure)


def test_rate_limiter_window() -> None:
    limiter = qqbot_antispam.RateLimiter(2, 1.0)
    assert [limiter.allow("u", t) for t in (0.0, 0.1, 0.2, 1.05, 1.2)] == [True, True, False, True, True]
    with pytest.raises(ValueError):
        qqbot_antispam.RateLimiter(0, 1.0)
