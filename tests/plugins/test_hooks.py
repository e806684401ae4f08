"""Every hookspec is documented where declared and exercised here, in order, by a recording plugin."""

from __future__ import annotations

import inspect
from typing import Any

import msgspec
import pytest

from framework.app import ApiRequest, Bot, CallNext, Context
from framework.plugins import hookimpl, hookspecs
from framework.testing.recording import RecordingApi, c2c

HOOKS = sorted(name for name in dir(hookspecs) if name.startswith("qqbot_"))


def test_hooks_are_the_documented_set() -> None:
    assert HOOKS == [
        "qqbot_api_request",
        "qqbot_bus_started",
        "qqbot_bus_stopped",
        "qqbot_configure",
        "qqbot_gateway_started",
        "qqbot_gateway_stopped",
        "qqbot_handler_error",
        "qqbot_rate_limit_wait",
        "qqbot_register",
        "qqbot_shutdown",
        "qqbot_startup",
        "qqbot_webhook_started",
        "qqbot_webhook_stopped",
    ]
    assert sorted(hookspecs.__all__) == sorted([*HOOKS, "PROJECT_NAME", "hookimpl", "hookspec"])


@pytest.mark.parametrize("name", HOOKS)
def test_every_hookspec_is_documented(name: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    assert len(doc) > 60, f"{name} needs a real docstring"
    # the docs page lists every hook too
    from pathlib import Path

    page = Path(__file__).parents[2] / "docs" / "plugins.md"
    assert name in page.read_text(encoding="utf-8")


class Settings(msgspec.Struct):
    greeting: str = "hi"


class Recorder:
    """Implements every hook and records the calls."""

    config_model = Settings

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    @hookimpl
    def qqbot_configure(self, bot: Bot, config: Settings) -> None:
        self.calls.append(("qqbot_configure", config.greeting))

    @hookimpl
    def qqbot_register(self, bot: Bot) -> None:
        self.calls.append(("qqbot_register", bot.name))

        @bot.command("greet")
        async def greet(ctx: Context, settings: Settings) -> None:
            await ctx.reply(settings.greeting)

        @bot.on_c2c_message
        async def fail(ctx: Context) -> None:
            if ctx.text == "fail":
                raise LookupError("plugin handler failed")

        @bot.middleware
        async def mark(ctx: Context, call_next: CallNext) -> None:
            self.calls.append(("middleware", ctx.text))
            await call_next()

    @hookimpl
    async def qqbot_startup(self, bot: Bot) -> None:
        self.calls.append(("qqbot_startup", None))

    @hookimpl
    def qqbot_shutdown(self, bot: Bot) -> None:
        self.calls.append(("qqbot_shutdown", None))

    @hookimpl
    def qqbot_handler_error(self, error: BaseException, handler: str | None) -> None:
        self.calls.append(("qqbot_handler_error", (type(error).__name__, (handler or "").rsplit(".", 1)[-1])))

    @hookimpl
    def qqbot_api_request(self, request: ApiRequest) -> None:
        self.calls.append(("qqbot_api_request", (request.method, request.path, request.status)))

    @hookimpl
    def qqbot_rate_limit_wait(self, method: str, route: str, seconds: float) -> None:
        self.calls.append(("qqbot_rate_limit_wait", (method, route, seconds)))


@pytest.mark.anyio
async def test_every_hook_runs_in_order() -> None:
    recorder = Recorder()
    bot = Bot("hooks", plugins=[recorder], config={"plugins": {"Recorder": {"greeting": "hello!"}}})
    api = RecordingApi()
    async with bot.running(api):
        await bot.process(c2c("/greet", msg_id="c1"))  # process: wait for the handlers
        await bot.process(c2c("fail", msg_id="c2"))
        bot.observe_api_request(ApiRequest("POST", "/v2/users/U1/messages", 200, 0.01))
        bot.observe_rate_limit_wait("POST", "/v2/users/{openid}/messages", 1.5)
    assert recorder.calls == [
        ("qqbot_configure", "hello!"),
        ("qqbot_register", "hooks"),
        ("qqbot_startup", None),
        ("middleware", "greet"),
        ("middleware", "fail"),
        ("qqbot_handler_error", ("LookupError", "fail")),
        ("qqbot_api_request", ("POST", "/v2/users/U1/messages", 200)),
        ("qqbot_rate_limit_wait", ("POST", "/v2/users/{openid}/messages", 1.5)),
        ("qqbot_shutdown", None),
    ]
    assert api.texts() == ["hello!"]
    exercised = {name for name, _ in recorder.calls if name.startswith("qqbot_")}
    assert exercised == set(HOOKS) - set(TRANSPORT_HOOKS) - set(BUS_HOOKS)  # those need a runner: the next two tests


#: Hooks the runner and run_webhook call (bot.running alone has no transport).
TRANSPORT_HOOKS = ("qqbot_gateway_started", "qqbot_gateway_stopped", "qqbot_webhook_started", "qqbot_webhook_stopped")
#: Hooks ``qqbot gateway`` and ``qqbot worker`` call (tests/bus/test_bus_observability.py runs them).
BUS_HOOKS = ("qqbot_bus_started", "qqbot_bus_stopped")


class TransportRecorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    @hookimpl
    def qqbot_gateway_started(self, bot: Bot, sessions: Any, tokens: Any) -> None:
        self.calls.append(("qqbot_gateway_started", ([s.shard_id for s in sessions.status()], tokens.fetch_count)))

    @hookimpl
    def qqbot_gateway_stopped(self, sessions: Any) -> None:
        self.calls.append(("qqbot_gateway_stopped", [s.state for s in sessions.status()]))

    @hookimpl
    def qqbot_webhook_started(self, bot: Bot, host: str, port: int) -> None:
        self.calls.append(("qqbot_webhook_started", (host, port > 0, bot.delivery is not None)))

    @hookimpl
    def qqbot_webhook_stopped(self) -> None:
        self.calls.append(("qqbot_webhook_stopped", None))

    @hookimpl
    def qqbot_shutdown(self) -> None:
        self.calls.append(("qqbot_shutdown", None))


@pytest.mark.anyio
async def test_the_gateway_hooks_bracket_the_sessions() -> None:
    from framework.testing import connect

    recorder = TransportRecorder()
    async with connect(Bot("gw", plugins=[recorder])):
        assert recorder.calls == [("qqbot_gateway_started", ([0], 1))]
    assert recorder.calls[1:] == [("qqbot_gateway_stopped", ["idle"]), ("qqbot_shutdown", None)]


@pytest.mark.anyio
async def test_the_webhook_hooks_bracket_the_server() -> None:
    import anyio

    from framework.emulator import Emulator
    from framework.runner import run_webhook
    from framework.testing.edge import emulator_credentials, emulator_platform

    recorder = TransportRecorder()
    emu = Emulator()
    stop = anyio.Event()
    async with emu, anyio.create_task_group() as tg:
        await tg.start(
            lambda task_status: run_webhook(
                Bot("wh", plugins=[recorder]),
                credentials=emulator_credentials(emu),
                platform=emulator_platform(emu),
                port=0,
                handle_signals=False,
                shutdown_trigger=stop.wait,
                task_status=task_status,
            )
        )
        assert recorder.calls == [("qqbot_webhook_started", ("127.0.0.1", True, True))]
        stop.set()
    assert recorder.calls[1:] == [("qqbot_webhook_stopped", None), ("qqbot_shutdown", None)]


@pytest.mark.anyio
async def test_hooks_of_several_plugins_follow_pluggy_order() -> None:
    order: list[str] = []

    def make(tag: str, **opts: bool) -> object:
        class P:
            @hookimpl(**opts)
            def qqbot_register(self, bot: Bot) -> None:
                order.append(tag)

        return P()

    bot = Bot(plugins=[make("first"), make("second"), make("early", tryfirst=True)])
    bot.prepare()
    # pluggy: tryfirst wins, then the most recently registered
    assert order == ["early", "second", "first"]


class BusObserverBeforeWatchdog:
    """A ``qqbot_bus_started`` observer written when the hook had no ``watchdog`` argument."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    @hookimpl
    def qqbot_bus_started(self, bot: Bot, bus: Any, publisher: Any, consumer: Any, sessions: Any, tokens: Any) -> None:
        self.calls.append((bot.name, bus, publisher, consumer, sessions, tokens))


@pytest.mark.anyio
async def test_bus_started_hands_the_watchdog_to_healthz_and_older_observers_still_load() -> None:
    """``qqbot_bus_started`` as ``qqbot worker`` calls it: an observer without ``watchdog`` (the hook's signature
    before that argument) loads and is called; the metrics plugin's ``/healthz`` answer follows the watchdog handed
    over by the hook (the bus object carries none). tests/bus/test_bus_observability.py runs the same route in a
    real worker process, a handler blocking its loop."""
    import time

    import anyio

    from framework.observability.metrics import MetricsPlugin
    from framework.runtime.gateway.watchdog import LoopWatchdog

    old = BusObserverBeforeWatchdog()
    metrics = MetricsPlugin(port=None, process_metrics=False)
    bot = Bot("worker", plugins=[old, metrics])
    bot.prepare()
    assert bot.plugins.failures == []  # both implementations were accepted by the hookspec
    assert metrics.health() == (True, "ok")  # no watchdog handed over yet
    bus, consumer = object(), object()
    watchdog = LoopWatchdog(0.5)  # 0.5 s: a loaded host may stall the loop a few 100 ms
    async with anyio.create_task_group() as tg:
        await tg.start(watchdog.run)
        bot.plugins.notify(
            "qqbot_bus_started",
            bus=bus,
            publisher=None,
            consumer=consumer,
            sessions=None,
            tokens=None,
            watchdog=watchdog,
        )
        assert bot.plugins.failures == []
        assert old.calls == [("worker", bus, None, consumer, None, None)]
        healthy, text = metrics.health()
        assert healthy and text.startswith("ok; event loop ran ") and text.endswith("(watchdog threshold 0.5 s)")
        time.sleep(0.6)  # noqa: ASYNC251 - blocking the loop past the threshold on purpose
        healthy, text = metrics.health()
        assert not healthy and text.startswith("event loop blocked for ") and text.endswith("(threshold 0.5 s)")
        with anyio.fail_after(5):
            # the loop runs again: the watchdog sees it (polled: health() is a reading, with no event to wait on)
            while not metrics.health()[0]:  # noqa: ASYNC110
                await anyio.sleep(0.05)
        tg.cancel_scope.cancel()
    # a websocket gateway hands over None: its session manager's watchdog applies (none here: plain ok)
    bot.plugins.notify(
        "qqbot_bus_started", bus=bus, publisher=object(), consumer=None, sessions=None, tokens=None, watchdog=None
    )
    assert metrics.health() == (True, "ok")
