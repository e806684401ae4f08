"""Errors raised by the app layer: registration, start-up and command parsing."""

from __future__ import annotations

from framework.errors import QQBotError

__all__ = [
    "BotError",
    "CommandArgumentError",
    "HandlerSignatureError",
    "HandlerTimeoutError",
    "IntentsError",
    "NoReplyTargetError",
    "NotBoundError",
    "WaitTimeoutError",
]


class BotError(QQBotError):
    """Base of every app-layer error."""


class HandlerSignatureError(BotError, TypeError):
    """A handler's parameters cannot be satisfied; raised when the handler is registered."""

    def __init__(self, handler: str, parameter: str, reason: str) -> None:
        self.handler = handler
        self.parameter = parameter
        super().__init__(f"handler {handler!r}: parameter {parameter!r} {reason}")


class IntentsError(BotError):
    """Handlers need intents that an explicit ``Bot(intents=...)`` override excludes (raised at start)."""


class CommandArgumentError(BotError, ValueError):
    """A command's arguments did not parse; the message becomes the usage reply."""


class NoReplyTargetError(BotError):
    """``ctx.reply`` was called for an event that has no scene to answer in."""


class NotBoundError(BotError):
    """The bot has no API client yet (call ``bot.bind(api)`` or start the bot first)."""


class WaitTimeoutError(BotError, TimeoutError):
    """No matching message or event arrived within the timeout of ``ctx.prompt`` or ``bot.wait_for``."""


class HandlerTimeoutError(BotError):
    """An event's handlers ran past ``Bot.handler_timeout`` and were cancelled (reported to ``on_error``)."""
