"""Deprecated: the event dispatcher is :mod:`framework.delivery` (the one delivery path for every transport);
this name goes in the next release. ``DedupeWindow`` is :class:`framework.protocol.recent_ids.RecentIds` and
``DispatchStats`` is :class:`framework.delivery.DeliveryStats`; ``EventDispatcher(workers=)`` is now
``concurrency=``."""

from __future__ import annotations

from framework._deprecated import warn_moved
from framework.delivery import (
    Classifier,
    DeliveryObserver,
    DeliveryStats,
    EventDispatcher,
    dedupe_key,
    envelope_keys,
)
from framework.protocol.recent_ids import RecentIds

DedupeWindow = RecentIds
DispatchStats = DeliveryStats

__all__ = ["Classifier", "DeliveryObserver", "DeliveryStats", "EventDispatcher", "dedupe_key", "envelope_keys"]

warn_moved(__name__)
