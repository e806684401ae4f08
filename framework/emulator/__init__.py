"""The local QQ platform emulator: REST, gateway, webhook sender, control API and faults in one object.

    emulator = Emulator()
    async with emulator.serve() as url:          # real loopback sockets, ephemeral port
        ...                                      # point any SDK at ``url`` (REST) and ``ws://…/websocket``

    async with Emulator() as emulator:           # in-process, no sockets
        http = httpx.AsyncClient(transport=emulator.http_transport(), base_url="http://emulator")
        ws = await emulator.connect_websocket("ws://emulator/websocket")

The emulator imports only ``framework.models``, ``framework.protocol`` and ``framework.clock``.
"""

from __future__ import annotations

import argparse
import errno
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from types import TracebackType

import anyio
import anyio.abc
import httpx

from framework.clock import Clock, SystemClock
from framework.emulator.config import DEFAULT_APP_ID, DEFAULT_APP_SECRET, EmulatorConfig
from framework.emulator.control import Control, register_control_routes
from framework.emulator.gateway import GatewayHub, GatewaySettings, register_gateway_routes
from framework.emulator.http import Router
from framework.emulator.inprocess import PipeWebSocket, RouterTransport, open_pipe
from framework.emulator.rest import build_rest
from framework.emulator.server import EmulatorServer
from framework.emulator.tokens import TokenService
from framework.emulator.webhook_sender import WebhookSender, register_webhook_routes
from framework.emulator.webui import UI_PATH, register_ui_routes
from framework.emulator.world import World
from framework.models.intents import ALL_INTENTS, DEFAULT_PERMITTED, Intents

__all__ = [
    "Emulator",
    "EmulatorConfig",
    "GatewaySettings",
    "add_arguments",
    "config_from_args",
    "config_from_namespace",
    "main",
    "parse_intents",
    "serve_forever",
    "serve_from_namespace",
]

