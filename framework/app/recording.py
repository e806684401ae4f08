"""Deprecated: moved to :mod:`framework.testing.recording`; this name goes in the next release."""

from __future__ import annotations

from framework._deprecated import warn_moved
from framework.testing.recording import Call, RecordingApi, at_message, c2c, direct_message, event, group_at

__all__ = ["Call", "RecordingApi", "at_message", "c2c", "direct_message", "event", "group_at"]

warn_moved(__name__)
