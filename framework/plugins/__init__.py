"""Plugins: pluggy hook specifications and the plugin manager that loads, configures and isolates them."""

from framework.plugins.hookspecs import PROJECT_NAME, hookimpl, hookspec
from framework.plugins.manager import ENTRY_POINT_GROUP, PluginError, PluginFailure, PluginManager

__all__ = [
    "ENTRY_POINT_GROUP",
    "PROJECT_NAME",
    "PluginError",
    "PluginFailure",
    "PluginManager",
    "hookimpl",
    "hookspec",
]
