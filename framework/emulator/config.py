"""Configuration of the local platform emulator: apps, tokens, gateway, limits and reply rules.

Every field has a default, so ``EmulatorConfig()`` is a working single-app emulator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from framework.models.intents import DEFAULT_PERMITTED

__all__ = ["DEFAULT_APP_ID", "DEFAULT_APP_SECRET", "EmulatorConfig", "SessionStartLimitConfig"]

#: The app the default configuration knows.
DEFAULT_APP_ID = "102000001"
#: Its secret (a test value, not a real credential).
DEFAULT_APP_SECRET = "emulator-secret"


@dataclass
class SessionStartLimitConfig:
    """Initial ``session_start_limit`` of ``GET /gateway/bot`` (protocol.md §2.1)."""

    total: int = 1000
    remaining: int = 1000
    reset_after_ms: int = 86_400_000
    max_concurrency: int = 1


@dataclass
class EmulatorConfig:
    """What the emulated platform looks like and which rules it enforces."""

    apps: dict[str, str] = field(default_factory=lambda: {DEFAULT_APP_ID: DEFAULT_APP_SECRET})
    """app_id -> client secret."""
    token_ttl: int = 7200
    """Access-token lifetime in seconds (``expires_in``)."""
    token_overlap: int = 60
    """In the last ``token_overlap`` seconds a token request mints a new token; the old one stays valid."""

    bot_id: str = "6158788878435714165"
    """The bot user's id (a numeric string: botpy does ``int(id)``)."""
    bot_username: str = "emulator-bot"
    bot_avatar: str = "http://thirdqq.qlogo.cn/0"

    host: str = "127.0.0.1"
    port: int = 0
    """Port of the network server (0 = ephemeral)."""

    heartbeat_interval_ms: int = 41250
    reconnect_every: float | None = None
    """Seconds between server-initiated op 7 reconnects (None = never)."""
    shards: int = 1
    """Recommended shard count returned by ``/gateway/bot``."""
    session_start_limit: SessionStartLimitConfig = field(default_factory=SessionStartLimitConfig)
    allowed_intents: dict[str, int] = field(default_factory=dict)
    """app_id -> intent mask the app may use (what the open platform approved for it)."""
    default_intents: int = int(DEFAULT_PERMITTED)
    """The mask of an app not in ``allowed_intents``: what a new bot has (GUILDS, PUBLIC_GUILD_MESSAGES,
    GUILD_MEMBERS). The test client and ``qqbot run`` without credentials grant the bot what it needs."""

    c2c_reply_window: float = 3600
    group_reply_window: float = 300
    guild_reply_window: float = 300
    dm_reply_window: float = 300
    event_reply_window: float = 300
    """How long an ``event_id`` may be replied to (UNCONFIRMED: no published value; 5 min chosen)."""
    c2c_replies_per_msg: int = 4
    """Passive replies per C2C user message: 4 since 2026-01-10 (protocol.md §0, §5.3; was 5)."""
    group_replies_per_msg: int = 5
    guild_replies_per_msg: int | None = None
    """None = unlimited (the platform publishes no per-message cap for guild channels and DMs)."""
    event_replies_per_event: int = 5
    """Replies allowed per ``event_id`` (UNCONFIRMED; chosen equal to the per-message cap)."""
    allow_active_messages: bool = False
    """Allow sends without ``msg_id``/``event_id``. The 2025+ platform refuses them (40034102)."""
    recall_window: float = 120
    """Seconds within which the bot may recall its group/C2C messages."""
    upload_ttl: int = 3600
    """``ttl`` of a rich-media upload in seconds (0 would mean long-lived)."""
    audit_mode: str = "off"
    """Proactive guild/DM sends: ``off`` (sent at once), ``pass``/``reject`` (answered 202 + 304023 and
    followed by MESSAGE_AUDIT_PASS/REJECT after ``audit_delay`` seconds; protocol.md §0 "Audit")."""
    audit_delay: float = 0.0
    audit_status: int = 202
    """HTTP status of the audit answer: 202 (BD) or 200 (also seen; nonebot accepts 200-202)."""

    webhook_url: str | None = None
    """Where the webhook sender POSTs events (None = webhook mode off)."""
    webhook_retries: int = 3
    webhook_timeout: float = 5.0

    def __post_init__(self) -> None:
        if self.token_ttl <= 0 or not 0 <= self.token_overlap < self.token_ttl:
            raise ValueError("token_ttl must be > 0 and 0 <= token_overlap < token_ttl")
        if self.shards < 1:
            raise ValueError("shards must be >= 1")
        windows = (self.c2c_reply_window, self.group_reply_window, self.guild_reply_window, self.dm_reply_window)
        if min(*windows, self.event_reply_window, self.recall_window) < 0:
            raise ValueError("reply and recall windows must be >= 0")
        if self.audit_mode not in ("off", "pass", "reject") or self.audit_delay < 0:
            raise ValueError("audit_mode must be off, pass or reject and audit_delay >= 0")
        if self.audit_status not in (200, 201, 202):
            raise ValueError("audit_status must be 200, 201 or 202")
        caps = (self.c2c_replies_per_msg, self.group_replies_per_msg, self.event_replies_per_event)
        if min(caps) < 0 or (self.guild_replies_per_msg is not None and self.guild_replies_per_msg < 0):
            raise ValueError("reply caps must be >= 0")

    def secret_for(self, app_id: str) -> str | None:
        """The secret of ``app_id`` or None if the app is unknown."""
        return self.apps.get(app_id)

    def intents_allowed(self, app_id: str) -> int | None:
        """The intent mask ``app_id`` may use (``default_intents`` unless the app is listed)."""
        return self.allowed_intents.get(app_id, self.default_intents)

    def grant(self, app_id: str, intents: int) -> None:
        """Let ``app_id`` also use ``intents`` (as if the open platform approved them)."""
        self.allowed_intents[app_id] = (self.intents_allowed(app_id) or 0) | int(intents)

    def __repr__(self) -> str:  # never show secrets
        return (
            f"EmulatorConfig(apps={sorted(self.apps)!r}, bot_id={self.bot_id!r}, shards={self.shards}, "
            f"webhook_url={self.webhook_url!r})"
        )
