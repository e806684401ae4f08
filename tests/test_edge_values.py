"""Credentials and Platform: built once (from settings, from an emulator) and passed to every client piece;
the old keyword arguments still work for one release, with a DeprecationWarning naming the new one."""

from __future__ import annotations

import warnings
from functools import partial
from pathlib import Path

import anyio
import httpx
import pytest

from framework.app import Bot, Context
from framework.config import load_settings
from framework.emulator import Emulator, EmulatorConfig
from framework.logs import REDACTED, redact
from framework.models.constants import API_BASE, SANDBOX_API_BASE, TOKEN_URL
from framework.runner import BotRunner, EventTracker, run_webhook
from framework.runtime.credentials import Credentials, TokenManager
from framework.runtime.openapi import OpenAPI
from framework.runtime.platform import Platform
from framework.testing import Transport, connect, emulator_credentials, emulator_platform

pytestmark = pytest.mark.anyio

SECRET = "values-test-secret-7f3a"


def test_platform_constructors() -> None:
    assert (Platform.production().api_base, Platform.production().token_url) == (API_BASE, TOKEN_URL)
    assert (Platform.sandbox().api_base, Platform.sandbox().token_url) == (SANDBOX_API_BASE, TOKEN_URL)
    local = Platform.at("http://127.0.0.1:8080/")
    assert (local.api_base, local.token_url) == ("http://127.0.0.1:8080", "http://127.0.0.1:8080/app/getAppAccessToken")
    assert repr(local) == (
        "Platform(api_base='http://127.0.0.1:8080', token_url='http://127.0.0.1:8080/app/getAppAccessToken')"
    )
    with pytest.raises(ValueError, match="token_url must be an http:// or https:// URL"):
        Platform(API_BASE, "bots.qq.com/app/getAppAccessToken")


def test_both_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no qqbot.toml, no .env
    secret = "from-settings-secret-91c2"  # used by this test only: registered here or nowhere
    assert redact(f"oops {secret}") == f"oops {secret}"
    settings = load_settings(
        None, environ={"QQBOT_APP_ID": "102000009", "QQBOT_APP_SECRET": secret, "QQBOT_SANDBOX": "1"}
    )
    credentials = Credentials.from_settings(settings.bot)
    assert credentials == Credentials("102000009", secret)
    assert repr(credentials) == f"Credentials(app_id='102000009', app_secret={REDACTED})"
    assert redact(f"oops {secret}") == f"oops {REDACTED}"  # registered: no log line shows it
    assert Platform.from_settings(settings.bot) == Platform.sandbox()
    custom = load_settings(
        None, environ={"QQBOT_API_BASE": "http://127.0.0.1:9/", "QQBOT_TOKEN_URL": "http://127.0.0.1:9/t"}
    )
    assert Platform.from_settings(custom.bot) == Platform("http://127.0.0.1:9/", "http://127.0.0.1:9/t")
    with pytest.raises(ValueError, match=r"bot\.app_id \(QQBOT_APP_ID\) and bot\.app_secret \(QQBOT_APP_SECRET\)"):
        Credentials.from_settings(custom.bot)


async def test_emulator_values_in_process_and_over_loopback() -> None:
    emulator = Emulator(EmulatorConfig(apps={"102000007": "first-secret", "102000008": "second-secret"}))
    assert emulator_credentials(emulator) == Credentials("102000007", "first-secret")
    assert emulator_credentials(emulator, "102000008").app_secret == "second-secret"
    with pytest.raises(ValueError, match="the emulator has no app '1'; it knows 102000007, 102000008"):
        emulator_credentials(emulator, "1")
    with pytest.raises(ValueError, match="the emulator is not serving"):
        emulator_platform(emulator, "loopback")
    inproc = emulator_platform(emulator)
    assert inproc.api_base == "http://emulator" and inproc.http_transport is not None
    credentials = emulator_credentials(emulator, "102000008")
    async with emulator:
        tokens = TokenManager(credentials, platform=inproc)  # its own client, on the platform's transport
        try:
            assert await tokens.get_token()
        finally:
            await tokens.aclose()
    async with emulator.serve("127.0.0.1", 0) as url:
        served = emulator_platform(emulator)
        assert served == Platform.at(url) and isinstance(served.http_transport, httpx.AsyncHTTPTransport)
        async with OpenAPI.from_credentials(credentials, platform=served) as api:
            assert (await api.get_gateway_bot()).url.startswith("ws://127.0.0.1:")
    assert len(emulator.control.calls("POST", "/app/getAppAccessToken")) == 2  # one per transport


def _pong_bot() -> Bot:
    bot = Bot("aliases")

    @bot.command("ping")
    async def ping(ctx: Context) -> None:
        """Answer pong."""
        await ctx.reply("pong")

    return bot


