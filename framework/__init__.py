"""qqbot-framework: build, test and run QQ open-platform bots.

The public surface is re-exported here; submodules hold the layers (see ``docs/architecture.md``).

What a bot author needs (``Bot``, ``Context``, rules, ``Intents``, the event models) is imported
eagerly. The I/O side — credentials, the OpenAPI client and its errors, session
managers, ``BotRunner``/``run_webhook`` and the webhook app — pulls in httpx, websockets and hypercorn,
so those names load on first use (PEP 562) and ``import framework`` stays light; so do the settings loader
and the logging setup, which a program uses once at start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework._deprecated import deprecated_names
from framework._lazy import lazy_exports
from framework.app import (
    Argument,
    Bot,
    BotError,
    CallNext,
    Command,
    CommandArgumentError,
    Context,
    FileType,
    HandlerSignatureError,
    HandlerTimeoutError,
    IntentsError,
    Middleware,
    NoReplyTargetError,
    NotBoundError,
    ReplyTarget,
    Router,
    Rule,
    Scene,
    Upload,
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
from framework.errors import ConnectError, ConnectTimeout, QQBotError, TransportError
from framework.models import (
    EVENT_TABLE,
    Ark,
    ArkKv,
    ArkObj,
    ArkObjKv,
    C2CMessage,
    Channel,
    DirectMessage,
    Embed,
    EmbedField,
    GroupMessage,
    Guild,
    InboundEvent,
    Intents,
    Interaction,
    Member,
    Message,
    MessageReference,
    Thumbnail,
    User,
    intents_for,
)
from framework.models.api import Keyboard, Markdown, MarkdownParam, Media, MediaInfo, MessageToCreate, MsgType
from framework.plugins import hookimpl

if TYPE_CHECKING:
    from framework.config import ConfigError, Settings, load_settings
    from framework.logs import configure_logging
    from framework.runner import BotRunner, run_webhook
    from framework.runtime.credentials import AccessTokenError, Credentials, TokenManager
    from framework.runtime.credentials import AuthError as AuthError  # deprecated alias of AccessTokenError
    from framework.runtime.gateway.sessions import LocalSessionManager, SessionManager
    from framework.runtime.openapi import (
        AuthenticationError,
        BadRequestError,
        Delivered,
        DuplicateMessageError,
        ForbiddenError,
        InvalidReplyTargetError,
        LegacyTokenDisabledError,
        NetworkError,
        NotFoundError,
        OpenAPI,
        OpenAPIError,
        PendingAudit,
        RateLimitedError,
        ReplyWindowExpiredError,
        ServerError,
        UnexpectedResponseError,
    )
    from framework.runtime.platform import Platform
    from framework.runtime.webhook import WebhookApp, serve_webhook

__version__ = "0.1.0"

_OPENAPI = "framework.runtime.openapi"
_LAZY: dict[str, str] = {
    "AccessTokenError": "framework.runtime.credentials",
    "Credentials": "framework.runtime.credentials",
    "TokenManager": "framework.runtime.credentials",
    "Platform": "framework.runtime.platform",
    "OpenAPI": _OPENAPI,
    "OpenAPIError": _OPENAPI,
    "AuthenticationError": _OPENAPI,
    "BadRequestError": _OPENAPI,
    "DuplicateMessageError": _OPENAPI,
    "ForbiddenError": _OPENAPI,
    "InvalidReplyTargetError": _OPENAPI,
    "LegacyTokenDisabledError": _OPENAPI,
    "NetworkError": _OPENAPI,
    "NotFoundError": _OPENAPI,
    "RateLimitedError": _OPENAPI,
    "ReplyWindowExpiredError": _OPENAPI,
    "ServerError": _OPENAPI,
    "PendingAudit": _OPENAPI,
    "Delivered": _OPENAPI,
    "UnexpectedResponseError": _OPENAPI,
    "LocalSessionManager": "framework.runtime.gateway.sessions",
    "SessionManager": "framework.runtime.gateway.sessions",
    "BotRunner": "framework.runner",
    "run_webhook": "framework.runner",
    "WebhookApp": "framework.runtime.webhook",
    "serve_webhook": "framework.runtime.webhook",
    # settings (tomllib) and logging setup: used once at start, not by every importer (≈10 ms of the import)
    "ConfigError": "framework.config",
    "Settings": "framework.config",
    "load_settings": "framework.config",
    "configure_logging": "framework.logs",
}

__all__ = [
    "EVENT_TABLE",
    "AccessTokenError",
    "Argument",
    "Ark",
    "ArkKv",
    "ArkObj",
    "ArkObjKv",
    "AuthenticationError",
    "BadRequestError",
    "Bot",
    "BotError",
    "BotRunner",
    "C2CMessage",
    "CallNext",
    "Channel",
    "Command",
    "CommandArgumentError",
    "ConfigError",
    "ConnectError",
    "ConnectTimeout",
    "Context",
    "Credentials",
    "Delivered",
    "DirectMessage",
    "DuplicateMessageError",
    "Embed",
    "EmbedField",
    "FileType",
    "ForbiddenError",
    "GroupMessage",
    "Guild",
    "HandlerSignatureError",
    "HandlerTimeoutError",
    "InboundEvent",
    "Intents",
    "IntentsError",
    "Interaction",
    "InvalidReplyTargetError",
    "Keyboard",
    "LegacyTokenDisabledError",
    "LocalSessionManager",
    "Markdown",
    "MarkdownParam",
    "Media",
    "MediaInfo",
    "Member",
    "Message",
    "MessageReference",
    "MessageToCreate",
    "Middleware",
    "MsgType",
    "NetworkError",
    "NoReplyTargetError",
    "NotBoundError",
    "NotFoundError",
    "OpenAPI",
    "OpenAPIError",
    "PendingAudit",
    "Platform",
    "QQBotError",
    "RateLimitedError",
    "ReplyTarget",
    "ReplyWindowExpiredError",
    "Router",
    "Rule",
    "Scene",
    "ServerError",
    "SessionManager",
    "Settings",
    "Thumbnail",
    "TokenManager",
    "TransportError",
    "UnexpectedResponseError",
    "Upload",
    "User",
    "WebhookApp",
    "__version__",
    "admins_only",
    "configure_logging",
    "from_users",
    "hookimpl",
    "in_channels",
    "in_groups",
    "in_guilds",
    "in_scenes",
    "intents_for",
    "keywords",
    "load_settings",
    "regex",
    "rule",
    "run_webhook",
    "serve_webhook",
    "startswith",
]

_lazy_getattr, __dir__ = lazy_exports(__name__, _LAZY)
__getattr__ = deprecated_names(__name__, {"AuthError": "AccessTokenError"}, _lazy_getattr)
