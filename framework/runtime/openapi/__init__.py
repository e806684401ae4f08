"""The OpenAPI (REST) client: :class:`OpenAPI`, its exceptions , :class:`PendingAudit` and :class:`Delivered`."""

from framework.runtime.openapi.client import OpenAPI
from framework.runtime.openapi.core import (
    DEFAULT_TIMEOUT,
    USER_AGENT,
    Answer,
    RequestHook,
    ResponseHook,
    pooled_http_client,
)
from framework.runtime.openapi.errors import (
    AuthenticationError,
    BadRequestError,
    DuplicateMessageError,
    ForbiddenError,
    InvalidReplyTargetError,
    LegacyTokenDisabledError,
    NetworkError,
    NotFoundError,
    OpenAPIError,
    RateLimitedError,
    ReplyWindowExpiredError,
    ServerError,
    UnexpectedResponseError,
    error_class_for,
)
from framework.runtime.openapi.results import Delivered, PendingAudit

__all__ = [
    "DEFAULT_TIMEOUT",
    "USER_AGENT",
    "Answer",
    "AuthenticationError",
    "BadRequestError",
    "Delivered",
    "DuplicateMessageError",
    "ForbiddenError",
    "InvalidReplyTargetError",
    "LegacyTokenDisabledError",
    "NetworkError",
    "NotFoundError",
    "OpenAPI",
    "OpenAPIError",
    "PendingAudit",
    "RateLimitedError",
    "ReplyWindowExpiredError",
    "RequestHook",
    "ResponseHook",
    "ServerError",
    "UnexpectedResponseError",
    "error_class_for",
    "pooled_http_client",
]
