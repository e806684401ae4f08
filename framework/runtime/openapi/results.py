"""Non-exception outcomes of OpenAPI calls."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PendingAudit"]


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
