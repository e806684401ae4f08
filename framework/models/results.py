"""What a message send answers, as plain data: the sent message, or a non-exception outcome of the call.

Defined in the models layer so that the seams (``framework.interfaces.ApiClient``) and ``event.reply`` can
name them; the OpenAPI client (``framework.runtime.openapi``) returns them and re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from framework.models.api import SendResult
from framework.models.events import Message

__all__ = ["Delivered", "PendingAudit", "ReplyResult"]


@dataclass(frozen=True, slots=True)
class PendingAudit:
    """The platform accepted a message but holds it for audit (HTTP 201/202, codes 304023/304024).

    Not an error: the message is delivered (or not) later, announced by MESSAGE_AUDIT_PASS /
    MESSAGE_AUDIT_REJECT events carrying the same ``audit_id``.
    """

    audit_id: str
    status: int = 202
    code: int = 0
    message: str = ""
    trace_id: str = ""


@dataclass(frozen=True, slots=True)
class Delivered:
    """The platform took the message, but its answer does not say more (returned by the message sends).

    Two cases, both logged at WARNING: a 2xx answer whose body does not decode (malformed JSON or
    unexpected types; ``id``/``timestamp`` hold whatever could still be read, else ``""``), and a
    retried passive reply answered 40054005 ("already sent") after an earlier attempt of the same call
    got no clear answer (timeout, connection lost, 5xx): that earlier attempt is the one that landed.
    """

    id: str = ""
    """The message id when the answer still carried one as a string, else ``""``."""
    timestamp: str = ""
    status: int = 200
    """HTTP status of the answer that was read (400 for the 40054005 case)."""
    code: int = 0
    """Platform code of that answer (40054005 for the retried-reply case, else 0)."""
    trace_id: str = ""
    reason: str = ""
    """Why the details are missing, one line."""


ReplyResult: TypeAlias = Message | SendResult | PendingAudit | Delivered
"""What ``ctx.reply`` / ``event.reply`` (and the ``ApiClient`` sends) return: the sent guild ``Message``
(channels and DMs), a ``SendResult`` (groups and C2C), :class:`PendingAudit` when the platform holds the
message for audit, or :class:`Delivered` when it took the message but its answer was unreadable."""
