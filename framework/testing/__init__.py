"""Testing support: the local QQ platform emulator and the test client built on it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework._lazy import lazy_exports

if TYPE_CHECKING:
    from framework.emulator import Emulator, EmulatorConfig
    from framework.testing.chat import C2CChat, ChannelChat, ChannelUser, DirectChat, GroupChat, GroupUser
    from framework.testing.client import (
        BotErrorsNotChecked,
        Chat,
        HandlerFailure,
        PendingEventsError,
        Transport,
        connect,
        grant_needed,
        inprocess_runner,
    )
    from framework.testing.clocks import ManualClock
    from framework.testing.edge import emulator_credentials, emulator_env, emulator_platform

# Exports load on first use (PEP 562): the pytest plugin imports this package in every test run.
_EXPORTS = {
    "BotErrorsNotChecked": "framework.testing.client",
    "C2CChat": "framework.testing.chat",
    "ChannelChat": "framework.testing.chat",
    "ChannelUser": "framework.testing.chat",
    "Chat": "framework.testing.client",
    "DirectChat": "framework.testing.chat",
    "Emulator": "framework.emulator",
    "EmulatorConfig": "framework.emulator",
    "GroupChat": "framework.testing.chat",
    "GroupUser": "framework.testing.chat",
    "HandlerFailure": "framework.testing.client",
    "ManualClock": "framework.testing.clocks",
    "PendingEventsError": "framework.testing.client",
    "Transport": "framework.testing.client",
    "connect": "framework.testing.client",
    "emulator_credentials": "framework.testing.edge",
    "emulator_env": "framework.testing.edge",
    "emulator_platform": "framework.testing.edge",
    "grant_needed": "framework.testing.client",
    "inprocess_runner": "framework.testing.client",
}

__all__ = [
    "BotErrorsNotChecked",
    "C2CChat",
    "ChannelChat",
    "ChannelUser",
    "Chat",
    "DirectChat",
    "Emulator",
    "EmulatorConfig",
    "GroupChat",
    "GroupUser",
    "HandlerFailure",
    "ManualClock",
    "PendingEventsError",
    "Transport",
    "connect",
    "emulator_credentials",
    "emulator_env",
    "emulator_platform",
    "grant_needed",
    "inprocess_runner",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
