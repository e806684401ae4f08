"""Bot settings from a TOML file and ``QQBOT_*`` environment variables, validated with msgspec.

Precedence, highest first: the real environment, ``.env.<profile>``, ``.env``, the TOML file, the
defaults. The ``.env`` files are read from the TOML file's directory (the current directory when no
file is named); the profile comes from ``profile=`` (``qqbot run --profile``) or ``QQBOT_PROFILE``.
A missing or invalid setting raises :class:`ConfigError` naming the key and what was expected.
Secrets never appear in a ``repr`` or an error message.

==========================  ===================================  =====================================
environment variable        TOML key                             meaning
==========================  ===================================  =====================================
``QQBOT_CONFIG``            —                                    TOML file path (default ``./qqbot.toml``)
``QQBOT_PROFILE``           —                                    also read ``.env.<profile>`` (over ``.env``)
``QQBOT_APP_ID``            ``bot.app_id``                       the bot's AppID
``QQBOT_APP_SECRET``        ``bot.app_secret``                   the bot's AppSecret
``QQBOT_API_BASE``          ``bot.api_base``                     REST base URL (default: production, or sandbox)
``QQBOT_TOKEN_URL``         ``bot.token_url``                    access-token endpoint URL
``QQBOT_SANDBOX``           ``bot.sandbox``                      ``1``/``true``: use the sandbox REST base
``QQBOT_TRANSPORT``         ``bot.transport``                    ``websocket`` (default) or ``webhook``
``QQBOT_SCENES``            ``bot.scenes``                       where the bot serves, e.g. ``group,c2c``
``QQBOT_CONCURRENCY``       ``bot.concurrency``                  handlers running at once (default 64)
``QQBOT_HANDLER_TIMEOUT``   ``bot.handler_timeout``              seconds before a handler is cancelled (60; 0: none)
``QQBOT_SHARD_COUNT``       ``gateway.shard_count``              total shards (default: ``/gateway/bot``)
``QQBOT_SHARD_IDS``         ``gateway.shard_ids``                shards run by this process, e.g. ``0,1``
``QQBOT_SESSIONS``          ``gateway.sessions``                 ``local`` (default) or ``redis://host:6379/0``: a fleet
``QQBOT_REDIS_URL``         ``gateway.sessions``                 the same as ``QQBOT_SESSIONS``
``QQBOT_WEBHOOK_HOST``      ``webhook.host``                     webhook listen address (default 127.0.0.1)
``QQBOT_WEBHOOK_PORT``      ``webhook.port``                     webhook listen port (default 8080)
``QQBOT_WEBHOOK_TOLERANCE`` ``webhook.timestamp_tolerance``      accepted signature-timestamp skew, seconds
``QQBOT_LOG_LEVEL``         ``logging.level``                    DEBUG, INFO (default), WARNING, ERROR
``QQBOT_LOG_FORMAT``        ``logging.format``                   ``text`` (default) or ``json``
``QQBOT_PLUGINS_STRICT``    ``plugins.strict``                   ``1``: a broken plugin stops the bot
``QQBOT_PLUGINS_DISABLED``  ``plugins.disabled``                 comma-separated plugin names not to load
``QQBOT_PLUGINS_ENABLED``   ``plugins.enabled``                  comma-separated installed plugins to load
``QQBOT_PLUGINS_AUTOLOAD``  ``plugins.autoload``                 ``1``: load every installed plugin
``QQBOT_METRICS_PORT``      ``metrics.port``                     serve /metrics, /healthz, /readyz on it
``QQBOT_METRICS_HOST``      ``metrics.host``                     their listen address (default 0.0.0.0)
==========================  ===================================  =====================================

``QQBOT_WEBHOOK_READ_TIMEOUT`` (``webhook.read_timeout``, default 10) and ``QQBOT_WEBHOOK_MAX_CONNECTIONS``
(``webhook.max_connections``, default 256) bound slow webhook clients (docs/reliability.md).

Plugin settings live in TOML tables ``[plugins.<name>]``.
"""

