"""Loads plugins (entry points or explicit objects), configures them and calls their hooks in isolation.

Entry point group: ``qqbot.plugins``. A distribution declares its plugin in ``pyproject.toml``::

    [project.entry-points."qqbot.plugins"]
    ping = "qqbot_ping"

The entry point's name is the plugin's name (its config section is ``[plugins.ping]``); its value
is a module or object with ``@hookimpl`` functions (a class is instantiated without arguments).

Which plugins load comes from the bot config's ``plugins`` section::

    [plugins]
    enabled = ["ping", "keyword_reply"]   # load these installed plugins
    # autoload = true                     # or: load every installed plugin ...
    # disabled = ["antispam"]             # ... except these
    strict = false                        # true: a broken plugin stops the bot

    [plugins.keyword_reply]               # a plugin's own section (see qqbot_configure)
    enabled = true                        # false disables it too

Installed plugins do not load unless enabled (or ``autoload = true``): installing a package never
changes a bot's behaviour by itself.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
import pluggy

from framework.errors import QQBotError
from framework.plugins import hookspecs
from framework.plugins.hookspecs import PROJECT_NAME

if TYPE_CHECKING:
    from framework.app import ApiRequest, Bot, Context, Router

__all__ = ["ENTRY_POINT_GROUP", "RESERVED_KEYS", "PluginError", "PluginFailure", "PluginManager"]

ENTRY_POINT_GROUP = "qqbot.plugins"
#: Keys of the ``plugins`` config section that are settings, not plugin sections.
RESERVED_KEYS = frozenset({"enabled", "disabled", "autoload", "strict"})

log = logging.getLogger("framework.plugins")


class PluginError(QQBotError):
    """A plugin failed in strict mode (or a config section is malformed)."""


@dataclass(frozen=True, slots=True)
class PluginFailure:
    """One reported plugin failure: which plugin, in which hook (``"load"`` for imports), what error."""

    plugin: str
    hook: str
    error: BaseException

    def __str__(self) -> str:
        return f"plugin {self.plugin!r} failed in {self.hook}: {type(self.error).__name__}: {self.error}"


class PluginManager:
    """The bot's plugins: a pluggy manager plus loading, configuration and failure isolation."""

    def __init__(self, bot: Bot, *, strict: bool = False) -> None:
        self.bot = bot
        self.strict = strict
        self.pm = pluggy.PluginManager(PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.failures: list[PluginFailure] = []
        self.routers: dict[str, Router] = {}
        """Each registered plugin's router (included in the bot), by plugin name."""
        self._configured = False

    # -- loading -----------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """Names of the registered (healthy) plugins, in registration order."""
        return [name for name, _ in self.pm.list_name_plugin()]

    def get(self, name: str) -> object | None:
        """The plugin object registered under ``name``."""
        return self.pm.get_plugin(name)

    def add(self, plugin: object, name: str | None = None) -> bool:
        """Register a plugin object (module, instance or class); return whether it was accepted."""
        if inspect.isclass(plugin):
            try:
                plugin = plugin()
            except Exception as exc:
                self._fail(name or str(getattr(plugin, "__name__", "plugin")), "load", exc)
                return False
        if name is None:
            base = str(getattr(plugin, "__name__", None) or type(plugin).__name__)
            name, n = base, 1
            while self.pm.has_plugin(name):
                n += 1
                name = f"{base}#{n}"
        try:
            self.pm.register(plugin, name=name)
            unknown = [
                caller.name
                for caller in self.pm.get_hookcallers(plugin) or ()
                if caller.spec is None
                and not any(impl.optionalhook for impl in caller.get_hookimpls() if impl.plugin is plugin)
            ]
            if unknown:
                self.pm.unregister(plugin)
                raise pluggy.PluginValidationError(plugin, f"unknown hooks: {', '.join(unknown)}")
        except Exception as exc:
            self._fail(name, "load", exc)
            return False
        return True

    def load_entry_points(
        self, *, enabled: Iterable[str] | None = None, disabled: Iterable[str] = (), autoload: bool = False
    ) -> None:
        """Load plugins of the ``qqbot.plugins`` group: those in ``enabled``, or all with ``autoload``."""
        wanted = set(enabled or ())
        skip = set(disabled)
        found: set[str] = set()
        import importlib.metadata  # here, not at the top: it costs ≈30 ms of `import framework` (email, zipfile, ...)

        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            found.add(ep.name)
            if ep.name in skip or not (autoload or ep.name in wanted) or self.pm.has_plugin(ep.name):
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                self._fail(ep.name, "load", exc)
                continue
            self.add(plugin, ep.name)
        for missing in sorted(wanted - found - skip):
            self._fail(missing, "load", LookupError(f"no installed plugin named {missing!r} ({ENTRY_POINT_GROUP})"))

    def load_from_config(self, section: Mapping[str, Any] | None) -> None:
        """Load entry-point plugins as the ``plugins`` config section says, then configure and register all."""
        section = dict(section or {})
        if "strict" in section:
            self.strict = bool(section["strict"])
        disabled = set(section.get("disabled", ()))
        for key, value in section.items():
            if key not in RESERVED_KEYS and isinstance(value, Mapping) and value.get("enabled") is False:
                disabled.add(key)
        for name in disabled:
            self.disable(name)
        self.load_entry_points(
            enabled=section.get("enabled"), disabled=disabled, autoload=bool(section.get("autoload", False))
        )
        self.configure(section)
        self.register()

    # -- start-up hooks ----------------------------------------------------------------------

    def configure(self, section: Mapping[str, Any]) -> None:
        """Validate each plugin's section (``config_model``) and call ``qqbot_configure`` with it."""
        configs: dict[str, Any] = {}
        for name, plugin in list(self.pm.list_name_plugin()):
            raw = section.get(name, {})
            if isinstance(raw, Mapping):
                raw = {k: v for k, v in raw.items() if k != "enabled"}
            try:
                configs[name] = self._convert(plugin, raw)
            except Exception as exc:
                self._fail(name, "qqbot_configure", exc, disable=True)
        for impl in self._impls("qqbot_configure"):
            try:
                self._call_impl(impl, bot=self.bot, config=configs.get(impl.plugin_name, {}))
            except Exception as exc:
                self._fail(impl.plugin_name, "qqbot_configure", exc, disable=True)

    def register(self) -> None:
        """Call ``qqbot_register`` with each plugin's own router; a plugin that raises loses its router whole.

        The router (named after the plugin) is included in the bot before the hook runs, so what the plugin
        registers is checked against the bot at once (a command name already taken fails the hook); what the
        plugin registers on ``bot`` itself goes to its router too.
        """
        from framework.app import Router  # the app imports this module: resolve the name at call time

        for impl in self._impls("qqbot_register"):
            name = impl.plugin_name
            router = self.routers.get(name)
            if router is None:
                router = self.routers[name] = self.bot.include(Router(name, plugin=name))
            try:
                with self.bot.registering_into(router):
                    self._call_impl(impl, bot=self.bot, router=router)
            except Exception as exc:
                self._fail(name, "qqbot_register", exc, disable=True)

    def disable(self, name: str) -> None:
        """Unregister the plugin ``name`` and drop its router (with everything it registered) from the bot."""
        router = self.routers.pop(name, None)
        if router is not None and router.parent is not None:
            router.parent.exclude(router)
        if self.pm.has_plugin(name):
            self.pm.unregister(name=name)

    async def startup(self) -> None:
        """Await every plugin's ``qqbot_startup``."""
        await self._call_async("qqbot_startup")

    async def shutdown(self) -> None:
        """Await every plugin's ``qqbot_shutdown``."""
        await self._call_async("qqbot_shutdown")

    # -- runtime hooks -----------------------------------------------------------------------

    def handler_error(self, error: BaseException, ctx: Context | None, handler: str | None) -> None:
        """Tell every plugin about a handler failure (a failing observer is only logged)."""
        for impl in self._impls("qqbot_handler_error"):
            try:
                self._call_impl(impl, bot=self.bot, error=error, ctx=ctx, handler=handler)
            except Exception as exc:
                self._fail(impl.plugin_name, "qqbot_handler_error", exc, raise_strict=False)

    def api_request(self, request: ApiRequest) -> None:
        """Tell every plugin about an API request (a failing observer is only logged)."""
        for impl in self._impls("qqbot_api_request"):
            try:
                self._call_impl(impl, bot=self.bot, request=request)
            except Exception as exc:
                self._fail(impl.plugin_name, "qqbot_api_request", exc, raise_strict=False)

    def notify(self, hook: str, **kwargs: Any) -> None:
        """Call an observer hook (``qqbot_gateway_started`` ...) on every plugin; a failing one is only logged."""
        for impl in self._impls(hook):
            try:
                self._call_impl(impl, bot=self.bot, **kwargs)
            except Exception as exc:
                self._fail(impl.plugin_name, hook, exc, raise_strict=False)

    # -- internals ---------------------------------------------------------------------------

    def _impls(self, hook: str) -> list[pluggy.HookImpl]:
        # pluggy calls the list back to front; keep its order
        return list(reversed(getattr(self.pm.hook, hook).get_hookimpls()))

    @staticmethod
    def _call_impl(impl: pluggy.HookImpl, **kwargs: Any) -> Any:
        return impl.function(*(kwargs[name] for name in impl.argnames))

    async def _call_async(self, hook: str) -> None:
        for impl in self._impls(hook):
            try:
                result = self._call_impl(impl, bot=self.bot)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                self._fail(impl.plugin_name, hook, exc)

    def _convert(self, plugin: object, raw: Any) -> Any:
        model = getattr(plugin, "config_model", None)
        if model is None:
            return raw
        value = msgspec.convert(raw if raw is not None else {}, model)
        self.bot.provide(model, value)
        return value

    def _fail(
        self, name: str, hook: str, error: BaseException, *, disable: bool = False, raise_strict: bool = True
    ) -> None:
        failure = PluginFailure(name, hook, error)
        self.failures.append(failure)
        stops = self.strict and raise_strict
        # in strict mode the raised PluginError reports it (one line); the traceback only at DEBUG
        log.log(logging.DEBUG if stops else logging.ERROR, "%s", failure, exc_info=error)
        if disable:
            self.disable(name)
        if stops:
            raise PluginError(str(failure)) from error