async def test_deprecated_runner_arguments_still_run_a_bot() -> None:
    bot = _pong_bot()
    emulator = Emulator()
    credentials = emulator_credentials(emulator)
    emulator.config.grant(credentials.app_id, int(bot.intents))
    with pytest.warns(DeprecationWarning) as caught:
        runner = BotRunner(
            bot,
            app_id=credentials.app_id,
            app_secret=credentials.app_secret,
            api_base="http://emulator",
            token_url="http://emulator/app/getAppAccessToken",
            http_transport=emulator.http_transport(),
            connector=emulator.connect_websocket,
        )
    messages = sorted(str(w.message) for w in caught)
    assert messages == [
        "BotRunner: api_base= is deprecated, pass platform=Platform(api_base=...) instead; api_base= goes in the "
        "next release",
        "BotRunner: app_id= is deprecated, pass credentials=Credentials(app_id, app_secret) instead; app_id= goes "
        "in the next release",
        "BotRunner: app_secret= is deprecated, pass credentials=Credentials(app_id, app_secret) instead; "
        "app_secret= goes in the next release",
        "BotRunner: http_transport= is deprecated, pass platform=Platform(http_transport=...) instead; "
        "http_transport= goes in the next release",
        "BotRunner: token_url= is deprecated, pass platform=Platform(token_url=...) instead; token_url= goes in "
        "the next release",
    ]
    assert all(w.filename == __file__ for w in caught)  # the warning points at the caller
    assert runner.credentials == credentials and runner.platform == Platform.at("http://emulator")
    async with emulator, runner:
        with anyio.fail_after(5):
            await runner.wait_ready()
            event = emulator.control.group_at_message("/ping", group_openid="g1", member_openid="alice")
            while runner.tracker.state(event.id) != "handled":
                await runner.tracker.changed()
    (reply,) = emulator.control.sent("group", "g1")
    assert reply.body["content"] == "pong"


async def test_deprecated_webhook_and_token_arguments() -> None:
    bot = _pong_bot()
    emulator = Emulator()
    credentials = emulator_credentials(emulator)
    tracker = EventTracker()
    stop = anyio.Event()
    async with emulator, anyio.create_task_group() as tg:
        with pytest.warns(DeprecationWarning) as caught:
            host, port = await tg.start(
                partial(
                    run_webhook,
                    bot,
                    app_id=credentials.app_id,
                    app_secret=credentials.app_secret,
                    http_transport=emulator.http_transport(),
                    api_base="http://emulator",
                    token_url="http://emulator/app/getAppAccessToken",
                    port=0,
                    shutdown_trigger=stop.wait,
                    handle_signals=False,
                    tracker=tracker,
                )
            )
        assert sorted(str(w.message).split(" is deprecated")[0] for w in caught) == [
            f"run_webhook: {old}=" for old in ("api_base", "app_id", "app_secret", "http_transport", "token_url")
        ]
        emulator.config.webhook_url = f"http://{host}:{port}/"
        event = emulator.control.group_at_message("/ping", group_openid="g1", member_openid="alice")
        with anyio.fail_after(5):
            while tracker.state(event.id) != "handled":
                await tracker.changed()
        stop.set()
    (reply,) = emulator.control.sent("group", "g1")
    assert reply.body["content"] == "pong"

    with pytest.warns(DeprecationWarning, match=r"TokenManager: token_url= is deprecated, pass platform="):
        tokens = TokenManager(credentials, token_url="http://emulator/app/getAppAccessToken")
    assert tokens.platform == Platform(API_BASE, "http://emulator/app/getAppAccessToken")
    with pytest.warns(DeprecationWarning, match=r"OpenAPI.from_credentials: base_url= is deprecated"):
        api = OpenAPI.from_credentials(credentials, base_url="http://emulator")
    await api.aclose()


def test_old_and_new_arguments_do_not_mix() -> None:
    bot = Bot("mixed")
    credentials = Credentials("102000001", SECRET)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(TypeError, match="BotRunner: pass credentials= or the deprecated app_id=/app_secret="):
            BotRunner(bot, credentials=credentials, app_id="1", app_secret="s")
        with pytest.raises(TypeError, match="BotRunner: pass platform= or the deprecated token_url=, not both"):
            BotRunner(bot, credentials=credentials, platform=Platform.sandbox(), token_url="http://x/t")
        with pytest.raises(TypeError, match="app_id= and app_secret= go together"):
            BotRunner(bot, app_id="1")
        with pytest.raises(TypeError, match="TokenManager: pass platform= or the deprecated token_url="):
            TokenManager(credentials, platform=Platform.sandbox(), token_url="http://x/t")
    with pytest.raises(TypeError, match=r"BotRunner needs credentials=: Credentials\(app_id, app_secret\)"):
        BotRunner(bot)


def test_the_secret_stays_out_of_reprs() -> None:
    credentials = Credentials("102000001", SECRET)
    runner = BotRunner(Bot("quiet"), credentials=credentials, platform=Platform.at("http://127.0.0.1:9"))
    tokens = TokenManager(credentials, platform=runner.platform)
    for text in (repr(credentials), repr(runner), repr(runner.platform), repr(tokens)):
        assert SECRET not in text, text
    assert "102000001" in repr(runner) and "102000001" in repr(tokens)


async def test_connect_still_runs_on_both_transports() -> None:
    transports: tuple[Transport, ...] = ("inprocess", "loopback")
    for transport in transports:
        async with connect(_pong_bot(), transport=transport) as chat:
            await chat.group("g1").user("alice").at("/ping")
            assert await chat.replies() == ["pong"]
