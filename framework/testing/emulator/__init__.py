"""Deprecated: the emulator moved to :mod:`framework.emulator`; this name goes in the next release."""

from __future__ import annotations

from framework._deprecated import warn_moved
from framework.emulator import (
    Emulator,
    EmulatorConfig,
    GatewaySettings,
    add_arguments,
    config_from_args,
    config_from_namespace,
    main,
    parse_intents,
    serve_forever,
    serve_from_namespace,
)

__all__ = [
    "Emulator",
    "EmulatorConfig",
    "GatewaySettings",
    "add_arguments",
    "config_from_args",
    "config_from_namespace",
    "main",
    "parse_intents",
    "serve_forever",
    "serve_from_namespace",
]

warn_moved(__name__)
