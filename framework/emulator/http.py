"""Transport-neutral HTTP for the emulator: request/response values, a path router, platform error bodies.

The network server (or an in-process transport) turns bytes into :class:`HttpRequest`, calls
:meth:`Router.dispatch` and writes the :class:`HttpResponse` back. Nothing here does I/O.

Every response carries ``Content-Type: application/json`` exactly (botpy fails on a charset suffix,
protocol.md §12.1) and an ``X-Tps-trace-ID`` header; errors use the platform's body
``{"message", "code", "err_code", "trace_id"}`` (protocol.md §6.1).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, TypeVar
from urllib.parse import unquote

import msgspec

from framework.models import errorcodes as ec

__all__ = [
    "ApiError",
    "Body",
    "Code",
    "Handler",
    "HttpRequest",
    "HttpResponse",
    "Observer",
    "Router",
    "decode_body",
    "error_response",
    "json_response",
    "new_trace_id",
    "opt_int",
    "opt_str",
    "query_int",
    "require_str",
]


class Code(IntEnum):
    """Platform error codes the emulator answers with.

    The numbers come from :mod:`framework.models.errorcodes` (shared with the client, so both agree).
    ``NOT_FOUND`` (404), ``METHOD_NOT_ALLOWED`` (405), ``INTERNAL`` (500) and ``NOT_MODELLED`` (501)
    are the emulator's own choice: the platform's codes for those cases are UNCONFIRMED.
    """

    TOKEN_RATE_LIMITED = ec.TOKEN_RATE_LIMITED
    APPID_INVALID = ec.TOKEN_APPID_INVALID
    SECRET_INVALID = ec.TOKEN_SECRET_INVALID
    TOKEN_MISSING = ec.TOKEN_MISSING
    TOKEN_INVALID = ec.TOKEN_INVALID
    TOKEN_EXPIRED = ec.TOKEN_EXPIRED
    LEGACY_TOKEN_DISABLED = ec.LEGACY_TOKEN_DISABLED
    BODY_INVALID = ec.REQUEST_BODY_INVALID
    MSG_LIMIT_EXCEEDED = ec.MSG_LIMIT_EXCEED
    REPLY_MSG_ID_WRONG = ec.REPLY_MSG_ID_WRONG
    REPLY_MSG_ID_EXPIRED = ec.REPLY_MSG_ID_EXPIRED
    EMPTY_MESSAGE = ec.EMPTY_MESSAGE
    MSG_ID_EXPIRED = ec.MSG_ID_EXPIRED
    MSG_ID_INVALID = ec.MSG_ID_INVALID
    EVENT_ID_INVALID = ec.EVENT_ID_INVALID
    EVENT_ID_EXPIRED = ec.EVENT_ID_EXPIRED
    EVENT_NOT_REPLYABLE = ec.EVENT_NOT_REPLYABLE
    NOT_GROUP_MEMBER = ec.BOT_NOT_GROUP_MEMBER
    ACTIVE_NOT_PERMITTED = ec.ACTIVE_MESSAGE_NO_PERMISSION
    REPLY_LIMIT_EXCEEDED = ec.PASSIVE_REPLY_LIMIT
    NO_FRIEND_RELATION = ec.NO_FRIEND_RELATION
    DEDUPLICATED = ec.MESSAGE_DEDUPLICATED
    USER_REFUSES = ec.USER_REFUSES_MESSAGES
    RECALL_BAD_PARAM = ec.RECALL_BAD_PARAM
    RECALL_BAD_MSG_ID = ec.RECALL_BAD_MSGID
    RECALL_TOO_OLD = ec.RECALL_TOO_OLD
    UPLOAD_BAD_FORMAT = ec.UPLOAD_BAD_FORMAT
    UPLOAD_DOWNLOAD_FAILED = ec.UPLOAD_DOWNLOAD_FAILED
    UPLOAD_TOO_LARGE = ec.UPLOAD_TOO_LARGE
    APPID_MISMATCH = ec.APPID_INVALID_1
    """11251 "bad appid": an ``X-Union-Appid``/``X-Callback-AppID`` naming another app (UNCONFIRMED)."""
    PUSH_AWAITING_AUDIT = ec.PUSH_AWAITING_AUDIT
    MARKDOWN_COMBINATION = 50037
    """protocol.md §6.3 lists 50037/50055/50056/50057 as "markdown combination/content errors"; the
    emulator answers 50037 for a keyboard off markdown and for raw+template markdown (UNCONFIRMED)."""
    NOT_FOUND = 404
    METHOD_NOT_ALLOWED = 405
    INTERNAL = 500
    NOT_MODELLED = 501


_log = logging.getLogger("framework.emulator.http")

CONTENT_TYPE = "application/json"
TRACE_HEADER = "X-Tps-trace-ID"

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


@dataclass
class HttpRequest:
    """One HTTP request. Header names are lower-case."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        """The body decoded as JSON (an empty body is ``{}``); malformed JSON raises :class:`ApiError` 400/12002."""
        if not self.body.strip():
            return {}
        try:
            return _decoder.decode(self.body)
        except msgspec.DecodeError:
            raise ApiError(400, 12002, "request body is not valid JSON") from None
        except RecursionError:  # msgspec recurses per nesting level: a hostile body must not become a 500
            raise ApiError(400, 12002, "request body is nested too deeply") from None

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; anything else raises :class:`ApiError` 400/12002."""
        value = self.json()
        if not isinstance(value, dict):
            raise ApiError(400, 12002, "request body must be a JSON object")
        return value

    def __repr__(self) -> str:  # headers and body may hold tokens or secrets
        return f"HttpRequest({self.method} {self.path})"


