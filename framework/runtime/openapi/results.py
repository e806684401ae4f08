"""Non-exception outcomes of OpenAPI calls; defined in :mod:`framework.models.results` (so the seams can name
them) and re-exported here, the same objects."""

from __future__ import annotations

from framework.models.results import Delivered, PendingAudit, ReplyResult

__all__ = ["Delivered", "PendingAudit", "ReplyResult"]
