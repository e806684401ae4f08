"""Serving a :class:`WebhookApp` with hypercorn, on whichever backend (asyncio or trio) is running.

Hypercorn is a production ASGI server (HTTP/1.1, HTTP/2, TLS, graceful shutdown, lifespan) with native
asyncio *and* trio workers, so it fits an anyio program on either backend; uvicorn is asyncio-only.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any, cast

import anyio
from anyio.abc import TaskStatus

from framework.runtime.gateway.signals import wait_for_signal
from framework.runtime.webhook.app import ASGIReceive, ASGIScope, ASGISend, WebhookApp

__all__ = ["ASGIApp", "serve_webhook"]

ASGIApp = Callable[[ASGIScope, ASGIReceive, ASGISend], Awaitable[None]]
"""Any ASGI 3 application; usually a :class:`~framework.runtime.webhook.app.WebhookApp`."""

logger = logging.getLogger("framework.runtime.webhook")

_ANSWER_GRACE = 1.0
"""Seconds hypercorn's idle read outlasts a WebhookApp's body deadline: both start from about the same
moment (the last bytes received, the headers), so with equal timeouts the idle close could win and the
client would see the connection drop instead of a 408."""


def _running_backend() -> str:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return "trio"
    return "asyncio"


def _listen(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=backlog)


async def serve_webhook(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    sock: socket.socket | None = None,
    shutdown_trigger: Callable[[], Awaitable[Any]] | None = None,
    handle_signals: bool = True,
    certfile: str | None = None,
    keyfile: str | None = None,
    graceful_timeout: float = 5.0,
    backlog: int = 100,
    read_timeout: float = 10.0,
    access_log: bool = False,
    task_status: TaskStatus[tuple[str, int]] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``host:port`` until ``shutdown_trigger()`` returns, a signal arrives or the caller cancels.

    ``port=0`` picks a free port; the bound ``(host, port)`` is reported through ``task_status`` (use
    ``await task_group.start(serve_webhook, app, ...)``). ``sock``, a bound TCP socket (e.g. inherited
    from a supervisor), replaces ``host``/``port`` and is taken over (listened on, owned, closed).
    Shutdown is graceful: the listener closes, in-flight requests get ``graceful_timeout`` seconds,
    then the app's lifespan drains its handlers.
    Without ``shutdown_trigger`` and with ``handle_signals``, SIGINT/SIGTERM trigger it (main thread only).
    ``certfile``/``keyfile`` enable TLS directly; usually a reverse proxy terminates TLS (docs/webhook.md).
    The default ``host`` is loopback: run behind a reverse proxy, or pass ``host="0.0.0.0"`` deliberately.
    ``read_timeout``: a connection that sends nothing for that many seconds (headers, body or between
    requests) is closed; the app's own ``read_timeout`` bounds a whole body (408, docs/reliability.md). For a
    :class:`WebhookApp` it is at least the app's ``read_timeout`` plus one second, so that a stalled body gets
    the app's 408 before the silent connection is dropped without an answer.
    """
    from hypercorn.config import Config

    if sock is None:
        sock = _listen(host, port, backlog)
    else:
        sock.listen(backlog)
    bound = sock.getsockname()
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.graceful_timeout = graceful_timeout
    config.include_server_header = False
    config.errorlog = logging.getLogger("hypercorn.error")  # through our (redacting) handler, not a second one
    config.backlog = backlog
    if isinstance(app, WebhookApp):
        read_timeout = max(read_timeout, app.read_timeout + _ANSWER_GRACE)
    config.read_timeout = read_timeout  # type: ignore[assignment]  # hypercorn annotates int; any number works
    if access_log:
        config.accesslog = logging.getLogger("framework.runtime.webhook.access")
    if certfile is not None:
        config.certfile = certfile
        config.keyfile = keyfile

    server_app = cast(Any, app)  # hypercorn's own ASGI typing is stricter than the plain-mapping one here
    stop = anyio.Event()

    async def trigger() -> None:
        await stop.wait()

    async def run_server() -> None:
        # Shielded so that hypercorn's own graceful shutdown (triggered by ``stop``) runs to the end.
        with anyio.CancelScope(shield=True):
            if _running_backend() == "trio":
                from hypercorn.trio import serve as trio_serve

                await trio_serve(server_app, config, shutdown_trigger=trigger)
            else:
                from hypercorn.asyncio import serve as asyncio_serve

                await asyncio_serve(server_app, config, shutdown_trigger=trigger)
        tg.cancel_scope.cancel()  # the server stopped on its own: stop waiting for the trigger

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_server)
        logger.info("webhook server listening on %s:%d", bound[0], bound[1])
        task_status.started((str(bound[0]), int(bound[1])))
        try:
            if shutdown_trigger is not None:
                await shutdown_trigger()
            elif handle_signals:
                await wait_for_signal()
            else:
                await anyio.sleep_forever()
        finally:
            stop.set()
