"""The declarative :class:`Bot`: decorators for every event, commands, middleware, intents and plugins.

A transport (gateway session manager, webhook app, event-bus consumer) needs only two things from it:
:attr:`Bot.intents` and :meth:`Bot.dispatch`. The API client is injected with :meth:`Bot.bind`.
"""

from __future__ import annotations

import logging
import warnings
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Coroutine, Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import Any, TypeVar

import anyio
import msgspec

from framework.app.api import ApiClient, ApiRequest
from framework.app.commands import CommandRouter, help_command
from framework.app.context import Context
from framework.app.conversations import Check, Waiters
from framework.app.dispatcher import UNDECODABLE, Dispatcher, Route, Runnable
from framework.app.errors import BotError, HandlerTimeoutError, IntentsError, NotBoundError
from framework.app.handlers import ANY_MESSAGE, Hook, Registration, call_with
from framework.app.ledger import ReplyLedger
from framework.app.locks import LocalLocks, Locks
from framework.app.router import Router
from framework.app.scenes import MESSAGE_EVENTS_BY_SCENE, Scene, parse_scenes
from framework.app.schedules import Job, Scheduler, send_proactive
from framework.app.state import MemoryStore, StateStore, redis_url, serve_redis_store
from framework.clock import Clock, SystemClock
from framework.delivery import EventDispatcher
from framework.models import EVENT_TABLE, InboundEvent, Intents, Ready, intents_for
from framework.models.envelope import event_decoder
from framework.models.intents import NEEDS_APPROVAL, approval_note
from framework.plugins.manager import PluginManager

__all__ = ["Bot"]

log = logging.getLogger("framework.app")

_R = TypeVar("_R", bound=Registration)
_S = TypeVar("_S")