from __future__ import annotations

import os
import re
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

from framework.errors import QQBotError
from framework.models.constants import API_BASE, SANDBOX_API_BASE, TOKEN_URL

__all__ = [
    "BotSettings",
    "ConfigError",
    "GatewaySettings",
    "LoggingSettings",
    "MetricsSettings",
    "PluginSettings",
    "Settings",
    "WebhookSettings",
    "load_settings",
    "read_dotenv",
]


class ConfigError(QQBotError, ValueError):
    """A setting is missing or invalid; the message names the key and what was expected."""


class BotSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    app_id: str | None = None
    app_secret: str | None = None
    api_base: str | None = None
    token_url: str = TOKEN_URL
    sandbox: bool = False
    transport: Literal["websocket", "webhook"] = "websocket"
    scenes: list[Literal["group", "c2c", "guild", "channel", "dm"]] | None = None
    """Where the bot serves (overrides ``Bot(scenes=...)``); see docs/bot.md "Scenes and intents"."""
    concurrency: int | None = None
    """Handlers running at once (overrides ``Bot(concurrency=...)``); one chat's events always run in order."""
    handler_timeout: float | None = None
    """Seconds an event's handlers may run before they are cancelled and reported; 0 turns the limit off."""

    def __repr__(self) -> str:
        secret = "<set>" if self.app_secret else None
        return (
            f"BotSettings(app_id={self.app_id!r}, app_secret={secret!r}, api_base={self.resolved_api_base!r}, "
            f"token_url={self.token_url!r}, sandbox={self.sandbox!r}, transport={self.transport!r})"
        )

    @property
    def has_credentials(self) -> bool:
        """True when both the AppID and the AppSecret are configured."""
        return bool(self.app_id and self.app_secret)

    @property
    def resolved_api_base(self) -> str:
        """``api_base`` if set, else the sandbox or production base."""
        if self.api_base:
            return self.api_base
        return SANDBOX_API_BASE if self.sandbox else API_BASE


class GatewaySettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    shard_count: int | None = None
    shard_ids: list[int] | None = None
    sessions: str = "local"
    """``local``: this process runs its shards alone; ``redis://host:6379/0`` (``?lease_ttl=15&namespace=qqbot``):
    every process with the same URL and app shares the shards through Redis (docs/fleet.md)."""


class WebhookSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 8080
    path: str = "/"
    timestamp_tolerance: float = 300.0
    read_timeout: float = 10.0
    max_connections: int = 256


class LoggingSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class MetricsSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``--metrics-port`` of ``qqbot run``, ``qqbot gateway`` and ``qqbot worker``: Prometheus metrics and
    health probes (the ``metrics`` extra)."""

    port: int | None = None
    """None: no metrics server; 0: any free port (printed at start)."""
    host: str = "0.0.0.0"
    """All interfaces by default: scrapers and Kubernetes probes reach the pod's address, not loopback."""


class PluginSettings(msgspec.Struct, kw_only=True):
    """``strict``, ``disabled``, ``enabled`` (only these, when given) and per-plugin tables."""

    strict: bool = False
    disabled: list[str] = msgspec.field(default_factory=list)
    enabled: list[str] | None = None
    autoload: bool = False
    options: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)

    def as_bot_config(self) -> dict[str, Any]:
        """The ``plugins`` section in the shape ``Bot.configure`` and the plugin manager read."""
        section: dict[str, Any] = {"strict": self.strict, "disabled": list(self.disabled), "autoload": self.autoload}
        if self.enabled is not None:
            section["enabled"] = list(self.enabled)
        section.update(self.options)
        return section


