"""Deprecated: moved to :mod:`framework.runtime.gateway.shard`; this name goes in the next release."""

from __future__ import annotations

from framework._deprecated import warn_moved
from framework.runtime.gateway.shard import (
    OutboundLimiter,
    Shard,
    ShardOptions,
    ShardStatus,
    TokenProvider,
    intent_names,
)

__all__ = ["OutboundLimiter", "Shard", "ShardOptions", "ShardStatus", "TokenProvider", "intent_names"]

warn_moved(__name__)