class Bot(Router):
    """A QQ bot, declared with decorators: the root :class:`~framework.app.router.Router`.

    ``config`` is the bot's configuration mapping (its ``plugins`` section selects and configures
    plugins, see :mod:`framework.plugins.manager`; ``bot.scenes`` overrides ``scenes``). ``scenes``
    says where the bot serves (``"group"``, ``"c2c"``, ``"guild"``, ``"dm"``): commands registered
    without ``scenes=`` answer there, and the intents they imply are required. Left unsaid, such
    commands answer everywhere, and the intents that need approval are asked for as *optional* ones
    (dropped when the platform refuses them). ``intents`` overrides the computed intents; a handler the
    override excludes is an error at start. ``plugins`` registers plugin objects directly (in addition
    to entry-point plugins enabled in the config). Routers (handlers kept in other modules, plugins'
    routers) join it with :meth:`include`.
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
        super().__init__(name)
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
        self._api: ApiClient | None = None
        self._into: Router | None = None  # see registering_into
        self._dispatcher: Dispatcher | None = None
        # routed event type -> (payload decoder, dedupe on the message id, lane getter), for classify_event
        self._keyed: dict[str, tuple[Callable[[Any], Any], bool, Callable[[Any], str | None] | None]] = {}
        self._plugins_loaded = False
        self.delivery: EventDispatcher | None = None
        self.locks: Locks = LocalLocks()
        """What :meth:`lock` uses: locks in this process; ``BotRunner`` with a Redis ``sessions`` URL swaps in
        :class:`~framework.runtime.locks.RedisLocks` while the bot runs (one holder across the fleet)."""
        """The one event-delivery path while the bot runs (see :meth:`running`); transports feed it."""
        self.waiters = Waiters(self)
        self.scheduler = Scheduler(self)
        self.state_store: StateStore = MemoryStore(lambda: self.clock.time())
        """Where ``ctx.stored`` keeps state: memory, or Redis while running with ``config["state"]["redis"]``."""
        """Runs the ``@every``/``@cron`` jobs while the bot runs (see :mod:`framework.app.schedules`)."""
        """Pending :meth:`wait_for` / ``ctx.prompt`` calls (see :mod:`framework.app.conversations`)."""
        self._apply_scenes_config()
        plugin_section = self.config.get("plugins") or {}
        self.plugins = PluginManager(
            self, strict=bool(plugin_section.get("strict", False)) if strict is None else strict
        )
        for plugin in plugins:
            self.plugins.add(plugin)

    def __repr__(self) -> str:
        return f"Bot(name={self.name!r}, handlers={len(self.handlers)}, commands={len(self.commands)})"

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
        if getattr(api, "on_rate_limit_wait", _MISSING) is None:  # qqbot_rate_limit_wait
            api.on_rate_limit_wait = self.observe_rate_limit_wait  # type: ignore[attr-defined]
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

    def observe_rate_limit_wait(self, method: str, route: str, seconds: float, /) -> None:
        """Report a REST call's wait for its route's rate limit to the plugins' ``qqbot_rate_limit_wait`` hook."""
        self.plugins.notify("qqbot_rate_limit_wait", method=method, route=route, seconds=seconds)

    def observe_api_response(self, method: str, url: str, status: int, elapsed: float, trace_id: str, /) -> None:
        """The runtime client's ``on_response`` hook signature, forwarded to :meth:`observe_api_request`."""
        from urllib.parse import urlsplit  # only with an API observer: not part of `import framework`

        path = urlsplit(url).path or url
        self.observe_api_request(ApiRequest(method, path, status, elapsed, trace_id=trace_id or None))

    # -- registration ------------------------------------------------------------------------

    def _as_bot(self) -> Bot:
        return self

    def _add(self, record: _R) -> _R:
        target = self._into
        if target is not None:
            return target._add(record)
        return super()._add(record)

    def include(self, router: Router) -> Router:
        target = self._into
        if target is not None:  # see registering_into
            return target.include(router)
        return super().include(router)

    @contextmanager
    def registering_into(self, router: Router) -> Iterator[Router]:
        """Within the block, what is registered on the bot itself goes to ``router`` (included in the bot), and
        routers included in the bot are included in ``router``.

        The plugin manager runs a plugin's ``qqbot_register(bot)`` in this block, so a plugin that registers
        on ``bot`` fills its own router like one that registers on the ``router`` it is given.
        """
        if router.bot is not self:
            raise BotError(f"router {router.name!r} is not included in bot {self.name!r}; include it first")
        previous, self._into = self._into, router
        try:
            yield router
        finally:
            self._into = previous

    @property
    def _middleware(self) -> list[Hook]:
        return self._hooks("middleware")

    @property
    def _startup(self) -> list[Hook]:
        return self._hooks("startup")

    @property
    def _shutdown(self) -> list[Hook]:
        return self._hooks("shutdown")

    # -- what is registered ------------------------------------------------------------------

    def _needed(self) -> tuple[dict[str, Intents], dict[str, Intents]]:
        """Handler/command name -> intents it requires, and -> intents it would use if granted.

        Event handlers and commands with scenes (their own or the bot's declared ones) require theirs.
        A command following undeclared bot scenes answers everywhere it can: what of that needs
        approval (:data:`NEEDS_APPROVAL`) is optional, the rest (public guild @messages) required.
        """
        required: dict[str, Intents] = {}
        optional: dict[str, Intents] = {}
        scoped: list[tuple[str, frozenset[Scene] | None]] = [
            (f"/{c.name}", c.scenes if c.scoped else None) for c in self.commands
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

    def routes(self) -> list[dict[str, Any]]:
        """The dispatch table, one entry per event type the bot handles, sorted by type: ``event``, ``handlers``
        (what runs, in order: ``framework.app.commands`` is the command router) and ``direct`` (the handlers run
        without a Context: no middleware, and each a plain handler taking only the event, the ``InboundEvent`` or
        the bot, with no rule or concurrency limit). Builds the table first if needed (see :meth:`prepare`).
        """
        dispatcher = self._dispatcher
        if dispatcher is None:
            self.prepare()
            dispatcher = self._dispatcher
            assert dispatcher is not None
        direct = dispatcher.direct_types
        table = []
        for event_type in sorted(dispatcher.event_types):
            route = dispatcher.route(event_type)
            names = [h.name for h in route.handlers] if route is not None else []
            table.append({"event": event_type, "handlers": names, "direct": event_type in direct})
        return table

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
            "handlers": [
                {"event": h.event_type, "handler": h.name, "plugin": h.owner, "router": _router_name(h)}
                for h in self.handlers
            ],
            "commands": [
                {
                    "name": c.name,
                    "aliases": list(c.aliases),
                    "usage": c.usage,
                    "plugin": c.owner,
                    "router": _router_name(c),
                }
                for c in self.commands
            ],
            "middleware": [
                {"middleware": m.qualname, "plugin": m.owner, "router": _router_name(m)} for m in self._middleware
            ],
            "jobs": [
                {"name": j.name, "schedule": str(j.trigger), "fleet_wide": j.fleet_wide, "plugin": j.owner}
                for j in self.jobs
            ],
            "routers": [r.name for r in self._routers_in_order()][1:],
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
        if self.delivery is not None:  # rebuilt while running: the delivery path calls the new table from now on
            self.delivery.sink = self._dispatcher.dispatch

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
        commands = self.commands
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
        for h in self.handlers:
            h.prepare()
            if h.event_type == ANY_MESSAGE:
                for scene in sorted(h.scenes or self.scenes):
                    routes[MESSAGE_EVENTS_BY_SCENE[scene]].append(h)
            else:
                routes[h.event_type].append(h)
        for c in commands:
            c.prepare()
        table = {t: Route(t, tuple(hs)) for t, hs in routes.items()}
        self._keyed = {
            t: (event_decoder(t), spec.dedupe_by_message_id, spec.lane)
            for t in table
            if t not in _NEVER_DEDUPED and (spec := EVENT_TABLE.get(t)) is not None
        }
        return Dispatcher(self, table, [m.func for m in self._middleware], self._report)

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
        assert self._dispatcher is not None
        delivery = EventDispatcher(
            self._dispatcher.dispatch,  # what process() calls, without process()'s own call per event
            concurrency=self.concurrency,
            buffer=self._queue_size,
            classify=self.classify_event,
            handler_timeout=self.handler_timeout,
            on_timeout=self._report_timeout,
        )
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(delivery.run)
                self.delivery = delivery
                state_url = redis_url(self)
                if state_url is not None:  # ctx.stored in Redis (framework/app/state.py) while the bot runs
                    await tg.start(serve_redis_store, self, state_url)
                jobs = self.jobs
                if jobs:  # scheduled jobs (framework/app/schedules.py): cancelled below, after the drain
                    await tg.start(self.scheduler.run, jobs)
                try:
                    yield self
                finally:
                    with anyio.CancelScope(shield=True):
                        await delivery.shutdown(drain_timeout, handler_deadline)
                    tg.cancel_scope.cancel()
        finally:
            self.delivery = None
            with anyio.CancelScope(shield=True):
                await self._run_lifecycle(self._shutdown)
                await self.plugins.shutdown()

    async def _run_lifecycle(self, hooks: Sequence[Hook]) -> None:
        for hook in hooks:
            args, kwargs = call_with(hook.params, self, None)
            try:
                await hook.func(*args, **kwargs)
            except Exception as exc:
                await self._report(exc, None, hook.qualname)

    # -- the event path ----------------------------------------------------------------------

    def lock(self, name: str, *, ttl: float = 10.0, wait: float | None = None) -> AbstractAsyncContextManager[str]:
        """``async with bot.lock("daily-report", ttl=30):``: one holder at a time for the block. In one process
        an anyio lock; in a fleet (``sessions = "redis://..."``) a Redis lock held across every process,
        token-checked and renewed every ``ttl / 3``, whose block is cancelled (:class:`~framework.errors.LockLost`)
        if it is lost. ``wait``: seconds to wait for it (None: as long as it takes), then
        :class:`~framework.errors.LockTimeout`."""
        return self.locks.lock(name, ttl=ttl, wait=wait)

    async def dispatch(self, event: InboundEvent) -> None:
        """Hand ``event`` to the bot: onto :attr:`delivery` while running (waits only for queue space), else
        processed now. Never raises because of a handler; errors go to ``on_error`` and the plugins' error hook.
        """
        delivery = self.delivery
        if delivery is not None and not delivery.closed:
            await delivery.put(event)
        else:
            await self.process(event)

    def classify_event(self, event: InboundEvent) -> tuple[Hashable | None, Hashable | None, Any]:
        """The delivery path's view of ``event`` (:data:`framework.delivery.Classifier`): the dedupe key (the
        message id for message events, the envelope id otherwise), the lane (the chat: a group, a C2C user, a
        channel, a guild; one chat's events run in order) and the decoded payload, which :meth:`process`
        then uses instead of decoding again. Event types no handler listens to are not decoded.
        """
        keyed = self._keyed.get(event.type)
        if keyed is None:
            if self.waiters.active and (claimed := self.waiters.claim_undecoded(event)) is not None:
                return event.id, None, claimed  # waited for (see below)
            return (event.id if event.type not in _NEVER_DEDUPED else None), None, None
        decode, by_message_id, lane = keyed
        try:
            decoded = decode(event.data)
        except (msgspec.DecodeError, msgspec.ValidationError):  # process() reports it with the event's type and id
            return event.id, None, None
        key: Hashable | None = event.id
        if by_message_id and decoded.id:
            key = (event.type, decoded.id)
        # Conversations (framework/app/conversations.py): an event a handler waits for skips its chat's lane,
        # which that very handler holds, and reaches the sink (Dispatcher.dispatch) as a Claimed marker.
        if self.waiters.active and (claimed := self.waiters.claim(event, decoded)) is not None:
            return key, None, claimed
        return key, ((lane(decoded) or None) if lane is not None else None), decoded

    def process(self, event: InboundEvent, decoded: Any = None) -> Coroutine[Any, Any, None]:
        """Run the handlers for ``event`` now (``await bot.process(event)``); returns when they finished.

        What every transport's events reach through :attr:`delivery`, whose sink is this method's target, the
        dispatch table's ``dispatch``, called without this method (one call fewer per event; :meth:`prepare`
        repoints the sink when it rebuilds the table). ``decoded``: the payload already decoded by
        :meth:`classify_event` (not decoded again), or a conversation's claim marker. A plain function returning
        the dispatcher's coroutine (one coroutine fewer per event than an ``async def`` wrapper); it builds the
        dispatch table first if needed.
        """
        dispatcher = self._dispatcher
        if dispatcher is None:
            self.prepare()
            dispatcher = self._dispatcher
            assert dispatcher is not None
        return dispatcher.dispatch(event, decoded)

    async def wait_for(
        self,
        event_type: str | Iterable[str],
        *,
        check: Check | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> Context:
        """Wait for the next event of ``event_type`` (a type or several) for which ``check(ctx)`` is true, and
        return its :class:`Context` (reply with ``ctx.reply``: a passive reply to that event). The event is
        taken before its chat's queue and runs no handler. Raises
        :class:`~framework.app.conversations.WaitTimeoutError` after ``timeout`` seconds (None: no limit;
        inside a handler the wait counts against :attr:`handler_timeout`). Needs a running bot.
        """
        types = [event_type] if isinstance(event_type, str) else list(event_type)
        if not types:
            raise BotError("bot.wait_for: name at least one event type")
        if timeout is not None and timeout <= 0:
            raise BotError(f"bot.wait_for: timeout must be a positive number of seconds, got {timeout}")
        if self.delivery is None:
            raise BotError("bot.wait_for needs a running bot: call it from a handler, a job or a task of bot.running()")
        missing = intents_for(types) & ~self.intents
        if missing:
            flags = ", ".join(str(i.name) for i in Intents if i and i in missing)
            raise BotError(
                f"bot.wait_for({', '.join(types)}): the bot does not ask for the intents {flags}, so such events "
                "never arrive; register a handler for the event type or pass Bot(intents=...)"
            )
        waiter = self.waiters.register(types, check)
        what = " or ".join(types) + ("" if check is None else " passing the check")
        return await self.waiters.wait_registered(waiter, timeout, what)

    def stored(self, name: str, model: type[_S], *, ttl: float | None = None) -> AbstractAsyncContextManager[_S]:
        """State of the whole bot under ``name`` (``async with bot.stored("subscriptions", Subs) as subs:``), for
        jobs and for what no single user or chat owns; otherwise like ``ctx.stored`` (docs/conversations.md)."""
        from framework.app.state import stored

        return stored(self, f"bot:{name}", model, ttl)

    @property
    def jobs(self) -> list[Job]:
        """The scheduled jobs (``@every``, ``@cron``) of the bot and its routers."""
        return list(self._walk(Job))

    async def send(self, scene: Scene | str, target_id: str, content: str | None = None, **body: Any) -> Any:
        """Send a message that answers nothing (a proactive message, e.g. from a job) to ``scene``
        (``group``, ``c2c``, ``guild``, ``dm``) ``target_id``; raises
        :class:`~framework.app.schedules.ProactiveMessageError` when the platform refuses it as such (see
        docs/schedules.md). Inside a handler, answer with ``ctx.reply`` instead."""
        return await send_proactive(self, scene, target_id, content, **body)

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
        for hook in self._hooks("error"):
            try:
                await (hook.func(error, ctx) if hook.arity == 2 else hook.func(error))
            except Exception:
                log.exception("error handler %s failed", hook.qualname)
        self.plugins.handler_error(error, ctx, handler)


_MISSING = object()
_NEVER_DEDUPED = frozenset({"READY", "RESUMED"})


def _runtime_client_types() -> tuple[type[Any], ...]:
    """The runtime's concrete client class, injectable by its own annotation, once something imported it.

    Never imports the runtime (``framework.Bot()`` must not pull in httpx): a handler annotated with
    ``OpenAPI`` was written by code that imported it, and handlers are checked when registered.
    """
    import sys

    client = getattr(sys.modules.get("framework.runtime.openapi"), "OpenAPI", None)
    return (client,) if isinstance(client, type) else ()


def _scenes(values: Iterable[Scene | str], source: str) -> frozenset[Scene]:
    try:
        return parse_scenes(values, source=source)
    except ValueError as exc:
        raise BotError(str(exc)) from None


def _router_name(record: Registration) -> str | None:
    """The name of the router holding ``record``, ``None`` for the bot's own."""
    router = record.router
    return None if router is None or router._as_bot() is not None else router.name


class _ReadyTracker:
    """Remembers the bot's own id from READY (used to strip ``<@!botid>`` from commands)."""

    name = "framework.app.bot.ready-tracker"

    async def run(self, bot: Bot, ctx: Context) -> None:
        if isinstance(ctx.event, Ready) and ctx.event.user.id:
            bot.bot_id = ctx.event.user.id
