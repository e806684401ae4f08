"""Scheduled jobs (``@bot.every``, ``@bot.cron``) through the emulator: proactive sends, errors, shutdown, a fleet.

Time is a :class:`ManualClock` the test moves with ``chat.advance``; the fleet test runs two bots against a
real ``redis-server`` of its own (tests/fleet/_fleet_harness.py).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

import anyio
import pytest

from framework.app import Bot, BotError, Router
from framework.app.schedules import Cron, Every, ProactiveMessageError
from framework.models import errorcodes as ec
from framework.testing import EmulatorConfig, ManualClock, connect

pytestmark = pytest.mark.anyio

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
START = dt.datetime(2026, 12, 3, 7, 58, tzinfo=SHANGHAI).timestamp()  # 07:58 in Shanghai, on a minute


def pushing() -> EmulatorConfig:
    """A platform that still lets this bot send active messages (most bots lost that in April 2025)."""
    return EmulatorConfig(allow_active_messages=True)


async def test_every_five_minutes_sends_proactive_messages() -> None:
    clock = ManualClock(START)
    bot = Bot("ticker", clock=clock)
    ran_at: list[float] = []

    @bot.every(minutes=5)
    async def tick(me: Bot) -> None:
        ran_at.append(clock.time())
        await me.send("group", "g1", f"tick {len(ran_at)}")

    async with connect(bot, config=pushing()) as chat:
        await chat.group("g1").user("alice").at("hi")  # the group exists, with the bot in it
        await chat.advance(15 * 60)
        sent = await chat.sent()
    assert [m.content for m in sent] == ["tick 1", "tick 2", "tick 3"]
    assert all(m.scene == "group" and m.target_id == "g1" and "msg_id" not in m.body for m in sent)
    assert [t % 300 for t in ran_at] == [0, 0, 0]  # aligned on the epoch: :00, :05, :10
    assert tick.__name__ == "tick" and bot.jobs[0].runs == 3


async def test_cron_in_a_time_zone() -> None:
    clock = ManualClock(START)
    bot = Bot("morning", clock=clock)
    ran_at: list[dt.datetime] = []

    @bot.cron("0 8 * * *", tz="Asia/Shanghai")
    async def morning() -> None:
        ran_at.append(dt.datetime.fromtimestamp(clock.time(), SHANGHAI))

    async with connect(bot) as chat:
        await chat.advance(60)  # 07:59: nothing yet
        assert ran_at == []
        await chat.advance(2 * 86400)
    assert [t.isoformat() for t in ran_at] == ["2026-12-03T08:00:00+08:00", "2026-12-04T08:00:00+08:00"]


async def test_a_failing_job_is_reported_and_runs_again() -> None:
    clock = ManualClock(START)
    bot = Bot("flaky", clock=clock)
    runs: list[int] = []
    reported: list[BaseException] = []

    @bot.every(seconds=60, name="flaky-job")
    async def flaky() -> None:
        runs.append(1)
        raise RuntimeError(f"run {len(runs)} failed")

    @bot.on_error
    async def on_error(error: BaseException) -> None:
        reported.append(error)

    async with connect(bot) as chat:
        await chat.advance(120)
        failures = await chat.errors()
    assert [(f.handler, str(f.error)) for f in failures] == [
        ("flaky-job", "run 1 failed"),
        ("flaky-job", "run 2 failed"),
    ]
    assert [str(e) for e in reported] == ["run 1 failed", "run 2 failed"]


async def test_a_refused_proactive_message_is_a_clear_error() -> None:
    clock = ManualClock(START)
    bot = Bot("pusher", clock=clock)

    @bot.every(minutes=1)
    async def push(me: Bot) -> None:
        await me.send("c2c", "u1", "good morning")

    async with connect(bot) as chat:  # the 2025+ platform: no active messages for this bot
        await chat.c2c("u1").say("hello")
        await chat.advance(60)
        (failure,) = await chat.errors()
        assert await chat.sent() == []
    assert isinstance(failure.error, ProactiveMessageError)
    assert failure.error.code == ec.ACTIVE_MESSAGE_NO_PERMISSION
    assert "a proactive message to c2c u1 was refused (code 40034102)" in str(failure.error)


async def test_a_user_who_turned_active_messages_off_is_a_clear_error() -> None:
    clock = ManualClock(START)
    bot = Bot("pusher", clock=clock)

    @bot.every(minutes=1)
    async def push(me: Bot) -> None:
        await me.send("c2c", "u1", "good morning")

    async with connect(bot, config=pushing()) as chat:
        await chat.c2c("u1").say("hello")
        chat.control.c2c_msg_switch("u1", receive=False)
        await chat.advance(60)
        (failure,) = await chat.errors()
    assert isinstance(failure.error, ProactiveMessageError)
    assert failure.error.code == ec.USER_REFUSES_MESSAGES


async def test_jobs_of_routers_run_and_stop_with_the_bot() -> None:
    clock = ManualClock(START)
    bot = Bot("tree", clock=clock)
    router = Router("reports")
    state = {"started": 0, "finished": 0}

    @router.every(minutes=1)
    async def slow() -> None:
        state["started"] += 1
        try:
            await anyio.sleep_forever()  # still running when the bot stops
        finally:
            state["finished"] += 1

    bot.include(router)
    with anyio.fail_after(10):
        async with connect(bot):
            clock.set(START + 60)
            while not state["started"]:  # noqa: ASYNC110 - polling the job's progress
                await anyio.sleep(0.01)
    assert state == {"started": 1, "finished": 1}  # cancelled at shutdown, its finally ran
    assert not bot.scheduler._due and not bot.scheduler._running


def test_bad_schedules_are_refused_at_registration() -> None:
    bot = Bot("bad")
    with pytest.raises(BotError, match="expected five fields"):
        bot.cron("61 * * * *")
    with pytest.raises(BotError, match="unknown time zone 'Mars/Olympus'"):
        bot.cron("0 8 * * *", tz="Mars/Olympus")
    with pytest.raises(BotError, match="interval must be positive"):
        bot.every()

    @bot.every(minutes=1, name="report")
    async def one() -> None: ...

    with pytest.raises(BotError, match="job 'report' is registered twice"):

        @bot.every(minutes=2, name="report")
        async def two() -> None: ...


def test_triggers() -> None:
    assert Every(300).next_after(1_700_000_000.0) == 1_700_000_100.0
    assert Every(300).next_after(1_700_000_100.0) == 1_700_000_400.0
    cron = Cron("30 2 * * 1", tz="Asia/Shanghai")  # Mondays 02:30
    after = cron.next_after(START)
    assert dt.datetime.fromtimestamp(after, SHANGHAI).isoformat() == "2026-12-07T02:30:00+08:00"


# -- a fleet: once per fleet with Redis ---------------------------------------------------------


async def test_in_a_fleet_each_occurrence_runs_once(redis_url: str) -> None:
    clock = ManualClock(START)
    runs: list[str] = []
    local_runs: list[str] = []
    bots = []
    for process in ("p1", "p2", "p3"):
        bot = Bot("fleet-bot", clock=clock, config={"schedules": {"redis": redis_url}})

        @bot.every(minutes=1)
        async def report(who: str = process) -> None:
            runs.append(who)

        @bot.every(minutes=1, fleet_wide=False)
        async def local(who: str = process) -> None:
            local_runs.append(who)

        bots.append(bot)

    async def idle(now: float) -> None:
        with anyio.fail_after(10):
            while not all(b.scheduler.idle(now) for b in bots):  # noqa: ASYNC110 - three schedulers
                await anyio.sleep(0.01)

    async with bots[0].running(), bots[1].running(), bots[2].running():
        await idle(clock.time())
        for minute in range(1, 6):
            clock.set(START + 60 * minute)
            await idle(clock.time())
    assert len(runs) == 5  # one process per occurrence
    assert len(local_runs) == 15  # fleet_wide=False: every process


async def test_without_redis_a_fleet_job_fails_safe(tmp_path: Path) -> None:
    """Redis unreachable: the occurrence is skipped and reported, never run twice."""
    clock = ManualClock(START)
    bot = Bot("cut-off", clock=clock, config={"schedules": {"redis": "redis://127.0.0.1:9/0"}})
    runs: list[int] = []
    reported: list[BaseException] = []

    @bot.every(minutes=1)
    async def report() -> None:
        runs.append(1)

    @bot.on_error
    async def on_error(error: BaseException) -> None:
        reported.append(error)

    async with bot.running():
        with anyio.fail_after(20):
            while not bot.scheduler.idle(clock.time()):  # noqa: ASYNC110 - polling the scheduler
                await anyio.sleep(0.01)
            clock.set(START + 60)
            while not reported:  # noqa: ASYNC110 - polling the error hook
                await anyio.sleep(0.01)
    assert runs == []
    assert "could not claim the occurrence in Redis" in str(reported[0])


def test_a_router_bringing_a_taken_job_name_is_refused() -> None:
    bot = Bot("names")
    router = Router("more")

    @bot.every(minutes=1, name="report")
    async def mine() -> None: ...

    @router.every(minutes=5, name="report")
    async def theirs() -> None: ...

    with pytest.raises(BotError, match="job 'report' is registered twice"):
        bot.include(router)
    assert [j.name for j in bot.jobs] == ["report"]