class Settings(msgspec.Struct, kw_only=True):
    """Everything a bot process reads from its configuration."""

    bot: BotSettings = msgspec.field(default_factory=BotSettings)
    gateway: GatewaySettings = msgspec.field(default_factory=GatewaySettings)
    webhook: WebhookSettings = msgspec.field(default_factory=WebhookSettings)
    logging: LoggingSettings = msgspec.field(default_factory=LoggingSettings)
    plugins: PluginSettings = msgspec.field(default_factory=PluginSettings)
    metrics: MetricsSettings = msgspec.field(default_factory=MetricsSettings)
    sources: dict[str, str] = msgspec.field(default_factory=dict)
    """Where each explicitly set key (``"logging.level"``) came from: a file path or a variable name."""


_ENV: dict[str, tuple[str, str]] = {
    "QQBOT_APP_ID": ("bot", "app_id"),
    "QQBOT_APP_SECRET": ("bot", "app_secret"),
    "QQBOT_API_BASE": ("bot", "api_base"),
    "QQBOT_TOKEN_URL": ("bot", "token_url"),
    "QQBOT_SANDBOX": ("bot", "sandbox"),
    "QQBOT_TRANSPORT": ("bot", "transport"),
    "QQBOT_SCENES": ("bot", "scenes"),
    "QQBOT_CONCURRENCY": ("bot", "concurrency"),
    "QQBOT_HANDLER_TIMEOUT": ("bot", "handler_timeout"),
    "QQBOT_SHARD_COUNT": ("gateway", "shard_count"),
    "QQBOT_SHARD_IDS": ("gateway", "shard_ids"),
    "QQBOT_SESSIONS": ("gateway", "sessions"),
    "QQBOT_REDIS_URL": ("gateway", "sessions"),  # the same, under the name the fleet docs also use
    "QQBOT_WEBHOOK_HOST": ("webhook", "host"),
    "QQBOT_WEBHOOK_PORT": ("webhook", "port"),
    "QQBOT_WEBHOOK_TOLERANCE": ("webhook", "timestamp_tolerance"),
    "QQBOT_WEBHOOK_READ_TIMEOUT": ("webhook", "read_timeout"),
    "QQBOT_WEBHOOK_MAX_CONNECTIONS": ("webhook", "max_connections"),
    "QQBOT_LOG_LEVEL": ("logging", "level"),
    "QQBOT_LOG_FORMAT": ("logging", "format"),
    "QQBOT_PLUGINS_STRICT": ("plugins", "strict"),
    "QQBOT_PLUGINS_DISABLED": ("plugins", "disabled"),
    "QQBOT_PLUGINS_ENABLED": ("plugins", "enabled"),
    "QQBOT_PLUGINS_AUTOLOAD": ("plugins", "autoload"),
    "QQBOT_METRICS_PORT": ("metrics", "port"),
    "QQBOT_METRICS_HOST": ("metrics", "host"),
}
_LIST_KEYS = {"shard_ids", "disabled", "enabled", "scenes"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_BOOL_KEYS = {"sandbox", "strict", "autoload"}


def _env_value(name: str, key: str, raw: str) -> Any:
    if key in _BOOL_KEYS:
        low = raw.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ConfigError(f"{name}: expected a boolean (1/0, true/false), got {raw!r}")
    if key in _LIST_KEYS:
        items = [p.strip() for p in raw.split(",") if p.strip()]
        return [int(p) if key == "shard_ids" and p.lstrip("-").isdigit() else p for p in items]
    if key in {"shard_count", "port", "max_connections", "concurrency"}:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected an integer, got {raw!r}") from None
    if key in {"timestamp_tolerance", "read_timeout", "handler_timeout"}:
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected a number of seconds, got {raw!r}") from None
    if key == "level":
        return raw.strip().upper()
    return raw


_PATH_RE = re.compile(r"at `\$\.(?P<path>[^`]+)`")


def _convert(data: Mapping[str, Any], source: str) -> Settings:
    data = dict(data)
    plugins = dict(data.get("plugins") or {})
    options = {k: v for k, v in plugins.items() if isinstance(v, dict)}
    plugins = {k: v for k, v in plugins.items() if not isinstance(v, dict)}
    plugins["options"] = options
    data["plugins"] = plugins
    try:
        return msgspec.convert(data, Settings, strict=False)
    except msgspec.ValidationError as exc:
        msg = str(exc)
        m = _PATH_RE.search(msg)
        key = m.group("path") if m else "?"
        what = _PATH_RE.sub("", msg).strip(" -")
        if "app_secret" in key:
            what = "invalid value (not shown)"
        expected = _expected(key)
        env_names = [n for n, (sec, k) in _ENV.items() if f"{sec}.{k}" == key]
        where = f" (or {env_names[0]})" if env_names else ""
        raise ConfigError(f"{source}: invalid setting `{key}`{where}: {what}{expected}") from None


def _expected(key: str) -> str:
    """Describe the allowed values of a dotted settings key, e.g. the choices of a Literal."""
    node: Any = Settings
    for part in key.split("."):
        hints = typing.get_type_hints(node) if isinstance(node, type) else {}
        if part not in hints:
            return ""
        node = hints[part]
    if typing.get_origin(node) is Literal:
        return f"; expected one of {list(typing.get_args(node))}"
    return ""


_DOTENV_LINE = re.compile(r"^\s*(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?P<value>.*?)\s*$")


def read_dotenv(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``KEY=VALUE`` lines of a ``.env`` file (``#`` comments, ``export``, single/double quotes).

    Raises :class:`ConfigError` naming the file and line of a line that is not ``KEY=VALUE``.
    """
    values: dict[str, str] = {}
    for number, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _DOTENV_LINE.match(line)
        if m is None:
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE, got {line.split('=')[0][:40]!r}")
        value = m.group("value")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
            if raw.strip().split("=", 1)[1].strip().startswith('"'):
                value = value.replace("\\n", "\n").replace('\\"', '"')
        else:
            value = re.split(r"\s+#", value, maxsplit=1)[0].strip()
        values[m.group("key")] = value
    return values


def _layered_environment(
    env: Mapping[str, str], directory: Path, profile: str | None
) -> tuple[dict[str, str], dict[str, str]]:
    """``QQBOT_*`` values from ``.env``, ``.env.<profile>`` and ``env`` (later wins; empty counts as unset),
    and where each came from."""
    layers: list[tuple[str, Mapping[str, str]]] = []
    dotenv = directory / ".env"
    if dotenv.is_file():
        layers.append((str(dotenv), read_dotenv(dotenv)))
    if profile is None:
        profile = env.get("QQBOT_PROFILE", "").strip() or None
        if profile is None and layers:
            profile = layers[0][1].get("QQBOT_PROFILE", "").strip() or None
    if profile:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", profile):
            raise ConfigError(f"QQBOT_PROFILE: expected a name such as dev or prod, got {profile!r}")
        profiled = directory / f".env.{profile}"
        if not profiled.is_file():
            raise ConfigError(f"profile {profile!r}: no file {profiled}; create it or unset QQBOT_PROFILE/--profile")
        layers.append((str(profiled), read_dotenv(profiled)))
    layers.append(("environment", env))
    values: dict[str, str] = {}
    origin: dict[str, str] = {}
    for where, layer in layers:
        for name in _ENV:
            if layer.get(name, "").strip():  # an empty variable (an unfilled .env line) counts as unset
                values[name] = layer[name]
                origin[name] = where if where != "environment" else name
    return values, origin


def load_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    profile: str | None = None,
) -> Settings:
    """Read the TOML file (``path``, ``$QQBOT_CONFIG`` or ``./qqbot.toml`` if present), the ``.env`` files
    beside it (``.env``, then ``.env.<profile>``) and the environment (which wins)."""
    env = os.environ if environ is None else environ
    file_data: dict[str, Any] = {}
    source = "environment"
    chosen = path if path is not None else env.get("QQBOT_CONFIG")
    candidate = Path(chosen) if chosen else Path("qqbot.toml")
    if chosen and not candidate.is_file():
        raise ConfigError(f"config file not found: {candidate}")
    if candidate.is_file():
        source = str(candidate)
        try:
            file_data = tomllib.loads(candidate.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{candidate}: not valid TOML: {exc}") from None
    sections = [name for name in Settings.__struct_fields__ if name != "sources"]
    unknown = set(file_data) - set(sections)
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {sorted(unknown)}; expected {sections}")
    merged: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in file_data.items()}
    sources = {
        f"{section}.{key}": source for section, table in merged.items() if isinstance(table, dict) for key in table
    }
    values, origin = _layered_environment(env, candidate.resolve().parent, profile)
    for name, raw in values.items():
        section, key = _ENV[name]
        merged.setdefault(section, {})[key] = _env_value(name, key, raw)
        sources[f"{section}.{key}"] = origin[name]
    bot_table = merged.get("bot")
    if isinstance(bot_table, dict) and isinstance(bot_table.get("app_id"), int) and bot_table["app_id"] >= 0:
        bot_table["app_id"] = str(bot_table["app_id"])  # `app_id = 102000001` in TOML: the AppID, as text
    settings = _convert(merged, source)
    settings.sources = sources
    bot = settings.bot
    if bool(bot.app_id) != bool(bot.app_secret):
        missing = "QQBOT_APP_SECRET (bot.app_secret)" if bot.app_id else "QQBOT_APP_ID (bot.app_id)"
        raise ConfigError(f"{missing} is missing: set both the AppID and the AppSecret, or neither for the emulator")
    if bot.app_id is not None and not bot.app_id.isdigit():
        raise ConfigError(f"bot.app_id: expected the numeric AppID, got {bot.app_id!r}")
    if bot.concurrency is not None and bot.concurrency < 1:
        raise ConfigError(f"bot.concurrency (QQBOT_CONCURRENCY): expected an integer >= 1, got {bot.concurrency}")
    if bot.handler_timeout is not None and bot.handler_timeout < 0:
        raise ConfigError(
            "bot.handler_timeout (QQBOT_HANDLER_TIMEOUT): expected seconds >= 0 (0: no limit), "
            f"got {bot.handler_timeout}"
        )
    gw = settings.gateway
    if gw.shard_count is not None and gw.shard_count < 1:
        raise ConfigError(f"gateway.shard_count: expected an integer >= 1, got {gw.shard_count}")
    if gw.shard_ids is not None:
        bad = [s for s in gw.shard_ids if not isinstance(s, int) or s < 0]
        if bad:
            raise ConfigError(f"gateway.shard_ids: expected non-negative integers, got {bad}")
        if gw.shard_count is None:
            raise ConfigError("gateway.shard_ids needs gateway.shard_count (QQBOT_SHARD_COUNT)")
        if any(s >= gw.shard_count for s in gw.shard_ids):
            raise ConfigError(f"gateway.shard_ids: every id must be < shard_count ({gw.shard_count})")
    if gw.sessions.strip().lower() != "local":
        if not gw.sessions.strip().lower().startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(
                f"gateway.sessions (QQBOT_SESSIONS): expected 'local' or a redis://HOST:PORT/DB URL, "
                f"got {gw.sessions!r}"
            )
        if gw.shard_ids is not None:
            raise ConfigError("gateway.shard_ids: a fleet (gateway.sessions = redis://...) assigns shards; drop it")
    if not 0 < settings.webhook.port < 65536:
        raise ConfigError(f"webhook.port: expected 1..65535, got {settings.webhook.port}")
    if not settings.webhook.read_timeout > 0:
        raise ConfigError(f"webhook.read_timeout: expected seconds > 0, got {settings.webhook.read_timeout}")
    if settings.webhook.max_connections < 1:
        raise ConfigError(f"webhook.max_connections: expected an integer >= 1, got {settings.webhook.max_connections}")
    return settings
