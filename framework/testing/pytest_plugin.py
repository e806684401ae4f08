"""pytest plugin (entry point ``qqbot``): fixtures for testing bots against the emulator.

- ``qqbot_emulator``: a fresh :class:`~framework.emulator.Emulator` (not started; seed its
  ``world`` or change its ``config`` before connecting).
- ``qqbot_connect``: ``connect`` bound to that emulator: ``async with qqbot_connect(bot) as chat: ...``.
- ``qqbot_chat``: an async fixture yielding a connected :class:`~framework.testing.Chat` for the bot
  returned by a ``qqbot_bot`` fixture you define (tests using it must be ``@pytest.mark.anyio``).

The framework is imported when a fixture is first used, so merely installing the package costs
other projects' test runs nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol

import pytest

if TYPE_CHECKING:
    from framework.app import Bot
    from framework.emulator import Emulator
    from framework.testing.client import Chat

__all__ = ["ConnectFactory", "qqbot_bot", "qqbot_chat", "qqbot_connect", "qqbot_emulator"]


class ConnectFactory(Protocol):
    """What ``qqbot_connect`` is: ``connect(bot, **options)`` on the test's emulator."""

    def __call__(self, bot: Bot, /, **options: Any) -> AbstractAsyncContextManager[Chat]: ...


@pytest.fixture
def qqbot_emulator() -> Emulator:
    """A fresh emulator for this test (default config: one app, every platform rule on)."""
    from framework.emulator import Emulator

    return Emulator()


@pytest.fixture
def qqbot_connect(qqbot_emulator: Emulator) -> ConnectFactory:
    """``connect`` on ``qqbot_emulator``: ``async with qqbot_connect(bot, transport="loopback") as chat``."""
    from framework.testing.client import connect

    def factory(bot: Bot, /, **options: Any) -> AbstractAsyncContextManager[Chat]:
        return connect(bot, emulator=qqbot_emulator, **options)

    return factory


@pytest.fixture
def qqbot_bot() -> Bot:
    """Override this fixture to return the bot that ``qqbot_chat`` connects."""
    raise pytest.UsageError("define a `qqbot_bot` fixture returning your Bot to use `qqbot_chat`")


@pytest.fixture
async def qqbot_chat(qqbot_bot: Bot, qqbot_emulator: Emulator) -> AsyncIterator[Chat]:
    """``qqbot_bot`` connected to ``qqbot_emulator`` in process (needs ``@pytest.mark.anyio``)."""
    from framework.testing.client import connect

    async with connect(qqbot_bot, emulator=qqbot_emulator) as chat:
        yield chat
