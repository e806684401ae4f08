"""The OpenAPI exception hierarchy and the mapping from (HTTP status, platform code) to it (protocol.md §6).

Every exception carries ``status`` (HTTP status, 0 when no answer arrived), ``code`` (``err_code`` or
``code`` of the body, 0 when absent), ``message``, ``trace_id`` (``X-Tps-trace-ID``), ``method`` and
``path`` (the route template); ``str(exc)`` shows all of them and never a token.

The platform code wins over the HTTP status when both name a class: business errors arrive with
statuses that are not documented per code (11245 comes with HTTP 500, for instance).
"""

from __future__ import annotations

from framework.errors import QQBotError, TransportError
from framework.models import errorcodes as ec

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "DuplicateMessageError",
    "ForbiddenError",
    "InvalidReplyTargetError",
    "LegacyTokenDisabledError",
    "NetworkError",
    "NotFoundError",
    "OpenAPIError",
    "RateLimitedError",
    "ReplyWindowExpiredError",
    "ServerError",
    "UnexpectedResponseError",
    "error_class_for",
]


class OpenAPIError(QQBotError):
    """A failed OpenAPI call."""

    def __init__(
        self,
        message: str = "",
        *,
        status: int = 0,
        code: int = 0,
        trace_id: str = "",
        method: str = "",
        path: str = "",
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.trace_id = trace_id
        self.method = method
        self.path = path
        super().__init__(self._describe())

    @property
    def err_code(self) -> int:
        """Alias of ``code`` (the live platform's name for it)."""
        return self.code

    def _describe(self) -> str:
        where = f"{self.method} {self.path}: " if self.method else ""
        return (
            f"{where}HTTP {self.status}, code {self.code}: {self.message or '(no message)'} "
            f"(trace_id={self.trace_id or '-'})"
        )


class BadRequestError(OpenAPIError):
    """HTTP 400 and request-content codes (invalid body, empty or too long message, URL not allowed...)."""


class AuthenticationError(OpenAPIError):
    """HTTP 401 or codes 11241 (token missing), 11243 (token invalid), 11244 (token expired)."""


class LegacyTokenDisabledError(AuthenticationError):
    """Code 11245: the fixed ``Bot {appid}.{token}`` scheme is disabled; use an access token."""


class ForbiddenError(OpenAPIError):
    """HTTP 403 and permission codes (API not granted, bot banned or muted, proactive messages denied...)."""


class NotFoundError(OpenAPIError):
    """HTTP 404: no such API or resource."""


class RateLimitedError(OpenAPIError):
    """HTTP 429 or a rate-limit code (§6.2). ``retry_after`` is the wait the client would have needed."""

    def __init__(
        self,
        message: str = "",
        *,
        retry_after: float | None = None,
        status: int = 0,
        code: int = 0,
        trace_id: str = "",
        method: str = "",
        path: str = "",
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, status=status, code=code, trace_id=trace_id, method=method, path=path)

    def _describe(self) -> str:
        text = super()._describe()
        if self.retry_after is not None:
            text += f"; retry after {self.retry_after:.2f}s"
        return text


class ReplyWindowExpiredError(OpenAPIError):
    """The passive-reply window (or reply count) of ``msg_id``/``event_id`` is used up
    (40034005, 304027, 304103, 40034026, 40034128)."""


class InvalidReplyTargetError(OpenAPIError):
    """The ``msg_id``/``event_id`` cannot be replied to (304026, 304028, 40034024, 40034025, 40034027)."""


class DuplicateMessageError(OpenAPIError):
    """40054005: the same ``msg_id`` + ``msg_seq`` was already sent (use a new ``msg_seq``)."""


class ServerError(OpenAPIError):
    """HTTP 5xx without a more specific platform code."""


class UnexpectedResponseError(OpenAPIError):
    """A 2xx answer whose body does not decode into the documented shape (malformed JSON, wrong types).

    The call itself was executed (``status`` is the 2xx status, ``trace_id`` identifies it for the
    platform's support); only its answer could not be read. Message sends never raise this: they
    return :class:`~framework.runtime.openapi.results.Delivered` instead.
    """


class NetworkError(OpenAPIError, TransportError):
    """No answer: timeout or connection failure (``status`` is 0). httpx's transport exceptions are mapped to
    this one in the client; the original is its ``__cause__``. Also a :class:`~framework.errors.TransportError`."""


def error_class_for(status: int, code: int) -> type[OpenAPIError]:
    """The exception class for an HTTP status and platform code."""
    if code == ec.LEGACY_TOKEN_DISABLED:
        return LegacyTokenDisabledError
    if code in ec.AUTH_CODES:
        return AuthenticationError
    if code in ec.DUPLICATE_CODES:
        return DuplicateMessageError
    if code in ec.REPLY_WINDOW_CODES:
        return ReplyWindowExpiredError
    if code in ec.INVALID_REPLY_CODES:
        return InvalidReplyTargetError
    if code in ec.RATE_LIMIT_CODES:
        return RateLimitedError
    if code in ec.FORBIDDEN_CODES:
        return ForbiddenError
    if status == 401:
        return AuthenticationError
    if status == 403:
        return ForbiddenError
    if status == 404:
        return NotFoundError
    if status == 429:
        return RateLimitedError
    if status >= 500:
        return ServerError
    if 400 <= status < 500:
        return BadRequestError
    return OpenAPIError
