"""The declarative :class:`Bot`: decorators for every event, commands, middleware, intents and plugins.

A transport (gateway session manager, webhook app, event-bus consumer) needs only two things from it:
:attr:`Bot.intents` and :meth:`Bot.dispatch`. The API client is injected with :meth:`Bot.bind`.
"""

from __future__ import annotations

import inspect
import logging
import warnings
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Hashable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar, Unpack, overload
from urllib.parse import urlsplit

import anyio

from framework.app._decorators import EventDecorators
from framework.app.api import ApiClient, ApiRequest
from framework.app.commands import Command, arguments_from
from framework.app.context import Context
from framework.app.dispatcher import UNDECODABLE, Dispatcher, Route, Runnable
from framework.app.errors import BotError, HandlerSignatureError, HandlerTimeoutError, IntentsError, NotBoundError
from framework.app.handlers import ANY_MESSAGE, Handler, HandlerOptions, bind_parameters, call_with
from framework.app.injection import ParamSource, describe
from framework.app.ledger import ReplyLedger
from framework.app.middleware import Middleware
from framework.app.router import CommandRouter, help_command
from framework.app.rules import Rule
from framework.app.scenes import MESSAGE_EVENTS_BY_SCENE, Scene, parse_scenes
from framework.clock import Clock, SystemClock
from framework.delivery import EventDispatcher
from framework.models import EVENT_TABLE, InboundEvent, Intents, RawEvent, Ready, intents_for
from framework.models.event_table import EventSpec
from framework.models.intents import NEEDS_APPROVAL, approval_note
from framework.plugins.manager import PluginManager

__all__ = ["Bot"]

log = logging.getLogger("framework.app")

_H = TypeVar("_H", bound=Callable[..., Awaitable[Any]])
_F = TypeVar("_F", bound=Callable[..., Any])
ErrorHandler = Callable[..., Awaitable[Any]]


