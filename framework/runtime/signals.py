"""Deprecated: moved to :mod:`framework.runtime.gateway.signals`; this name goes in the next release."""

from __future__ import annotations

from framework._deprecated import warn_moved
from framework.runtime.gateway.signals import run_until_signal

__all__ = ["run_until_signal"]

warn_moved(__name__)
