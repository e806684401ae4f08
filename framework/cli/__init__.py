"""The ``qqbot`` command line: ``run``, ``check``, ``emulator`` and ``new``.

``qqbot run module:bot`` connects to the platform when credentials are configured
(``QQBOT_APP_ID``/``QQBOT_APP_SECRET`` or the TOML file) and otherwise starts the embedded emulator and
an interactive console where you chat with the bot as a user.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from framework import __version__

__all__ = ["build_parser", "main"]


_EMULATOR_DESCRIPTION = (
    "Serve the local QQ platform emulator (token endpoint, REST, gateway, webhook sender and the control "
    "API under /_emulator/) on one port, for any client, including other SDKs. Stop it with Ctrl-C."
)


def build_parser(*, emulator_options: bool = True) -> argparse.ArgumentParser:
    """The argument parser of ``qqbot`` (all subcommands).

    ``emulator_options=False`` leaves out the options of ``qqbot emulator``, which need the emulator
    imported: ``main`` declares them only when that command is run.
    """
    parser = argparse.ArgumentParser(prog="qqbot", description="Build, test and run QQ bots.")
    parser.add_argument("--version", action="version", version=f"qqbot-framework {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run a bot (on the local emulator with a console when no credentials are configured)",
        description="Run BOT (MODULE:ATTR or FILE.py:ATTR; ATTR defaults to 'bot'). Without credentials it "
        "starts the embedded emulator and an interactive console; with QQBOT_APP_ID and QQBOT_APP_SECRET "
        "(or the TOML file) it connects to the platform.",
    )
    run.add_argument("bot", metavar="BOT")
    run.add_argument("-c", "--config", help="TOML config file (default: $QQBOT_CONFIG or ./qqbot.toml)")
    run.add_argument("--profile", help="also read .env.PROFILE beside the config (default: $QQBOT_PROFILE)")
    run.add_argument("--transport", choices=["websocket", "webhook"], help="event transport (default: config)")
    run.add_argument("--host", help="webhook listen address (default: config, 127.0.0.1)")
    run.add_argument(
        "--port", type=int, help="webhook listen port (default: config, 8080; on the emulator: loopback only)"
    )
    run.add_argument("--shard-count", type=int, help="total number of shards (default: /gateway/bot)")
    run.add_argument("--concurrency", type=int, help="handlers running at once (default: config, 64)")
    run.add_argument(
        "--handler-timeout", type=float, help="seconds before a handler is cancelled and reported (default 60; 0: none)"
    )
    run.add_argument("--shard-ids", help="comma-separated shards this process runs, e.g. 0,1")
    run.add_argument(
        "--sessions",
        "--redis",
        metavar="URL",
        help="'local' (default: config) or redis://HOST:PORT/DB: share the shards with every process of the "
        "same app and URL, a fleet (docs/fleet.md)",
    )
    run.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="default: config, INFO")
    run.add_argument("--log-format", choices=["text", "json"], help="default: config, text")
    run.add_argument(
        "--metrics-port",
        type=int,
        help="serve Prometheus /metrics, /healthz and /readyz on this port (0: any; default: config, off)",
    )
    run.add_argument(
        "--emulator", action="store_true", help="use the embedded emulator even when credentials are configured"
    )
    run.add_argument(
        "--no-console",
        action="store_true",
        help="with the emulator: serve it on --emulator-port and run the bot without the console",
    )
    run.add_argument("--emulator-port", type=int, default=0, help="port of the embedded emulator (default: any)")
    run.add_argument(
        "--reload",
        action="store_true",
        help="restart the bot when a .py/.toml file under its directory or the working directory changes "
        "(the emulator's world is kept)",
    )

    check = sub.add_parser(
        "check",
        help="validate config and print the bot's intents, handlers, commands and plugins",
        description="Load BOT and the configuration, and print what would run. Exits 1 on any problem.",
    )
    check.add_argument("bot", metavar="BOT")
    check.add_argument("-c", "--config", help="TOML config file (default: $QQBOT_CONFIG or ./qqbot.toml)")
    check.add_argument("--profile", help="also read .env.PROFILE beside the config (default: $QQBOT_PROFILE)")

    emu = sub.add_parser(
        "emulator",
        help="serve the local QQ platform emulator (REST, gateway, webhook sender, control API)",
        description=_EMULATOR_DESCRIPTION,
    )
    if emulator_options:
        from framework.emulator import add_arguments

        add_arguments(emu)

    from framework.cli import bus, fleet, new

    new.add_parser(sub)
    fleet.add_parser(sub)
    bus.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``qqbot``; returns the process exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(emulator_options=arguments[:1] == ["emulator"])
    args = parser.parse_args(arguments)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "emulator":
        from framework.emulator import serve_from_namespace

        return serve_from_namespace(args)
    if args.command == "new":
        from framework.cli import new

        return new.run(args)
    if args.command == "shards":
        from framework.cli import fleet

        return fleet.shards(args)
    if args.command in ("gateway", "worker"):
        from framework.cli import bus

        return bus.gateway(args) if args.command == "gateway" else bus.worker(args)
    from framework.cli.commands import check, run

    if args.command == "check":
        return check(args)
    return run(args)
