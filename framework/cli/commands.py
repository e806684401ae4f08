"""``qqbot run`` and ``qqbot check``."""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

import anyio

from framework.app import Bot, BotError
from framework.cli.errors import explain, root_causes
from framework.cli.loader import BotLoadError, load_object
from framework.config import ConfigError, Settings, load_settings
from framework.logs import configure_logging, register_secret
from framework.plugins.manager import PluginError
from framework.runtime.gateway.signals import wait_for_signal

if TYPE_CHECKING:
    from framework.runtime.credentials import Credentials
    from framework.runtime.platform import Platform

__all__ = ["check", "load", "run"]

log = logging.getLogger("framework.cli")


def _fail(message: str, stream: TextIO | None = None) -> int:
    print(f"qqbot: error: {message}", file=stream or sys.stderr)
    return 1


_USER_ERRORS = (ConfigError, BotLoadError, BotError)


def _plugin_failure(exc: PluginError) -> int:
    return _fail(explain(exc).line)


def _user_error(exc: Exception) -> int:
    """A bad config, bot reference or bot definition: the user's traceback (if any), then one line."""
    details = getattr(exc, "details", "")
    if details:
        print(details, file=sys.stderr, end="")
    return _fail(str(exc))


def _overrides(settings: Settings, args: argparse.Namespace) -> None:
    """Apply command-line options over the file and environment settings."""
    if getattr(args, "transport", None):
        settings.bot.transport = args.transport
    if getattr(args, "host", None):
        settings.webhook.host = args.host
    if getattr(args, "port", None) is not None:
        if not 0 < args.port < 65536:
            raise ConfigError(f"--port: expected 1..65535, got {args.port}")
        settings.webhook.port = args.port
    if getattr(args, "concurrency", None) is not None:
        if args.concurrency < 1:
            raise ConfigError(f"--concurrency: expected an integer >= 1, got {args.concurrency}")
        settings.bot.concurrency = args.concurrency
    if getattr(args, "handler_timeout", None) is not None:
        if args.handler_timeout < 0:
            raise ConfigError(f"--handler-timeout: expected seconds >= 0 (0: no limit), got {args.handler_timeout}")
        settings.bot.handler_timeout = args.handler_timeout
    if getattr(args, "shard_count", None) is not None:
        if args.shard_count < 1:
            raise ConfigError(f"--shard-count: expected an integer >= 1, got {args.shard_count}")
        settings.gateway.shard_count = args.shard_count
    if getattr(args, "shard_ids", None):
        try:
            ids = [int(p) for p in args.shard_ids.split(",") if p.strip()]
        except ValueError:
            raise ConfigError(f"--shard-ids: expected comma-separated integers, got {args.shard_ids!r}") from None
        count = settings.gateway.shard_count
        if count is None:
            raise ConfigError("--shard-ids needs --shard-count (or gateway.shard_count)")
        if any(i < 0 or i >= count for i in ids):
            raise ConfigError(f"--shard-ids: every id must be in 0..{count - 1}, got {ids}")
        settings.gateway.shard_ids = ids
    if getattr(args, "sessions", None):
        settings.gateway.sessions = args.sessions
    if settings.gateway.sessions.strip().lower() != "local":
        from urllib.parse import urlsplit

        from framework.runtime.gateway.sessions.redis import parse_sessions_url

        try:
            fleet = parse_sessions_url(settings.gateway.sessions.strip())
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        password = urlsplit(fleet.redis_url).password
        if password:
            register_secret(password)  # the URL may be logged or printed
        if settings.gateway.shard_ids is not None:
            raise ConfigError("--shard-ids: a fleet (--sessions redis://...) assigns shards itself; drop it")
    if getattr(args, "log_level", None):
        settings.logging.level = args.log_level
    if getattr(args, "log_format", None):
        settings.logging.format = args.log_format
    if getattr(args, "metrics_port", None) is not None:
        settings.metrics.port = args.metrics_port
    if settings.metrics.port is not None and not 0 <= settings.metrics.port < 65536:
        raise ConfigError(f"--metrics-port: expected 0..65535 (0: any free port), got {settings.metrics.port}")