_IN_USE = {errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", errno.EADDRINUSE)}


class Emulator:
    """One emulated platform: :attr:`world`, :attr:`tokens`, :attr:`router` (REST + control API),
    :attr:`control`, :attr:`gateway` (sessions, faults, records) and :attr:`webhook` (sender).

    Background work (webhook deliveries, in-process gateway connections) runs while the emulator is
    entered (``async with emulator:``); :meth:`serve` enters it when needed.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        clock: Clock | None = None,
        gateway_settings: GatewaySettings | None = None,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config or EmulatorConfig()
        self.clock: Clock = clock or SystemClock()
        self.world = World(self.config, self.clock)
        self.tokens = TokenService(self.config, self.clock)
        self.router = Router()
        build_rest(self.world, self.tokens, self.config, self.router)
        self.control = Control(self.world, self.tokens, self.config)
        register_control_routes(self.control, self.router)
        self.gateway = GatewayHub(self.config, self.clock, self.world, self.tokens, gateway_settings)
        register_gateway_routes(self.gateway, self.router)
        self.webhook = WebhookSender(self.config, self.clock, self.world, transport=webhook_transport)
        register_webhook_routes(self.webhook, self.router)
        register_ui_routes(self.world, self.gateway, self.router)
        self.server = EmulatorServer(
            self.router, self.gateway.handle, close_timeout=self.gateway.settings.close_timeout
        )
        self._stack: AsyncExitStack | None = None
        self._tg: anyio.abc.TaskGroup | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    async def __aenter__(self) -> Emulator:
        if self._stack is not None:
            raise RuntimeError("the emulator is already running")
        stack = AsyncExitStack()
        self._tg = await stack.enter_async_context(anyio.create_task_group())
        self._tg.start_soon(self.webhook.run)
        self._tg.start_soon(self.world.run_timers)  # delayed platform work (audit results)
        self._stack = stack
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        stack, tg = self._stack, self._tg
        self._stack = self._tg = None
        if tg is not None and exc_type is None:
            tg.cancel_scope.cancel()  # on an exception the task group cancels itself
        if stack is None:
            return None
        return await stack.__aexit__(exc_type, exc, tb)

    @property
    def running(self) -> bool:
        """True while entered."""
        return self._tg is not None

    @asynccontextmanager
    async def serve(self, host: str | None = None, port: int | None = None) -> AsyncIterator[str]:
        """Serve REST, control API and gateway on one loopback port; yields ``http://host:port``."""
        server = self.server.serve(host or self.config.host, self.config.port if port is None else port)
        if self.running:
            async with server as url:
                yield url
        else:
            async with self, server as url:
                yield url

    @property
    def url(self) -> str | None:
        """The base URL while :meth:`serve` is active."""
        return self.server.url

    @property
    def ui_url(self) -> str | None:
        """The web page (``http://host:port/_emulator/ui``) while :meth:`serve` is active."""
        url = self.server.url
        return None if url is None else url + UI_PATH

    @property
    def ws_url(self) -> str | None:
        """The gateway URL (``ws://host:port/websocket``) while :meth:`serve` is active."""
        url = self.server.url
        return None if url is None else url.replace("http://", "ws://", 1) + "/websocket"

    # -- in-process transports --------------------------------------------------------------------

    def http_transport(self) -> httpx.AsyncBaseTransport:
        """An httpx transport that calls the router directly (no sockets)."""
        return RouterTransport(self.router)

    def http_client(self, base_url: str = "http://emulator") -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` on :meth:`http_transport` (the caller closes it)."""
        return httpx.AsyncClient(transport=self.http_transport(), base_url=base_url)

    async def connect_websocket(self, url: str = "ws://emulator/websocket") -> PipeWebSocket:
        """A ``Connector``: open an in-memory WebSocket into the gateway (the URL is not used for routing).

        Requires a running emulator (``async with emulator:`` or inside :meth:`serve`).
        """
        if self._tg is None:
            raise RuntimeError("connect_websocket needs a running emulator: use `async with emulator:`")
        client, server_end = open_pipe()

        async def serve_pipe() -> None:
            try:
                await self.gateway.handle(server_end, transport="pipe")
            finally:
                server_end.finish()

        self._tg.start_soon(serve_pipe)
        return client

    def __repr__(self) -> str:
        return f"Emulator(url={self.url!r}, {self.gateway!r}, {self.world!r})"


async def serve_forever(
    emulator: Emulator | None = None, *, host: str = "127.0.0.1", port: int = 8080, announce: bool = True
) -> None:
    """Serve ``emulator`` (a default one if None) until cancelled."""
    emu = emulator or Emulator()
    async with emu.serve(host, port) as url:
        if announce:
            print(f"QQ platform emulator listening on {url} (gateway {emu.ws_url}); web page {emu.ui_url}", flush=True)
            print(f"apps: {', '.join(sorted(emu.config.apps))}; control API under {url}/_emulator/", flush=True)
        await anyio.sleep_forever()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the emulator's options on ``parser`` (``qqbot emulator``, ``python -m framework.emulator``)."""
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="listen port; 0 = any free port (default: 8080)")
    parser.add_argument(
        "--app",
        action="append",
        default=[],
        metavar="APPID:SECRET",
        help=f"an app the platform knows (repeatable; default: {DEFAULT_APP_ID}:{DEFAULT_APP_SECRET})",
    )
    parser.add_argument(
        "--grant-intents",
        metavar="INTENTS",
        help="intents every app may use: 'all', 'default' (what a new bot gets), a comma-separated list of "
        "names such as GUILDS,GROUP_AND_C2C_EVENT, or an integer mask (default: the emulator's default grant)",
    )
    parser.add_argument("--shards", type=int, default=None, help="recommended shard count of /gateway/bot")
    parser.add_argument("--heartbeat-interval", type=int, default=None, metavar="MS", help="op 10 heartbeat_interval")
    parser.add_argument(
        "--reconnect-every", type=float, default=None, metavar="SECONDS", help="send op 7 (reconnect) periodically"
    )
    parser.add_argument(
        "--webhook-url", default=None, metavar="URL", help="webhook mode: POST signed events to this URL"
    )


def parse_intents(text: str) -> int:
    """``all``, ``default``, ``NAME,NAME`` (``Intents`` member names) or an integer mask; ValueError otherwise."""
    value = text.strip()
    if value.lower() == "all":
        return int(ALL_INTENTS)
    if value.lower() == "default":
        return int(DEFAULT_PERMITTED)
    if value.isdigit():
        mask = int(value)
        if mask & ~int(ALL_INTENTS):
            raise ValueError(f"{value} has bits that are no intent (all intents: {int(ALL_INTENTS)})")
        return mask
    mask = 0
    for name in (p.strip().upper() for p in value.split(",")):
        if not name:
            continue
        if name not in Intents.__members__ or name == "NONE":
            known = ", ".join(n for n in Intents.__members__ if n != "NONE")
            raise ValueError(f"unknown intent {name!r}; known: all, default, {known}")
        mask |= int(Intents[name])
    if not mask:
        raise ValueError("expected at least one intent")
    return mask


def _parser(prog: str = "qqbot emulator") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=_DESCRIPTION)
    add_arguments(p)
    return p


_DESCRIPTION = (
    "Serve the local QQ platform emulator (token endpoint, REST, gateway, webhook sender and the control "
    "API under /_emulator/) on one port, for any client, including other SDKs. Stop it with Ctrl-C."
)  # the same text as `qqbot emulator --help`


def config_from_namespace(args: argparse.Namespace) -> EmulatorConfig:
    """Build an :class:`EmulatorConfig` from parsed :func:`add_arguments` options; ValueError on a bad one."""
    if not 0 <= args.port < 65536:
        raise ValueError(f"--port: expected 0..65535, got {args.port}")
    config = EmulatorConfig(host=args.host, port=args.port)
    if args.app:
        apps = {}
        for item in args.app:
            app_id, sep, secret = item.partition(":")
            if not sep or not app_id or not secret:
                raise ValueError(f"--app expects APPID:SECRET, got an argument for app {app_id!r}")
            if not app_id.isdigit():
                raise ValueError(f"--app: the AppID must be numeric, got {app_id!r}")
            apps[app_id] = secret
        config.apps = apps
    if args.grant_intents is not None:
        try:
            mask = parse_intents(args.grant_intents)
        except ValueError as exc:
            raise ValueError(f"--grant-intents: {exc}") from None
        config.allowed_intents = dict.fromkeys(config.apps, mask)
    if args.shards is not None:
        if args.shards < 1:
            raise ValueError(f"--shards: expected an integer >= 1, got {args.shards}")
        config.shards = args.shards
    if args.heartbeat_interval is not None:
        if args.heartbeat_interval < 1:
            raise ValueError(f"--heartbeat-interval: expected milliseconds >= 1, got {args.heartbeat_interval}")
        config.heartbeat_interval_ms = args.heartbeat_interval
    config.reconnect_every = args.reconnect_every
    config.webhook_url = args.webhook_url
    return config


def config_from_args(argv: Sequence[str] | None = None) -> EmulatorConfig:
    """Build an :class:`EmulatorConfig` from ``qqbot emulator`` arguments."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return config_from_namespace(args)
    except ValueError as exc:
        parser.error(str(exc))


def serve_from_namespace(args: argparse.Namespace, *, prog: str = "qqbot emulator") -> int:
    """Serve an emulator configured by parsed :func:`add_arguments` options until Ctrl-C; the exit code."""
    import sys

    try:
        config = config_from_namespace(args)
    except ValueError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    try:
        with suppress(KeyboardInterrupt):
            anyio.run(lambda: serve_forever(Emulator(config), host=config.host, port=config.port))
    except (OSError, BaseExceptionGroup) as failure:  # the emulator's task group wraps a failed bind
        leaves = list(_leaves(failure))
        if len(leaves) != 1 or not isinstance(leaves[0], OSError):
            raise
        error = leaves[0]
        busy = error.errno in _IN_USE
        why = f"port {config.port} is in use" if busy else f"cannot listen on {config.host}:{config.port}"
        fix = "choose another with --port" if busy else f"check --host/--port ({error.strerror or error})"
        print(f"{prog}: error: {why}: {fix}", file=sys.stderr)
        return 1
    return 0


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


def main(argv: Sequence[str] | None = None, *, prog: str = "qqbot emulator") -> int:
    """Entry point of ``qqbot emulator [--port 8080] ...``: serve until Ctrl-C."""
    return serve_from_namespace(_parser(prog).parse_args(argv), prog=prog)
