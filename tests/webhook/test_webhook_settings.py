"""The webhook's slow-client limits as settings (``qqbot.toml`` / environment) and through ``run_webhook``."""

from __future__ import annotations

import time
from functools import partial

import anyio
import pytest
from test_webhook_slow_clients import APP_ID, STALLED, read_until_closed

from framework.app import Bot
from framework.config import ConfigError, load_settings
from framework.emulator import Emulator
from framework.runner import run_webhook
from framework.testing import emulator_credentials, emulator_platform

pytestmark = pytest.mark.anyio


def test_limits_are_settings_with_defaults_env_and_checks() -> None:
    default = load_settings(environ={})
    assert (default.webhook.read_timeout, default.webhook.max_connections) == (10.0, 256)
    assert default.webhook.host == "127.0.0.1"
    env = {"QQBOT_WEBHOOK_READ_TIMEOUT": "2.5", "QQBOT_WEBHOOK_MAX_CONNECTIONS": "64"}
    tuned = load_settings(environ=env)
    assert (tuned.webhook.read_timeout, tuned.webhook.max_connections) == (2.5, 64)
    for name, value in (
        ("QQBOT_WEBHOOK_READ_TIMEOUT", "0"),
        ("QQBOT_WEBHOOK_READ_TIMEOUT", "soon"),
        ("QQBOT_WEBHOOK_MAX_CONNECTIONS", "0"),
        ("QQBOT_WEBHOOK_MAX_CONNECTIONS", "many"),
    ):
        with pytest.raises(ConfigError, match=name.removeprefix("QQBOT_WEBHOOK_").lower() + "|" + name):
            load_settings(environ={name: value})


@pytest.mark.parametrize(("options", "within"), [({"read_timeout": 0.5}, 3.0), ({"max_connections": 1}, 3.0)])
async def test_run_webhook_applies_the_limits_on_loopback_by_default(options: dict[str, float], within: float) -> None:
    """With ``read_timeout=0.5`` a stalled body gets 408 long before the default 10 s; with
    ``max_connections=1`` a second stalled body cuts the first one off at once (it is past ``evict_after``)."""
    emulator = Emulator()
    credentials = emulator_credentials(emulator)
    stop = anyio.Event()
    async with emulator, anyio.create_task_group() as tg:
        host, port = await tg.start(
            partial(
                run_webhook,
                Bot("limited"),
                credentials=credentials,
                platform=emulator_platform(emulator, "inprocess"),
                port=0,
                shutdown_trigger=stop.wait,
                handle_signals=False,
                **options,
            )
        )
        assert host == "127.0.0.1"
        stalled = STALLED.replace(APP_ID.encode(), credentials.app_id.encode())
        async with await anyio.connect_tcp(host, port) as first, await anyio.connect_tcp(host, port) as second:
            await first.send(stalled)
            await anyio.sleep(0.6)  # older than evict_after (0.5 s), so the cap may cut it off
            started = time.monotonic()
            await second.send(stalled)
            answer = await read_until_closed(first, within)
            elapsed = time.monotonic() - started
        stop.set()
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert elapsed < within, elapsed
