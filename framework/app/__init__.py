"""The app layer: the declarative :class:`Bot`, its routers, context, commands, rules and middleware."""

from framework.app.api import ApiClient, ApiRequest
from framework.app.bot import Bot
from framework.app.commands import Argument, Command
from framework.app.context import Context, FileType, Upload, normalize_text
from framework.app.errors import (
    BotError,
    CommandArgumentError,
    HandlerSignatureError,
    HandlerTimeoutError,
    IntentsError,
    NoReplyTargetError,
    NotBoundError,
    WaitTimeoutError,
)
from framework.app.guards import CommandError, CommandOnCooldown, Cooldown, MissingPermission, allowed
from framework.app.handlers import Handler, HandlerOptions, Hook, Registration
from framework.app.middleware import CallNext, Middleware
from framework.app.router import Router
from framework.app.rules import (
    Rule,
    admins_only,
    from_users,
    in_channels,
    in_groups,
    in_guilds,
    in_scenes,
    keywords,
    regex,
    rule,
    startswith,
)
from framework.app.scenes import ReplyTarget, Scene
from framework.app.schedules import ProactiveMessageError

__all__ = [
    "ApiClient",
    "ApiRequest",
    "Argument",
    "Bot",
    "BotError",
    "CallNext",
    "Command",
    "CommandArgumentError",
    "CommandError",
    "CommandOnCooldown",
    "Context",
    "Cooldown",
    "FileType",
    "Handler",
    "HandlerOptions",
    "HandlerSignatureError",
    "HandlerTimeoutError",
    "Hook",
    "IntentsError",
    "Middleware",
    "MissingPermission",
    "NoReplyTargetError",
    "NotBoundError",
    "ProactiveMessageError",
    "Registration",
    "ReplyTarget",
    "Router",
    "Rule",
    "Scene",
    "Upload",
    "WaitTimeoutError",
    "admins_only",
    "allowed",
    "from_users",
    "in_channels",
    "in_groups",
    "in_guilds",
    "in_scenes",
    "keywords",
    "normalize_text",
    "regex",
    "rule",
    "startswith",
]