def load(args: argparse.Namespace) -> tuple[Settings, Bot]:
    """Read the settings, load the bot named on the command line and apply the config to it."""
    settings = load_settings(args.config, profile=getattr(args, "profile", None))
    _overrides(settings, args)
    register_secret(settings.bot.app_secret)
    obj = load_object(args.bot)
    if not isinstance(obj, Bot):
        raise BotLoadError(f"{args.bot} is a {type(obj).__name__}, not a framework Bot")
    section: dict[str, Any] = {"plugins": settings.plugins.as_bot_config()}
    bot_section: dict[str, Any] = {}
    if settings.bot.scenes is not None:  # [bot] scenes / QQBOT_SCENES win over Bot(scenes=...)
        bot_section["scenes"] = list(settings.bot.scenes)
    if settings.bot.concurrency is not None:  # likewise concurrency and handler_timeout
        bot_section["concurrency"] = settings.bot.concurrency
    if settings.bot.handler_timeout is not None:
        bot_section["handler_timeout"] = settings.bot.handler_timeout
    if bot_section:
        section["bot"] = bot_section
    obj.configure(section)
    return settings, obj


def check(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Validate the config and print the computed intents, handlers, commands and plugins."""
    out = out or sys.stdout
    try:
        settings, bot = load(args)
        bot.prepare()
        info = bot.describe()
    except _USER_ERRORS as exc:
        return _user_error(exc)
    except PluginError as exc:  # plugins.strict: the first broken plugin stops it
        return _plugin_failure(exc)
    intents = bot.intents
    mode = "platform" if settings.bot.has_credentials else "embedded emulator (no credentials configured)"
    print(f"bot:        {info['name']}", file=out)
    print(f"connects:   {mode}; transport {settings.bot.transport}", file=out)
    if settings.bot.has_credentials:
        print(f"app id:     {settings.bot.app_id}  api: {settings.bot.resolved_api_base}", file=out)
    scenes = ", ".join(info["scenes"])
    said = "" if info["scenes_declared"] else "  (not set: [bot] scenes, QQBOT_SCENES or Bot(scenes=...))"
    print(f"scenes:     {scenes}{said}", file=out)
    print(f"intents:    {int(intents)} = {' | '.join(info['intents']) or 'none'}", file=out)
    for row in info["intent_report"]:
        kind = "required" if row["required"] else "optional"
        users = ", ".join(row["needed_by"]) or "-"
        print(f"  {row['name']:<24} {kind:<9} {row['approval']:<21} {users}", file=out)
    if any(row["approval"] != "granted to every bot" for row in info["intent_report"]):
        print(
            "  (apply for intents marked 'needs approval' on the open platform, q.qq.com; an optional one the "
            "platform refuses is dropped at identify, a required one stops the bot)",
            file=out,
        )
    print(f"handlers:   {len(info['handlers'])}", file=out)
    for h in info["handlers"]:
        owner = f"  (plugin {h['plugin']})" if h["plugin"] else ""
        print(f"  {h['event']:<28} {h['handler']}{owner}", file=out)
    print(f"commands:   {len(info['commands'])}", file=out)
    for c in info["commands"]:
        aliases = f" (aliases: {', '.join(c['aliases'])})" if c["aliases"] else ""
        print(f"  {c['usage']}{aliases}", file=out)
    print(f"middleware: {len(info['middleware'])}", file=out)
    if info["jobs"]:
        print(f"jobs:       {len(info['jobs'])}", file=out)
        for j in info["jobs"]:
            owner = f"  (plugin {j['plugin']})" if j["plugin"] else ""
            print(f"  {j['schedule']:<40} {j['name']}{owner}", file=out)
    print(f"plugins:    {', '.join(info['plugins']) or 'none'}", file=out)
    for failure in info["plugin_failures"]:
        print(f"  FAILED {failure}", file=out)
    return 1 if info["plugin_failures"] else 0


def run(args: argparse.Namespace) -> int:
    """``qqbot run``: the emulator and console without credentials, the platform with them."""
    try:
        settings, bot = load(args)
        use_emulator = args.emulator or not settings.bot.has_credentials
        console = use_emulator and not args.no_console
        # the console owns the terminal: only warnings unless a level was set (option, environment, files)
        explicit = args.log_level or "logging.level" in settings.sources
        level = settings.logging.level if explicit or not console else "WARNING"
        configure_logging(level, settings.logging.format)
        if not getattr(args, "reload", False):  # with --reload the child processes run the bot and serve metrics
            _observability(bot, settings)
        bot.prepare()
    except _USER_ERRORS as exc:
        return _user_error(exc)
    except PluginError as exc:  # plugins.strict: the first broken plugin stops it
        return _plugin_failure(exc)
    main: Callable[[], Any]
    if getattr(args, "reload", False):
        from framework.cli.reload import run_reload

        def main() -> Any:
            return run_reload(args, use_emulator=use_emulator, console=console)
    elif console:
        from framework.cli.console import run_console

        if settings.bot.transport == "webhook":
            log.warning("the console talks to the bot over the gateway; for webhook mode locally use --no-console")

        def main() -> Any:
            return run_console(bot)
    elif use_emulator and settings.bot.transport == "webhook":

        def main() -> Any:
            return _serve_webhook_with_emulator(bot, settings, args.emulator_port)
    elif use_emulator:

        def main() -> Any:
            return _serve_with_emulator(bot, settings, args.emulator_port)
    elif settings.bot.transport == "webhook":
        assert settings.bot.app_id and settings.bot.app_secret

        def main() -> Any:
            return _run_webhook(bot, settings, _credentials(settings), _platform(settings), host=settings.webhook.host)
    else:
        assert settings.bot.app_id and settings.bot.app_secret

        def main() -> Any:
            return _run_gateway(bot, settings, _credentials(settings), _platform(settings))

    try:
        result = anyio.run(main)
    except BaseException as exc:  # a refused secret, a busy port, an unreachable platform: say it plainly
        causes = root_causes(exc)
        if all(isinstance(c, KeyboardInterrupt | asyncio.CancelledError) for c in causes):
            return 130
        if isinstance(exc, SystemExit):
            raise
        return _explain_failure(exc, settings)
    return int(result or 0)


def _observability(bot: Bot, settings: Settings) -> None:
    """``--metrics-port``: the metrics plugin, serving before the bot starts; JSON logs: the event fields."""
    if settings.logging.format == "json":
        from framework.observability.logfields import EventLogFields

        bot.plugins.add(EventLogFields(), "event-log-fields")
    if settings.metrics.port is None:
        return
    try:
        from framework.observability.metrics import MetricsPlugin
    except ImportError as exc:
        raise ConfigError(
            f"--metrics-port needs prometheus-client ({exc.name} is not installed); "
            "pip install 'qqbot-framework[metrics]'"
        ) from None
    plugin = MetricsPlugin(settings.metrics.port, host=settings.metrics.host)
    try:
        host, port = plugin.serve()
    except OSError as exc:  # the port is taken: one line naming it and the fix
        raise ConfigError(exc.strerror or str(exc)) from None
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    print(f"metrics serving on http://{shown}:{port}/metrics (probes: /healthz, /readyz)", flush=True)
    bot.plugins.add(plugin, "metrics")


def _explain_failure(exc: BaseException, settings: Settings) -> int:
    """Print the one line that names the cause and the fix; the traceback too when it is our bug."""
    explained = explain(
        exc,
        app_id=settings.bot.app_id,
        port=settings.webhook.port if settings.bot.transport == "webhook" else None,
        api_base=settings.bot.resolved_api_base,
        token_url=settings.bot.token_url,
    )
    if explained.bug:
        import traceback

        from framework.logs import redact

        print(redact("".join(traceback.format_exception(exc))), file=sys.stderr, end="")
    else:
        log.debug("fatal error", exc_info=exc)
    return _fail(explained.line)


async def _until_signal(stop: Callable[[], None]) -> None:
    await wait_for_signal()
    stop()


def _announce(bot: Bot, settings: Settings, where: str = "") -> None:
    """Say that the bot is ready: a log record with ``--log-format json``, a plain line otherwise."""
    text = f"bot {bot.name!r} is ready{where}; press Ctrl-C to stop"
    if settings.logging.format == "json":
        log.info("%s", text)
    else:
        print(text, flush=True)


def _credentials(settings: Settings) -> Credentials:
    from framework.runtime.credentials import Credentials

    return Credentials.from_settings(settings.bot)


def _platform(settings: Settings) -> Platform:
    from framework.runtime.platform import Platform

    return Platform.from_settings(settings.bot)


async def _run_gateway(bot: Bot, settings: Settings, credentials: Credentials, platform: Platform) -> int:
    """Run ``bot`` over the gateway until SIGINT/SIGTERM (or a fatal gateway error)."""
    from framework.runner import BotRunner

    runner = BotRunner(
        bot,
        credentials=credentials,
        platform=platform,
        shard_ids=settings.gateway.shard_ids,
        shard_count=settings.gateway.shard_count,
        sessions=settings.gateway.sessions,
    )
    async with anyio.create_task_group() as tg, runner:
        tg.start_soon(_until_signal, runner.stop)
        await runner.wait_ready()  # each shard logs its own "ready" line
        _announce(bot, settings)
        await runner.wait_closed()
        tg.cancel_scope.cancel()
    return 0


async def _run_webhook(
    bot: Bot,
    settings: Settings,
    credentials: Credentials,
    platform: Platform,
    *,
    host: str,
    on_ready: Callable[[str], None] | None = None,
) -> int:
    """Serve ``bot``'s webhook callbacks on ``host``:``settings.webhook.port`` until SIGINT/SIGTERM."""
    from framework.runner import run_webhook

    async with anyio.create_task_group() as tg:
        bound_host, bound_port = await tg.start(
            functools.partial(
                run_webhook,
                bot,
                credentials=credentials,
                platform=platform,
                host=host,
                port=settings.webhook.port,
                path=None if settings.webhook.path == "/" else settings.webhook.path,
                timestamp_tolerance=settings.webhook.timestamp_tolerance,
                read_timeout=settings.webhook.read_timeout,
                max_connections=settings.webhook.max_connections,
            )
        )
        url = f"http://{bound_host}:{bound_port}{settings.webhook.path}"
        if on_ready is not None:
            on_ready(url)
        _announce(bot, settings, f" (webhook callbacks on {url})")
    return 0


def _embedded_emulator(**options: Any) -> Any:
    """The emulator of ``qqbot run`` without credentials: one app, granted every intent (local use)."""
    from framework.emulator import Emulator, EmulatorConfig
    from framework.models.intents import ALL_INTENTS

    config = EmulatorConfig(**options)
    config.allowed_intents = dict.fromkeys(config.apps, int(ALL_INTENTS))
    return Emulator(config)


async def _serve_with_emulator(bot: Bot, settings: Settings, port: int) -> int:
    """Serve the embedded emulator on ``port`` and run the bot against it (no console)."""
    from framework.testing.edge import emulator_credentials, emulator_platform

    emu = _embedded_emulator()
    async with emu.serve("127.0.0.1", port) as url:
        print(f"emulator serving on {url} (web page: {url}/_emulator/ui; control API: {url}/_emulator/)", flush=True)
        return await _run_gateway(bot, settings, emulator_credentials(emu), emulator_platform(emu, "loopback"))


async def _serve_webhook_with_emulator(bot: Bot, settings: Settings, port: int) -> int:
    """Webhook mode, locally: the bot's webhook server on loopback ``--port``, the embedded emulator on
    ``port`` signing and POSTing every event to it (no console)."""
    from framework.testing.edge import emulator_credentials, emulator_platform

    emu = _embedded_emulator()

    def point_sender(url: str) -> None:
        emu.config.webhook_url = url

    async with emu.serve("127.0.0.1", port) as url:
        print(f"emulator serving on {url} (web page: {url}/_emulator/ui; control API: {url}/_emulator/)", flush=True)
        return await _run_webhook(
            bot,
            settings,
            emulator_credentials(emu),
            emulator_platform(emu, "loopback"),
            host="127.0.0.1",
            on_ready=point_sender,
        )