@dataclass
class HttpResponse:
    """One HTTP response: ``body``, or chunks from ``stream`` when it is set (Server-Sent Events)."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: AsyncIterator[bytes] | None = None
    """Chunks sent as they come (chunked transfer encoding) until the iterator ends or the client leaves."""

    def __repr__(self) -> str:  # the body may hold an access token
        return f"HttpResponse({self.status}, {len(self.body)} bytes)"

    def json(self) -> Any:
        """The body decoded as JSON (None when empty)."""
        return _decoder.decode(self.body) if self.body else None

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive)."""
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)


class ApiError(Exception):
    """A platform error: raise it from a handler to answer with the platform's error body."""

    def __init__(self, status: int, code: int, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra or {}


def new_trace_id() -> str:
    """A fresh trace id (32 hex digits like the platform's)."""
    return uuid.uuid4().hex


def json_response(status: int, obj: Any, *, trace_id: str | None = None) -> HttpResponse:
    """A JSON response with the exact platform headers."""
    body = b"" if status == 204 else _encoder.encode(obj)
    return HttpResponse(status, body, [("Content-Type", CONTENT_TYPE), (TRACE_HEADER, trace_id or new_trace_id())])


def error_response(status: int, code: int, message: str, *, extra: dict[str, Any] | None = None) -> HttpResponse:
    """The platform's error body ``{"message", "code", "err_code", "trace_id"}``."""
    trace = new_trace_id()
    body: dict[str, Any] = {"message": message, "code": code, "err_code": code, "trace_id": trace}
    if extra:
        body.update(extra)
    return json_response(status, body, trace_id=trace)


# -- request field validation (400 with the platform's body-invalid code) -----------------------------


class Body(msgspec.Struct, kw_only=True):
    """Base of the control API's request bodies: one Struct per body, decoded by :func:`decode_body`.

    Unknown fields are ignored (as before); a field of the wrong type or a missing required one is a
    400/12002 whose message names the field.
    """


_B = TypeVar("_B", bound=Body)
_AT = " - at `$."


def _field_message(error: str) -> str:
    """msgspec's validation message as one line that starts with the field: ``content is required``,
    ``count: expected `int`, got `str```."""
    text, _, where = error.partition(_AT)
    prefix = where.rstrip("`") + "." if where else ""
    missing = "Object missing required field `"
    if text.startswith(missing):
        return f"{prefix}{text[len(missing) :].rstrip('`')} is required"
    text = text[:1].lower() + text[1:]
    return f"{prefix.rstrip('.')}: {text}" if prefix else f"request body: {text} (send a JSON object)"


def decode_body(req: HttpRequest, type: type[_B]) -> _B:
    """``req``'s JSON body as ``type`` (an empty body is ``{}``); 400/12002 naming the field otherwise."""
    try:
        return msgspec.json.decode(req.body if req.body.strip() else b"{}", type=type)
    except msgspec.ValidationError as exc:
        raise ApiError(400, Code.BODY_INVALID, _field_message(str(exc))) from None
    except msgspec.DecodeError:
        raise ApiError(400, Code.BODY_INVALID, "request body is not valid JSON") from None
    except RecursionError:
        raise ApiError(400, Code.BODY_INVALID, "request body is nested too deeply") from None


def require_str(body: dict[str, Any], name: str) -> str:
    """A required non-empty string field, else 400/12002."""
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(400, Code.BODY_INVALID, f"{name} is required and must be a string")
    return value


def opt_str(body: dict[str, Any], name: str) -> str | None:
    """An optional string field (null and absent are None), else 400/12002."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, Code.BODY_INVALID, f"{name} must be a string")
    return value


def opt_int(body: dict[str, Any], name: str) -> int | None:
    """An optional integer field (null and absent are None; a bool is not an integer), else 400/12002."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, Code.BODY_INVALID, f"{name} must be an integer")
    return value


def query_int(query: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    """An integer query parameter clamped to ``[lo, hi]`` (``default`` when absent or empty), else 400/12002."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return max(lo, min(int(raw), hi))
    except ValueError:
        raise ApiError(400, Code.BODY_INVALID, f"{name} must be an integer") from None


Handler = Callable[[HttpRequest, dict[str, str]], Awaitable[HttpResponse]]
Observer = Callable[[HttpRequest, HttpResponse], None]

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class _Route:
    method: str
    pattern: str
    regex: re.Pattern[str]
    literals: int
    handler: Handler


def _compile(pattern: str) -> tuple[re.Pattern[str], int]:
    parts: list[str] = []
    pos = 0
    for m in _PARAM.finditer(pattern):
        parts.append(re.escape(pattern[pos : m.start()]))
        parts.append(f"(?P<{m.group(1)}>[^/]+)")
        pos = m.end()
    parts.append(re.escape(pattern[pos:]))
    literals = sum(1 for seg in pattern.split("/") if seg and not _PARAM.search(seg))
    return re.compile("^" + "".join(parts) + "$"), literals


class Router:
    """Maps ``(method, path)`` to handlers; patterns look like ``/channels/{channel_id}/messages``.

    When several patterns match, the one with the most literal segments wins (``/pins/all`` beats
    ``/pins/{message_id}``). Unknown paths answer 404, a known path with another method 405, a
    handler's :class:`ApiError` its error body and any other exception a 500 error body: never a traceback.
    """

    def __init__(self) -> None:
        self._routes: list[_Route] = []
        self._observers: list[Observer] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """Register ``handler`` for ``method`` (upper-cased) on ``pattern``."""
        regex, literals = _compile(pattern)
        self._routes.append(_Route(method.upper(), pattern, regex, literals, handler))

    def add_observer(self, observer: Observer) -> None:
        """Call ``observer(request, response)`` after every dispatch (used to record API calls)."""
        self._observers.append(observer)

    def routes(self) -> list[tuple[str, str]]:
        """Every registered ``(method, pattern)``."""
        return [(r.method, r.pattern) for r in self._routes]

    def _match(self, method: str, path: str) -> tuple[_Route | None, dict[str, str], bool]:
        best: tuple[_Route, dict[str, str]] | None = None
        path_known = False
        for route in self._routes:
            m = route.regex.match(path)
            if m is None:
                continue
            path_known = True
            if route.method != method and not (method == "HEAD" and route.method == "GET"):
                continue
            if best is None or route.literals > best[0].literals:
                best = (route, m.groupdict())
        if best is None:
            return None, {}, path_known
        return best[0], best[1], path_known

    async def dispatch(self, req: HttpRequest) -> HttpResponse:
        """Answer ``req``; never raises."""
        path = unquote(req.path.split("?", 1)[0]) or "/"
        if len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/") or "/"
        route, params, path_known = self._match(req.method.upper(), path)
        if route is None:
            if path_known:
                resp = error_response(405, 405, f"method {req.method} not allowed on {path}")
            else:
                resp = error_response(404, 404, f"no such API: {req.method} {path}")
        else:
            try:
                resp = await route.handler(req, params)
            except ApiError as exc:
                _log.info("rejected %s %s: %d/%d %s", req.method, path, exc.status, exc.code, exc.message)
                resp = error_response(exc.status, exc.code, exc.message, extra=exc.extra)
            except Exception as exc:  # never leak a traceback to the client; log it for the developer
                _log.exception("handler for %s %s failed", req.method, path)
                resp = error_response(500, 500, f"emulator internal error: {type(exc).__name__}")
        if req.method.upper() == "HEAD":
            resp = HttpResponse(resp.status, b"", resp.headers)
        for observer in self._observers:
            observer(req, resp)
        return resp
