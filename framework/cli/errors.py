"""Turn whatever stopped ``qqbot run`` into one line that names the cause and the fix.

Task groups wrap the real error in ``ExceptionGroup``\\ s; :func:`root_causes` unwraps them (and
follows ``__cause__`` of our own wrappers). :func:`explain` maps the known failures (refused
credentials, a busy port, an unreachable host, a missing module, a fatal gateway close, a broken
plugin in strict mode) to a sentence; anything else is a bug in the framework: :func:`explain`
says so, and the caller prints the traceback to stderr so that it can be reported.
"""

from __future__ import annotations

import errno
import re
import socket
from dataclasses import dataclass

import httpx

from framework.models import errorcodes as ec

__all__ = ["Explained", "explain", "root_causes"]

_IN_USE = {errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", errno.EADDRINUSE)}
_TOKEN_MESSAGES = {
    ec.TOKEN_SECRET_INVALID: "invalid appid or secret",
    ec.TOKEN_APPID_INVALID: "appid invalid",
    ec.TOKEN_BOT_NOT_FOUND: "no such bot",
}
_SERVER_MESSAGE = re.compile(r"code -?\d+: '(?P<msg>.*)' \(app ")
_KIND = re.compile(r"\b[A-Z][A-Za-z]*(?:Error|Timeout)\b")
_URL = re.compile(r"\b(?:https?|wss?)://[^\s)'\"]+")
# optional modules and the command that installs them
_INSTALL = {
    "hypercorn": "pip install hypercorn",
    "cookiecutter": "pip install 'qqbot-framework[new]'",
    "trio": "pip install trio",
}


@dataclass(frozen=True, slots=True)
class Explained:
    """One line for the user; ``bug`` means the traceback should be shown and reported."""

    line: str
    bug: bool = False


def root_causes(exc: BaseException) -> list[BaseException]:
    """The leaf exceptions inside ``exc`` (nested exception groups flattened, in order)."""
    if isinstance(exc, BaseExceptionGroup):
        leaves: list[BaseException] = []
        for inner in exc.exceptions:
            leaves.extend(root_causes(inner))
        return leaves
    return [exc]


def _primary(exc: BaseException) -> BaseException:
    causes = root_causes(exc)
    # a cancellation or KeyboardInterrupt next to the real error is a consequence of it
    real = [c for c in causes if isinstance(c, Exception)]
    return (real or causes)[0]


def explain(
    exc: BaseException,
    *,
    app_id: str | None = None,
    port: int | None = None,
    api_base: str | None = None,
    token_url: str | None = None,
) -> Explained:
    """One line naming the cause of ``exc`` and the fix (``bug=True`` when it is our fault)."""
    from framework.errors import ConnectError
    from framework.plugins.manager import PluginError
    from framework.protocol.gateway import GatewayFatalError
    from framework.runtime.credentials import AccessTokenError
    from framework.runtime.openapi.errors import AuthenticationError, ForbiddenError, NetworkError, OpenAPIError

    err = _primary(exc)
    if isinstance(err, AccessTokenError):
        if err.code in ec.TOKEN_CREDENTIAL_CODES:
            m = _SERVER_MESSAGE.search(str(err))
            message = m.group("msg") if m else _TOKEN_MESSAGES.get(err.code, "refused")
            who = f"app {app_id}" if app_id else "the app"
            return Explained(
                f"the platform refused {who}: {message} (code {err.code}); check QQBOT_APP_ID and "
                "QQBOT_APP_SECRET (bot.app_id / bot.app_secret) against the open-platform console"
            )
        if err.status == 0 and err.code == 0:
            kind = _KIND.search(str(err))
            return Explained(
                f"cannot reach the token endpoint {token_url or 'of the platform'}"
                f" ({kind.group(0) if kind else err}); check the network connection, or QQBOT_TOKEN_URL"
            )
        return Explained(f"cannot get an access token: {err}")
    if isinstance(err, GatewayFatalError):
        return Explained(f"the gateway refused the bot: {err}")
    if isinstance(err, PluginError):
        return Explained(f"{err}; fix the plugin, disable it (plugins.disabled) or set plugins.strict = false")
    if isinstance(err, NetworkError | ConnectError | httpx.TransportError | socket.gaierror):
        m = _URL.search(str(err))
        where = m.group(0) if m else api_base or "the platform"
        kind = _KIND.search(str(err))
        what = f"{err.method} {err.path}: " if isinstance(err, NetworkError) and err.method else ""
        detail = kind.group(0) if kind else str(err) or type(err).__name__
        return Explained(
            f"cannot reach {where} ({what}{detail}); check the network connection, or QQBOT_API_BASE / QQBOT_SANDBOX"
        )
    if isinstance(err, AuthenticationError | ForbiddenError):
        return Explained(f"the platform refused a request: {err}; check the app's credentials and permissions")
    if isinstance(err, OpenAPIError):
        return Explained(f"the platform answered with an error: {err}")
    if isinstance(err, OSError) and err.errno in _IN_USE:
        which = f"port {port}" if port else "the port"
        return Explained(f"{which} is in use: choose another with --port")
    if isinstance(err, OSError) and err.errno in {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH}:
        return Explained(f"cannot reach {api_base or 'the platform'}: {err.strerror or err}; check the network")
    if isinstance(err, OSError) and err.errno in {errno.EACCES, errno.EADDRNOTAVAIL}:
        return Explained(f"cannot listen: {err.strerror or err}; choose another --host/--port")
    if isinstance(err, ModuleNotFoundError) and err.name:
        top = err.name.split(".")[0]
        install = _INSTALL.get(top, f"pip install {top}")
        return Explained(f"a module is missing: {top}; install it with `{install}`")
    return Explained(
        f"{type(err).__name__}: {err} - this is a bug in qqbot-framework, please report it "
        "(the traceback is printed above)",
        bug=True,
    )
