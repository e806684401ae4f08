"""Logging set-up: readable text by default, JSON on request, secrets always redacted.

Every handler installed by :func:`configure_logging` carries a :class:`RedactingFilter`, which replaces
registered secrets (app secrets, access tokens: see :func:`register_secret`) and anything that looks
like an ``Authorization`` value (``QQBot <token>``, ``Bot <appid>.<token>``) with ``<redacted>``.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Literal, TextIO

__all__ = [
    "REDACTED",
    "JsonFormatter",
    "RedactingFilter",
    "configure_logging",
    "log_fields",
    "redact",
    "register_secret",
    "scrub",
]

_secrets: set[str] = set()
_tokens: OrderedDict[str, None] = OrderedDict()  # recent access tokens, bounded
_MAX_TOKENS = 64
_lock = threading.Lock()
_AUTH_RE = re.compile(r"\b(QQBot|Bot|Bearer)\s+[A-Za-z0-9._\-+/=]{6,}")
REDACTED = "<redacted>"
"""What a secret is replaced with, in log lines, exception messages and reprs."""


log_fields: ContextVar[Any] = ContextVar("qqbot_log_fields", default=None)
"""What :class:`JsonFormatter` adds to every record logged in this context: a mapping of fields (with tracing:
``event_id``, ``event_type``, ``shard_id``, ``trace_id``, ``span_id``), or the event being handled itself (an
object with ``id``, ``type`` and ``shard_id``: read only when a record is written, so setting it costs one
call per event). Set per event by :mod:`framework.observability`; None outside an event."""


def register_secret(value: str | None, *, temporary: bool = False) -> None:
    """Make ``value`` (a secret or token, at least 4 characters) disappear from every log line.

    ``temporary=True`` is for short-lived values such as access tokens: only the most recent 64 are
    kept, so a long-running process does not accumulate every token it ever held.
    """
    if value and len(value) >= 4:
        with _lock:
            if temporary:
                _tokens[value] = None
                _tokens.move_to_end(value)
                while len(_tokens) > _MAX_TOKENS:
                    _tokens.popitem(last=False)
            else:
                _secrets.add(value)


def scrub(text: str, *secrets: str | None) -> str:
    """Return ``text`` with each of ``secrets`` (empty and None ignored) replaced by :data:`REDACTED`.

    For exception messages built from what a server sent back, which may echo a token or the secret.
    """
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact(text: str) -> str:
    """Return ``text`` with registered secrets and authorization values replaced."""
    text = _AUTH_RE.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    with _lock:
        known = sorted([*_secrets, *_tokens], key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """Redacts the fully formatted message (and exception text) of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``msg`` and ``exc`` when present."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_text:
            payload["exc"] = record.exc_text
        elif record.exc_info:
            payload["exc"] = redact(self.formatException(record.exc_info))
        for key in ("shard_id", "event_type", "plugin"):
            if hasattr(record, key):
                payload[key] = getattr(record, key)
        fields = log_fields.get()
        if fields is not None:  # the event being handled (and its trace), set by framework.observability
            if not isinstance(fields, Mapping):
                fields = _event_fields(fields)
            for key, value in fields.items():
                payload.setdefault(key, value)
        return json.dumps(payload, ensure_ascii=False)


def _event_fields(event: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"event_type": getattr(event, "type", None)}
    if getattr(event, "id", None):
        fields["event_id"] = event.id
    if getattr(event, "shard_id", None) is not None:
        fields["shard_id"] = event.shard_id
    return fields


def configure_logging(
    level: str = "INFO", fmt: Literal["text", "json"] = "text", *, stream: TextIO | None = None
) -> logging.Handler:
    """Install one redacting handler on the root logger (replacing one installed earlier)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    handler.set_name("qqbot")
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == "qqbot":
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # third-party request/connection chatter only when debugging
    noisy_level = logging.DEBUG if level.upper() == "DEBUG" else logging.WARNING
    for name in _NOISY:
        logging.getLogger(name).setLevel(noisy_level)
    return handler


_NOISY = ("httpx", "httpcore", "websockets", "hypercorn.access")
