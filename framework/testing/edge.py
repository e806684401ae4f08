"""The :class:`Credentials` and :class:`Platform` of an emulator, for runners, token managers and settings.

::

    async with Emulator() as emu:                       # in process: no sockets
        runner = BotRunner(bot, credentials=emulator_credentials(emu), platform=emulator_platform(emu),
                           connector=emu.connect_websocket)

    async with emu.serve() as url:                      # loopback: real sockets
        subprocess.run(["qqbot", "run", "mybot:bot"], env=os.environ | emulator_env(emu))

They live here, not on the emulator: the emulator is an independent platform that imports only
``models``, ``clock``, ``protocol`` and ``interfaces`` (``tests/test_layering.py``), while
``Credentials`` registers its secret with ``framework.logs`` and ``Platform`` may carry an httpx
transport, both client-side (``framework.runtime``) concerns.
"""

from __future__ import annotations

from typing import Literal

import httpx

from framework.emulator import Emulator
from framework.runtime.credentials import Credentials
from framework.runtime.platform import Platform

__all__ = ["IN_PROCESS_BASE", "emulator_credentials", "emulator_env", "emulator_platform"]

IN_PROCESS_BASE = "http://emulator"
"""The base URL of in-process requests (the emulator's transport does not route on the host)."""


def emulator_credentials(emulator: Emulator, app_id: str | None = None) -> Credentials:
    """The app id and secret of one of ``emulator``'s apps (default: the first it knows)."""
    apps = emulator.config.apps
    if not apps:
        raise ValueError("the emulator knows no app: give it one with EmulatorConfig(apps={app_id: secret})")
    app = app_id if app_id is not None else next(iter(apps))
    secret = emulator.config.secret_for(app)
    if secret is None:
        raise ValueError(f"the emulator has no app {app!r}; it knows {', '.join(sorted(apps))}")
    return Credentials(app, secret)


def emulator_platform(emulator: Emulator, transport: Literal["inprocess", "loopback"] | None = None) -> Platform:
    """Where ``emulator`` answers, as a :class:`Platform`.

    ``"inprocess"``: ``http://emulator`` on the emulator's in-process HTTP transport (the emulator must
    be running, ``async with emulator:``, when requests are made). ``"loopback"``: the URL it is serving
    on, with a plain ``httpx.AsyncHTTPTransport`` (so no proxy from the environment intercepts
    loopback calls). Default: loopback while the emulator is serving, in process otherwise. Each call
    makes a new transport: build one ``Platform`` per runner.
    """
    if transport is None:
        transport = "loopback" if emulator.url is not None else "inprocess"
    if transport == "inprocess":
        return Platform.at(IN_PROCESS_BASE, http_transport=emulator.http_transport())
    if transport == "loopback":
        url = emulator.url
        if url is None:
            raise ValueError(
                "the emulator is not serving: use it inside `async with emulator.serve() as url:`, "
                "or ask for transport='inprocess'"
            )
        return Platform.at(url, http_transport=httpx.AsyncHTTPTransport())
    raise ValueError(f"transport must be 'inprocess' or 'loopback', not {transport!r}")


def emulator_env(emulator: Emulator, app_id: str | None = None) -> dict[str, str]:
    """The settings that point a bot in another process (``qqbot run``, a launch script) at ``emulator``
    while it is serving: ``QQBOT_APP_ID``, ``QQBOT_APP_SECRET``, ``QQBOT_API_BASE``, ``QQBOT_TOKEN_URL``."""
    url = emulator.url
    if url is None:
        raise ValueError("the emulator is not serving: call emulator_env inside `async with emulator.serve():`")
    credentials = emulator_credentials(emulator, app_id)
    platform = Platform.at(url)
    return {
        "QQBOT_APP_ID": credentials.app_id,
        "QQBOT_APP_SECRET": credentials.app_secret,
        "QQBOT_API_BASE": platform.api_base,
        "QQBOT_TOKEN_URL": platform.token_url,
    }