class Bot(EventDecorators):
    """A QQ bot, declared with decorators.

    ``config`` is the bot's configuration mapping (its ``plugins`` section selects and configures
    plugins, see :mod:`framework.plugins.manager`; ``bot.scenes`` overrides ``scenes``). ``scenes``
    says where the bot serves (``"group"``, ``"c2c"``, ``"guild"``, ``"dm"``): commands registered
    without ``scenes=`` answer there, and the intents they imply are required. Left unsaid, such
    commands answer everywhere, and the intents that need approval are asked for as *optional* ones
    (dropped when the platform refuses them). ``intents`` overrides the computed intents; a handler the
    override excludes is an error at start. ``plugins`` registers plugin objects directly (in addition
    to entry-point plugins enabled in the config).
    """

    def __init__(
        self,
        name: str = "qqbot",
        *,
        config: Mapping[str, Any] | None = None,
        scenes: Iterable[Scene | str] | None = None,
        intents: Intents | None = None,
        plugins: Iterable[object] = (),
        strict: bool | None = None,
        clock: Clock | None = None,
        help: bool = True,
        concurrency: int = 64,
        handler_timeout: float | None = 60.0,
        queue_size: int = 1024,
        workers: int | None = None,
    ) -> None:
        self.name = name
        self.config: Mapping[str, Any] = dict(config or {})
        self.clock: Clock = clock or SystemClock()
        self.ledger = ReplyLedger()
        self.bot_id: str | None = None
        """The bot's user id, known after the first READY."""
        self.api_types: set[type[Any]] = set(_runtime_client_types())
        self.provided: dict[type[Any], Any] = {}
        self._intents_override = intents
        self._scenes_arg = _scenes(scenes, "Bot(scenes=...)") if scenes is not None else None
        self._scenes_config: frozenset[Scene] | None = None
        self._help = help
        if workers is not None:
            warnings.warn("Bot(workers=...) is now Bot(concurrency=...)", DeprecationWarning, stacklevel=2)
            concurrency = workers
        if concurrency < 1:
            raise BotError(f"concurrency must be at least 1, got {concurrency}")
        if handler_timeout is not None and handler_timeout <= 0:
            raise BotError(f"handler_timeout must be a positive number of seconds (or None), got {handler_timeout}")
        self.concurrency = concurrency
        """Handlers running at once at most (events of one chat always run one after the other)."""
        self.handler_timeout = handler_timeout
        """Seconds an event's handlers may run before they are cancelled and reported (None: no limit)."""
        self._queue_size = queue_size
        self._handlers: list[Handler] = []
        self._commands: list[Command] = []
        self._middleware: list[tuple[Middleware, str | None]] = []
        self._startup: list[tuple[Callable[..., Awaitable[Any]], tuple[ParamSource, ...], str | None]] = []
        self._shutdown: list[tuple[Callable[..., Awaitable[Any]], tuple[ParamSource, ...], str | None]] = []
        self._error_handlers: list[tuple[ErrorHandler, int, str | None]] = []
        self._api: ApiClient | None = None
        self._owner: str | None = None
        self._dispatcher: Dispatcher | None = None
        self._keyed: dict[str, EventSpec] = {}  # routed event type -> its row (for event_keys)
        self._plugins_loaded = False
        self.delivery: EventDispatcher | None = None
        """The one event-delivery path while the bot runs (see :meth:`running`); transports feed it."""
        self._apply_scenes_config()
        plugin_section = self.config.get("plugins") or {}
        self.plugins = PluginManager(
            self, strict=bool(plugin_section.get("strict", False)) if strict is None else strict
        )
        for plugin in plugins:
            self.plugins.add(plugin)

    def __repr__(self) -> str:
        return f"Bot(name={self.name!r}, handlers={len(self._handlers)}, commands={len(self._commands)})"

    def configure(self, config: Mapping[str, Any]) -> None:
        """Merge ``config`` sections (e.g. ``{"plugins": {...}}`` from the TOML file) into :attr:`config`.

        Must run before plugins are loaded (before :attr:`intents` is read or the bot starts).
        """
        if self._plugins_loaded:
            raise RuntimeError("configure() must be called before the plugins are loaded")
        merged = dict(self.config)
        for key, value in config.items():
            if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        self.config = merged
        self._apply_scenes_config()
        self._dispatcher = None
        plugin_section = merged.get("plugins") or {}
        if "strict" in plugin_section:
            self.plugins.strict = bool(plugin_section["strict"])

    def _apply_scenes_config(self) -> None:
        section = self.config.get("bot") or {}
        if not isinstance(section, Mapping):
            section = {}
        value = section.get("scenes")
        self._scenes_config = _scenes(value, "bot.scenes") if value is not None else None
        concurrency = section.get("concurrency")
        if concurrency is not None:
            if not isinstance(concurrency, int) or concurrency < 1:
                raise BotError(f"bot.concurrency must be an integer of at least 1, got {concurrency!r}")
            self.concurrency = concurrency
        if "handler_timeout" in section:
            timeout = section["handler_timeout"]
            if timeout is not None and (not isinstance(timeout, int | float) or timeout < 0):
                raise BotError(f"bot.handler_timeout must be seconds >= 0 (0: no limit), got {timeout!r}")
            self.handler_timeout = float(timeout) if timeout else None

    @property
    def scenes(self) -> frozenset[Scene]:
        """Where commands registered without ``scenes=`` answer: ``bot.scenes`` from the config, else
        ``Bot(scenes=...)``, else every scene."""
        declared = self._scenes_config if self._scenes_config is not None else self._scenes_arg
        return declared if declared is not None else frozenset(Scene)

    @property
    def scenes_declared(self) -> bool:
        """Whether the config or ``Bot(scenes=...)`` said where the bot serves."""
        return self._scenes_config is not None or self._scenes_arg is not None

    # -- the API client ----------------------------------------------------------------------

    def bind(self, api: ApiClient) -> None:
        """Give the bot its API client (used by replies and injected into handlers).

        A client with an unset ``on_response`` hook (the runtime's ``OpenAPI``) gets
        :meth:`observe_api_response`, so plugins see every request through ``qqbot_api_request``.
        """
        self._api = api
        if getattr(api, "on_response", _MISSING) is None:
            api.on_response = self.observe_api_response  # type: ignore[attr-defined]
        self.api_types.add(type(api))

    @property
    def api(self) -> ApiClient:
        """The bound API client; raises :class:`NotBoundError` before :meth:`bind`."""
        if self._api is None:
            raise NotBoundError("the bot has no API client yet; call bot.bind(api) or start the bot")
        return self._api

    @property
    def api_or_none(self) -> ApiClient | None:
        return self._api

    def provide_api_type(self, cls: type[Any]) -> None:
        """Let handlers receive the API client by annotating a parameter with ``cls`` (the concrete client)."""
        self.api_types.add(cls)

    def provide(self, cls: type[Any], value: Any) -> None:
        """Inject ``value`` into handler parameters annotated with ``cls`` (plugin configs use this)."""
        self.provided[cls] = value

    def observe_api_request(self, request: ApiRequest) -> None:
        """Report one API request to the plugins' ``qqbot_api_request`` hook (called by the client)."""
        self.plugins.api_request(request)

    def observe_api_response(self, method: str, url: str, status: int, elapsed: float, trace_id: str, /) -> None:
        """The runtime client's ``on_response`` hook signature, forwarded to :meth:`observe_api_request`."""
        path = urlsplit(url).path or url
        self.observe_api_request(ApiRequest(method, path, status, elapsed, trace_id=trace_id or None))

    # -- registration ------------------------------------------------------------------------

    def _event_decorator(self, event_type: str, func: Any, options: HandlerOptions) -> Any:
        if func is not None:
            return self._add_handler(event_type, func, options)

        def decorate(f: _H) -> _H:
            return self._add_handler(event_type, f, options)

        return decorate

    def _add_handler(self, event_type: str, func: _H, options: HandlerOptions, *, internal: bool = False) -> _H:
        spec = EVENT_TABLE.get(event_type)
        models: list[type[Any]] = [spec.model] if spec is not None else [RawEvent]
        params = bind_parameters(func, bot=self, event_models=models)
        concurrency = options.get("concurrency")
        if concurrency is not None and concurrency < 1:
            raise HandlerSignatureError(describe(func), "concurrency", f"must be at least 1, got {concurrency}")
        self._handlers.append(
            Handler(
                func,
                event_type,
                params,
                rule=options.get("rule"),
                concurrency=concurrency,
                owner=self._owner,
                internal=internal,
            )
        )
        self._dispatcher = None
        return func

    @overload
    def on(self, event_type: str, func: _H, /) -> _H: ...
    @overload
    def on(self, event_type: str, /, **options: Unpack[HandlerOptions]) -> Callable[[_H], _H]: ...
    def on(self, event_type: str, func: Any = None, /, **options: Unpack[HandlerOptions]) -> Any:
        """Handle any event type by name; types outside the event table receive a ``RawEvent``."""
        return self._event_decorator(event_type, func, options)

    def command(
        self,
        name: str,
        *,
        aliases: Sequence[str] = (),
        scenes: Iterable[Scene | str] | None = None,
        rule: Rule | None = None,
        concurrency: int | None = None,
        hidden: bool = False,
        block: bool = True,
    ) -> Callable[[_H], _H]:
        """Register a command ``/name``; arguments come from the function's annotated parameters.

        ``scenes`` limits where it answers (default: the bot's scenes, see :class:`Bot`); the
        docstring's first line is the ``/help`` summary. A matched command consumes the message: the
        event handlers of that message (``@bot.on_group_at_message``, ...) do not run, unless
        ``block=False``. A name or alias another command already uses is refused with :class:`BotError`.
        """
        scoped = scenes is not None
        chosen = _scenes(scenes, f"command /{name}: scenes") if scenes is not None else frozenset(Scene)
        for word in (name, *aliases):
            if not word or any(ch.isspace() for ch in word):
                raise BotError(f"command name {word!r} must be a non-empty word")

        def decorate(func: _H) -> _H:
            self._refuse_duplicate(name, aliases, func)
            leftovers: list[inspect.Parameter] = []
            models = [EVENT_TABLE[MESSAGE_EVENTS_BY_SCENE[s]].model for s in chosen]
            params = bind_parameters(func, bot=self, event_models=models, leftovers=leftovers)
            cmd = Command(
                name=name.lower(),
                func=func,
                params=params,
                arguments=arguments_from(func, leftovers),
                aliases=tuple(a.lower() for a in aliases),
                scenes=chosen,
                rule=rule,
                concurrency=concurrency,
                owner=self._owner,
                hidden=hidden,
                layout=tuple(inspect.signature(func).parameters.values()),
                scoped=scoped,
                block=block,
            )
            self._commands.append(cmd)
            self._dispatcher = None
            return func

        return decorate

    def _refuse_duplicate(self, name: str, aliases: Sequence[str], func: Callable[..., Any]) -> None:
        words = {w.lower() for w in (name, *aliases)}
        for other in self._commands:
            clash = words & {other.name, *other.aliases}
            if clash:
                word = sorted(clash)[0]
                first = f"plugin {other.owner!r}" if other.owner else "the bot"
                second = f"plugin {self._owner!r}" if self._owner else "the bot"
                raise BotError(
                    f"command /{word} is registered twice: by {first} ({describe(other.func)}) and by {second} "
                    f"({describe(func)}); rename one of them or drop the alias"
                )

    @overload
    def on_any_message(self, func: _H, /) -> _H: ...
    @overload
    def on_any_message(
        self, /, *, scenes: Iterable[Scene | str] | None = None, **options: Unpack[HandlerOptions]
    ) -> Callable[[_H], _H]: ...
    def on_any_message(
        self, func: Any = None, /, *, scenes: Iterable[Scene | str] | None = None, **options: Unpack[HandlerOptions]
    ) -> Any:
        """Handle the user messages of the bot's scenes (or of ``scenes``) that no command consumed.

        Guild @messages, DMs, group @messages and C2C messages; the handler may take ``Context``, the
        event model of a scene, ``InboundEvent`` or ``Bot``. Its intents follow the rules of commands.
        """
        chosen = _scenes(scenes, "on_any_message scenes") if scenes is not None else None

        def decorate(f: _H) -> _H:
            wanted = chosen if chosen is not None else frozenset(Scene)
            models = [EVENT_TABLE[MESSAGE_EVENTS_BY_SCENE[s]].model for s in sorted(wanted)]
            params = bind_parameters(f, bot=self, event_models=models)
            concurrency = options.get("concurrency")
            if concurrency is not None and concurrency < 1:
                raise HandlerSignatureError(describe(f), "concurrency", f"must be at least 1, got {concurrency}")
            handler = Handler(
                f, ANY_MESSAGE, params, rule=options.get("rule"), concurrency=concurrency, owner=self._owner
            )
            handler.scenes = chosen
            self._handlers.append(handler)
            self._dispatcher = None
            return f

        return decorate(func) if func is not None else decorate

    def middleware(self, mw: _F) -> _F:
        """Register ``async def mw(ctx, call_next)`` around the handlers of every event (in registration order)."""
        if not _is_async(mw):
            raise HandlerSignatureError(describe(mw), "-", "middleware must be an async function (ctx, call_next)")
        self._middleware.append((mw, self._owner))
        self._dispatcher = None
        return mw

    def on_startup(self, func: _H) -> _H:
        """Run ``func`` when the bot starts (may ask for ``Bot``, the API client or provided types)."""
        self._startup.append((func, bind_parameters(func, bot=self, event_models=(), with_event=False), self._owner))
        return func

    def on_shutdown(self, func: _H) -> _H:
        """Run ``func`` when the bot stops."""
        self._shutdown.append((func, bind_parameters(func, bot=self, event_models=(), with_event=False), self._owner))
        return func

    @overload
    def on_ready(self, func: _H, /) -> _H: ...
    @overload
    def on_ready(self, /, **options: Unpack[HandlerOptions]) -> Callable[[_H], _H]: ...
    def on_ready(self, func: Any = None, /, **options: Unpack[HandlerOptions]) -> Any:
        """Run ``func`` when a gateway session is ready (once per shard; may take the ``Ready`` event)."""
        return self._event_decorator("READY", func, options)

    def on_error(self, func: _H) -> _H:
        """Run ``async def func(error, ctx)`` when a handler, command or middleware raises.

        ``ctx`` is the event's :class:`Context` (``None`` if the event could not be decoded); a
        one-parameter function gets only the error.
        """
        if not _is_async(func):
            raise HandlerSignatureError(describe(func), "-", "is not an async function (use `async def`)")
        positional = [
            p
            for p in inspect.signature(func).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
        if len(positional) not in (1, 2):
            raise HandlerSignatureError(describe(func), "-", "an error handler takes (error) or (error, ctx)")
        self._error_handlers.append((func, len(positional), self._owner))
        return func

    def _remove_owned(self, owner: str) -> None:
        """Drop everything a plugin registered (its register hook failed or it was disabled)."""
        self._handlers = [h for h in self._handlers if h.owner != owner]
        self._commands = [c for c in self._commands if c.owner != owner]
        self._middleware = [m for m in self._middleware if m[1] != owner]
        self._startup = [s for s in self._startup if s[2] != owner]
        self._shutdown = [s for s in self._shutdown if s[2] != owner]
        self._error_handlers = [e for e in self._error_handlers if e[2] != owner]
        self._dispatcher = None

    # -- what is registered ------------------------------------------------------------------

    @property
    def handlers(self) -> list[Handler]:
        """Registered event handlers (plugins included once loaded)."""
        return [h for h in self._handlers if not h.internal]

    @property
    def commands(self) -> list[Command]:
        """Registered commands (plugins included once loaded)."""
        return list(self._commands)

    def _needed(self) -> tuple[dict[str, Intents], dict[str, Intents]]:
        """Handler/command name -> intents it requires, and -> intents it would use if granted.

        Event handlers and commands with scenes (their own or the bot's declared ones) require theirs.
        A command following undeclared bot scenes answers everywhere it can: what of that needs
        approval (:data:`NEEDS_APPROVAL`) is optional, the rest (public guild @messages) required.
        """
        required: dict[str, Intents] = {}
        optional: dict[str, Intents] = {}
        scoped: list[tuple[str, frozenset[Scene] | None]] = [
            (f"/{c.name}", c.scenes if c.scoped else None) for c in self._commands
        ]
        for h in self.handlers:
            if h.event_type == ANY_MESSAGE:
                scoped.append((h.name, h.scenes))
            else:
                required[h.name] = required.get(h.name, Intents.NONE) | intents_for([h.event_type])
        for name, scenes in scoped:
            implied = intents_for(MESSAGE_EVENTS_BY_SCENE[s] for s in (scenes or self.scenes))
            if scenes is not None or self.scenes_declared:
                required[name] = required.get(name, Intents.NONE) | implied
            else:
                required[name] = required.get(name, Intents.NONE) | (implied & ~NEEDS_APPROVAL)
                optional[name] = optional.get(name, Intents.NONE) | (implied & NEEDS_APPROVAL)
        return required, optional

    @property
    def required_intents(self) -> Intents:
        """Intents the bot cannot run without: the override, or what handlers and scoped commands need.

        Reading it loads the configured plugins (their registrations count).
        """
        self.load_plugins()
        if self._intents_override is not None:
            return self._intents_override
        result = Intents.NONE
        for value in self._needed()[0].values():
            result |= value
        return result

    @property
    def optional_intents(self) -> Intents:
        """Intents identify also asks for but the bot can run without (see :class:`Bot`); the runtime
        drops them, with a log line, when the platform refuses them. None with an ``intents`` override."""
        self.load_plugins()
        if self._intents_override is not None:
            return Intents.NONE
        result = Intents.NONE
        for value in self._needed()[1].values():
            result |= value
        return result & ~self.required_intents

    @property
    def intents(self) -> Intents:
        """The intents to identify with first: :attr:`required_intents` | :attr:`optional_intents`.

        Reading it loads the configured plugins (their registrations count).
        """
        return self.required_intents | self.optional_intents

    def intent_report(self) -> list[dict[str, Any]]:
        """One row per intent asked for: name, value, required, how it is obtained, who needs it."""
        required, optional = self._needed()
        req = self.required_intents
        rows = []
        for flag in Intents:
            if not flag or flag not in self.intents:
                continue
            needed_by = [n for n, v in required.items() if flag in v]
            needed_by += [n for n, v in optional.items() if flag in v and n not in needed_by]
            rows.append(
                {
                    "name": str(flag.name),
                    "value": int(flag),
                    "required": flag in req,
                    "approval": approval_note(flag),
                    "needed_by": needed_by,
                }
            )
        return rows

    def describe(self) -> dict[str, Any]:
        """A summary for ``qqbot check``: intents, handlers, commands, middleware and plugins."""
        self.load_plugins()
        return {
            "name": self.name,
            "intents": [str(i.name) for i in Intents if i and i in self.intents],
            "required_intents": [str(i.name) for i in Intents if i and i in self.required_intents],
            "optional_intents": [str(i.name) for i in Intents if i and i in self.optional_intents],
            "intent_report": self.intent_report(),
            "scenes": sorted(s.value for s in self.scenes),
            "scenes_declared": self.scenes_declared,
            "handlers": [{"event": h.event_type, "handler": h.name, "plugin": h.owner} for h in self.handlers],
            "commands": [
                {"name": c.name, "aliases": list(c.aliases), "usage": c.usage, "plugin": c.owner}
                for c in self._commands
            ],
            "middleware": [{"middleware": describe(m), "plugin": owner} for m, owner in self._middleware],
            "plugins": self.plugins.names,
            "plugin_failures": [str(f) for f in self.plugins.failures],
        }

    # -- start -------------------------------------------------------------------------------

    def load_plugins(self) -> None:
        """Load, configure and register the plugins once (entry points per the ``plugins`` config)."""
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        self.plugins.load_from_config(self.config.get("plugins"))

    def prepare(self) -> None:
        """Load plugins, check intents and build the dispatch table. Safe to call more than once."""
        self.load_plugins()
        self._check_intents()
        self._dispatcher = self._build()

    def _check_intents(self) -> None:
        override = self._intents_override
        if override is None:
            return
        problems = []
        for name, needs in self._needed()[0].items():
            missing = needs & ~override
            if missing:
                flags = ", ".join(str(i.name) for i in Intents if i and i in missing)
                problems.append(f"{name} needs {flags}")
        if problems:
            raise IntentsError("the intents override excludes events some handlers need: " + "; ".join(problems))

    def _build(self) -> Dispatcher:
        self._keyed = {}
        routes: dict[str, list[Runnable]] = defaultdict(list)
        routes["READY"].append(_ReadyTracker())
        commands = [c for c in self._commands]
        for c in commands:
            if not c.scoped:
                c.scenes = self.scenes
        if self._help and commands and not any(c.name == "help" or "help" in c.aliases for c in commands):
            builtin = help_command(self)
            builtin.scenes = frozenset(s for c in commands for s in c.scenes)
            commands.append(builtin)
        if commands:
            router = CommandRouter(commands)
            for scene in sorted({s for c in commands for s in c.scenes}, key=lambda s: s.value):
                routes[MESSAGE_EVENTS_BY_SCENE[scene]].append(router)
        for h in self._handlers:
            h.prepare()
            if h.event_type == ANY_MESSAGE:
                for scene in sorted(h.scenes or self.scenes):
                    routes[MESSAGE_EVENTS_BY_SCENE[scene]].append(h)
            else:
                routes[h.event_type].append(h)
        for c in commands:
            c.prepare()
        table = {t: Route(t, tuple(hs)) for t, hs in routes.items()}
        self._keyed = {t: spec for t in table if t not in _NEVER_DEDUPED and (spec := EVENT_TABLE.get(t)) is not None}
        return Dispatcher(self, table, [m for m, _ in self._middleware], self._report)

    @asynccontextmanager
    async def running(
        self,
        api: ApiClient | None = None,
        *,
        drain_timeout: float | None = None,
        handler_deadline: float | None = None,
    ) -> AsyncIterator[Bot]:
        """Start the bot (plugins, ``on_startup``); stop it on exit.

        While running, :attr:`delivery` is the bot's :class:`~framework.delivery.EventDispatcher`: gateway
        shards, the webhook app and :meth:`dispatch` feed it; it deduplicates, keeps each chat's events in
        order, runs at most :attr:`concurrency` at once and cancels handlers past :attr:`handler_timeout`.
        On exit it stops taking events and delivers the queued ones (within ``drain_timeout`` real seconds,
        then gives running handlers ``handler_deadline`` more; ``None``: wait for them), then ``on_shutdown``
        and the plugins' shutdown hooks run (shielded).
        """
        if api is not None:
            self.bind(api)
        self.prepare()
        await self._run_lifecycle(self._startup)
        await self.plugins.startup()
        delivery = EventDispatcher(
            self.process,
            concurrency=self.concurrency,
            buffer=self._queue_size,
            classify=self.event_keys,
            handler_timeout=self.handler_timeout,
            on_timeout=self._report_timeout,
            clock=self.clock,
        )
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(delivery.run)
                self.delivery = delivery
                try:
                    yield self
                finally:
                    delivery.close()
                    with anyio.CancelScope(shield=True):
                        await _drain(delivery, drain_timeout, handler_deadline)
                    tg.cancel_scope.cancel()
        finally:
            self.delivery = None
            with anyio.CancelScope(shield=True):
                await self._run_lifecycle(self._shutdown)
                await self.plugins.shutdown()

    async def _run_lifecycle(
        self, hooks: Sequence[tuple[Callable[..., Awaitable[Any]], tuple[ParamSource, ...], str | None]]
    ) -> None:
        for func, params, _owner in hooks:
            args, kwargs = call_with(params, self, None)
            try:
                await func(*args, **kwargs)
            except Exception as exc:
                await self._report(exc, None, describe(func))

    # -- the event path ----------------------------------------------------------------------

    async def dispatch(self, event: InboundEvent) -> None:
        """Hand ``event`` to the bot: onto :attr:`delivery` while running (waits only for queue space), else
        processed now. Never raises because of a handler; errors go to ``on_error`` and the plugins' error hook.
        """
        delivery = self.delivery
        if delivery is not None and not delivery.closed:
            await delivery.put(event)
        else:
            await self.process(event)

    def event_keys(self, event: InboundEvent) -> tuple[Hashable | None, Hashable | None]:
        """The delivery keys of ``event`` (:data:`framework.delivery.Classifier`): dedupe on the message id for
        message events, on the envelope id otherwise; order per chat (a group, a C2C user, a channel, a guild).

        Event types no handler listens to are not decoded. The decoded payload is kept on the event, so the
        handlers do not decode it again.
        """
        spec = self._keyed.get(event.type)
        if spec is None:
            return (event.id if event.type not in _NEVER_DEDUPED else None), None
        try:
            decoded = event.decode()
        except Exception:  # process() reports it with the event's type, id and shard
            return event.id, None
        key: Hashable | None = event.id
        if spec.dedupe_by_message_id:
            message_id = decoded.id
            if message_id:
                key = (event.type, message_id)
        lane = spec.lane
        return key, (lane(decoded) if lane is not None else None)

    def process(self, event: InboundEvent) -> Coroutine[Any, Any, None]:
        """Run the handlers for ``event`` now (``await bot.process(event)``); returns when they finished.

        A plain function returning the dispatcher's coroutine (one coroutine fewer per event than an
        ``async def`` wrapper); it builds the dispatch table first if needed.
        """
        dispatcher = self._dispatcher
        if dispatcher is None:
            self.prepare()
            dispatcher = self._dispatcher
            assert dispatcher is not None
        return dispatcher.dispatch(event)

    async def _report_timeout(self, event: InboundEvent, seconds: float) -> None:
        route = self._dispatcher.handler_names(event.type) if self._dispatcher is not None else ""
        error = HandlerTimeoutError(
            f"{event.type} event {event.id or ''} ran past the {seconds:g} s handler timeout and was cancelled "
            f"({route or 'no handler'}); make the handler faster, run slow work in a task, or raise "
            "handler_timeout"
        )
        await self._report(error, None, route or None)

    async def _report(self, error: BaseException, ctx: Context | None, handler: str | None) -> None:
        if handler is not UNDECODABLE:  # the dispatcher logged that one with the event's type, id and shard
            log.error("handler %s failed on %s", handler or "dispatch", ctx.type if ctx else "?", exc_info=error)
        for func, arity, _owner in self._error_handlers:
            try:
                await (func(error, ctx) if arity == 2 else func(error))
            except Exception:
                log.exception("error handler %s failed", describe(func))
        self.plugins.handler_error(error, ctx, handler)


_MISSING = object()
_NEVER_DEDUPED = frozenset({"READY", "RESUMED"})


async def _drain(delivery: EventDispatcher, drain_timeout: float | None, handler_deadline: float | None) -> None:
    """Wait (real seconds) for queued events to reach the handlers, then for running handlers; log what is cut."""
    with anyio.move_on_after(drain_timeout):
        await (delivery.done if handler_deadline is None else delivery.drained).wait()
    if handler_deadline is not None:
        with anyio.move_on_after(handler_deadline):
            await delivery.done.wait()
    if not delivery.done.is_set():
        log.warning(
            "shutdown deadline passed: %d queued event(s) undelivered, cancelling %d running handler(s)",
            delivery.pending(),
            delivery.running,
        )


def _runtime_client_types() -> tuple[type[Any], ...]:
    """The runtime's concrete client class, injectable by its own annotation (if importable)."""
    try:
        from framework.runtime.openapi import OpenAPI
    except ImportError:  # pragma: no cover - runtime not installed/broken
        return ()
    return (OpenAPI,)


def _scenes(values: Iterable[Scene | str], source: str) -> frozenset[Scene]:
    try:
        return parse_scenes(values, source=source)
    except ValueError as exc:
        raise BotError(str(exc)) from None


def _is_async(func: object) -> bool:
    return inspect.iscoroutinefunction(func)


class _ReadyTracker:
    """Remembers the bot's own id from READY (used to strip ``<@!botid>`` from commands)."""

    name = "framework.app.bot.ready-tracker"

    async def run(self, bot: Bot, ctx: Context) -> None:
        if isinstance(ctx.event, Ready) and ctx.event.user.id:
            bot.bot_id = ctx.event.user.id
