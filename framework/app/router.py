"""The unit of composition: a :class:`Router` owns handlers, commands, middleware, lifecycle and error hooks.

A bot split across modules gives each module a router and includes them::

    # greetings.py
    router = Router("greetings")

    @router.command("hello")
    async def hello(ctx: Context) -> None: ...

    # bot.py
    bot = Bot("mybot")
    bot.include(greetings.router)

:class:`~framework.app.bot.Bot` is the root router. A router may include routers; each router has one
parent, so including one twice (or into itself) is an error. A plugin contributes a router (see
:mod:`framework.plugins.manager`): enabling the plugin includes it, a failing or disabled plugin's router is
dropped whole. Middleware and error handlers registered on any router apply to the whole bot, as if
registered on it; event handlers run in tree order: a router's own first, then those of the routers it
included, in the order they were included.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, Unpack, overload

from framework.app._decorators import EventDecorators
from framework.app.commands import Command
from framework.app.errors import BotError, HandlerSignatureError
from framework.app.guards import Cooldown
from framework.app.handlers import ANY_MESSAGE, Handler, HandlerOptions, Hook, HookKind, Registration, require_async
from framework.app.injection import describe
from framework.app.rules import Rule
from framework.app.scenes import Scene, parse_scenes
from framework.app.schedules import Cron, Every, Job, Trigger

if TYPE_CHECKING:
    from framework.app.bot import Bot

__all__ = ["Router"]

_H = TypeVar("_H", bound=Callable[..., Awaitable[Any]])
_F = TypeVar("_F", bound=Callable[..., Any])
_R = TypeVar("_R", bound=Registration)


class Router(EventDecorators):
    """Handlers, commands, middleware, lifecycle and error hooks that belong together.

    Every decorator of :class:`~framework.app.bot.Bot` works on a router the same way
    (``@router.on_group_at_message``, ``@router.command("ping")``, ``@router.middleware``,
    ``@router.on_startup``, ``@router.on_error``, ...). Nothing of it runs until it is included in a bot,
    directly or through other routers (:meth:`include`). Parameters are resolved when the router joins a
    bot (what is injectable is the bot's), so a signature error of a router built apart surfaces at
    ``bot.include(router)``.

    ``name`` names the router in error messages (default: the module that created it); ``plugin`` is set
    on the router a plugin contributes (the plugin manager creates it), and what it holds reports that
    plugin as its owner.
    """

    def __init__(self, name: str | None = None, *, plugin: str | None = None) -> None:
        self.name = name if name is not None else _caller_module()
        self._plugin = plugin
        self._records: list[Registration] = []
        self._routers: list[Router] = []
        self._parent: Router | None = None

    def __repr__(self) -> str:
        return f"Router(name={self.name!r}, registered={len(self._records)}, routers={len(self._routers)})"

    # -- the tree --------------------------------------------------------------------------

    @property
    def plugin(self) -> str | None:
        """The plugin this router (or the router that included it) belongs to; ``None`` for the application."""
        router: Router | None = self
        while router is not None:
            if router._plugin is not None:
                return router._plugin
            router = router._parent
        return None

    @property
    def parent(self) -> Router | None:
        """The router that included this one (``None`` for a bot or a router not included yet)."""
        return self._parent

    @property
    def routers(self) -> tuple[Router, ...]:
        """The routers included here, in the order they were included."""
        return tuple(self._routers)

    @property
    def bot(self) -> Bot | None:
        """The bot at the root of this router's tree, if it belongs to one."""
        root: Router = self
        while root._parent is not None:
            root = root._parent
        return root._as_bot()

    def include(self, router: Router) -> Router:
        """Add ``router`` (and the routers it includes) below this one; returns it.

        Refused with :class:`BotError`: a bot, a router already included somewhere, a router that would
        contain itself, or a command name or alias another router of the tree already uses. When this
        router belongs to a bot, the parameters of everything ``router`` holds are resolved here (a
        :class:`HandlerSignatureError` leaves it out).
        """
        if router._as_bot() is not None:
            raise BotError(f"cannot include bot {router.name!r}: a Bot is the root router; include a Router instead")
        ancestor: Router | None = self
        while ancestor is not None:
            if ancestor is router:
                raise BotError(
                    f"cannot include router {router.name!r} in {self._who()}: {router.name!r} contains it (a cycle)"
                )
            ancestor = ancestor._parent
        if router._parent is not None:
            raise BotError(
                f"router {router.name!r} is already included in {router._parent._who()}; a router has one parent "
                "(build a new Router, e.g. in a function, to use the same handlers twice)"
            )
        root = self._root()
        for command in router._walk(Command):
            root._refuse_duplicate(command)
        taken = {job.name for job in root._walk(Job)}
        for job in router._walk(Job):
            if job.name in taken:
                raise BotError(f"job {job.name!r} is registered twice; give one of them another name=")
        bot = self.bot
        if bot is not None:
            for record in router._walk(Registration):
                record.bind(bot)
        router._parent = self
        self._routers.append(router)
        self._changed()
        return router

    def exclude(self, router: Router) -> None:
        """Drop ``router`` (included here), with everything it holds and the routers it includes."""
        if router._parent is not self:
            raise BotError(f"router {router.name!r} is not included in {self._who()}; exclude it from its parent")
        self._routers.remove(router)
        router._parent = None
        self._changed()

    def _as_bot(self) -> Bot | None:
        return None

    def _root(self) -> Router:
        root: Router = self
        while root._parent is not None:
            root = root._parent
        return root

    def _changed(self) -> None:
        """Something was registered in this tree: the bot (if any) rebuilds its dispatch table."""
        bot = self.bot
        if bot is not None:
            bot._dispatcher = None

    def _routers_in_order(self) -> Iterator[Router]:
        """This router, then each included one (depth first, in include order)."""
        yield self
        for child in self._routers:
            yield from child._routers_in_order()

    def _walk(self, kind: type[_R]) -> Iterator[_R]:
        """The registrations of ``kind`` in this tree, in tree order."""
        for router in self._routers_in_order():
            for record in router._records:
                if isinstance(record, kind):
                    yield record

    def _hooks(self, hook: HookKind) -> list[Hook]:
        return [h for h in self._walk(Hook) if h.hook == hook]

    def _who(self) -> str:
        """How error messages name this router: ``the bot``, ``plugin 'x'`` or ``router 'x'``."""
        plugin = self.plugin
        if plugin is not None:
            return f"plugin {plugin!r}"
        return "the bot" if self._as_bot() is not None else f"router {self.name!r}"

    def _add(self, record: _R) -> _R:
        """Register ``record`` here: refuse a duplicate command, bind it if this router belongs to a bot."""
        if isinstance(record, Command):
            self._root()._refuse_duplicate(record, self)
        bot = self.bot
        if bot is not None:
            record.bind(bot)
        else:
            require_async(record.func)
        record.router = self
        self._records.append(record)
        self._changed()
        return record

    def _refuse_duplicate(self, command: Command, owner: Router | None = None) -> None:
        """Raise :class:`BotError` if ``command`` takes a name or alias a command of this tree has."""
        words = {command.name, *command.aliases}
        for other in self._walk(Command):
            clash = words & {other.name, *other.aliases}
            if clash:
                word = sorted(clash)[0]
                first = other.router._who() if other.router is not None else "the bot"
                holder = owner if owner is not None else command.router
                second = holder._who() if holder is not None else "the bot"
                raise BotError(
                    f"command /{word} is registered twice: by {first} ({describe(other.func)}) and by {second} "
                    f"({describe(command.func)}); rename one of them or drop the alias"
                )

    # -- what is registered ----------------------------------------------------------------

    @property
    def handlers(self) -> list[Handler]:
        """The event handlers of this router and of the routers it includes (plugins' too, for a bot)."""
        return list(self._walk(Handler))

    @property
    def commands(self) -> list[Command]:
        """The commands of this router and of the routers it includes (plugins' too, for a bot)."""
        return list(self._walk(Command))

    @property
    def registrations(self) -> list[Registration]:
        """Everything registered in this tree (handlers, commands, hooks), in tree order."""
        return list(self._walk(Registration))

    # -- registration ----------------------------------------------------------------------

    def _event_decorator(self, event_type: str, func: Any, options: HandlerOptions) -> Any:
        if func is not None:
            return self._add_handler(event_type, func, options)

        def decorate(f: _H) -> _H:
            return self._add_handler(event_type, f, options)

        return decorate

    def _add_handler(
        self, event_type: str, func: _H, options: HandlerOptions, scenes: frozenset[Scene] | None = None
    ) -> _H:
        concurrency = options.get("concurrency")
        if concurrency is not None and concurrency < 1:
            raise HandlerSignatureError(describe(func), "concurrency", f"must be at least 1, got {concurrency}")
        handler = Handler(
            func=func, event_type=event_type, rule=options.get("rule"), concurrency=concurrency, scenes=scenes
        )
        self._add(handler)
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
        cooldown: Cooldown | None = None,
        permission: Rule | None = None,
    ) -> Callable[[_H], _H]:
        """Register a command ``/name``; arguments come from the function's annotated parameters.

        ``scenes`` limits where it answers (default: the bot's scenes, see :class:`~framework.app.bot.Bot`);
        the docstring's first line is the ``/help`` summary. A matched command consumes the message: the
        event handlers of that message (``@bot.on_group_at_message``, ...) do not run, unless
        ``block=False``. A name or alias another command of the bot already uses (in any router) is
        refused with :class:`BotError`. ``cooldown`` (a :class:`~framework.app.guards.Cooldown`) limits how often it
        runs; ``permission`` (a rule: ``admins_only()``, ``allowed("mods")``...) says who may use it. Refusals and
        bad arguments go to :meth:`on_command_error` functions, else get a default reply.
        """
        scoped = scenes is not None
        chosen = _scenes(scenes, f"command /{name}: scenes") if scenes is not None else frozenset(Scene)
        for word in (name, *aliases):
            if not word or any(ch.isspace() for ch in word):
                raise BotError(f"command name {word!r} must be a non-empty word")

        def decorate(func: _H) -> _H:
            self._add(
                Command(
                    func=func,
                    name=name.lower(),
                    aliases=tuple(a.lower() for a in aliases),
                    scenes=chosen,
                    rule=rule,
                    concurrency=concurrency,
                    hidden=hidden,
                    layout=tuple(inspect.signature(func).parameters.values()),
                    scoped=scoped,
                    block=block,
                    cooldown=cooldown,
                    permission=permission,
                )
            )
            return func

        return decorate

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
            return self._add_handler(ANY_MESSAGE, f, options, chosen)

        return decorate(func) if func is not None else decorate

    def every(
        self,
        *,
        seconds: float = 0,
        minutes: float = 0,
        hours: float = 0,
        days: float = 0,
        name: str | None = None,
        fleet_wide: bool = True,
    ) -> Callable[[_H], _H]:
        """Run the function every so often while the bot runs (docs/schedules.md), aligned on the Unix epoch
        (``minutes=5``: at :00, :05, ... wall-clock time). It may ask for ``Bot``, the API client and provided
        types. ``name`` (default: the function's ``module.qualname``) must be unique in the bot; with a Redis URL
        configured, each run happens in one process of the fleet unless ``fleet_wide=False``.
        """
        total = seconds + 60 * minutes + 3600 * hours + 86400 * days
        if not total > 0:
            raise BotError(f"every(): the interval must be positive, got {total:g} s")
        return self._job(Every(total), name, fleet_wide)

    def cron(
        self, expression: str, *, tz: str = "UTC", name: str | None = None, fleet_wide: bool = True
    ) -> Callable[[_H], _H]:
        """Run the function when the five-field cron ``expression`` matches in time zone ``tz`` (an IANA name,
        e.g. ``"Asia/Shanghai"``); otherwise like :meth:`every`."""
        return self._job(Cron(expression, tz), name, fleet_wide)

    def _job(self, trigger: Trigger, name: str | None, fleet_wide: bool) -> Callable[[_H], _H]:
        def decorate(func: _H) -> _H:
            job_name = name or describe(func)
            for other in self._root()._walk(Job):
                if other.name == job_name:
                    raise BotError(f"job {job_name!r} is registered twice; give one of them another name=")
            self._add(Job(func=func, name=job_name, trigger=trigger, fleet_wide=fleet_wide))
            return func

        return decorate

    def middleware(self, mw: _F) -> _F:
        """Register ``async def mw(ctx, call_next)`` around the handlers of every event of the bot.

        Middleware runs in tree order (the bot's own first, then each included router's), the first outermost.
        """
        if not inspect.iscoroutinefunction(mw):
            raise HandlerSignatureError(describe(mw), "-", "middleware must be an async function (ctx, call_next)")
        self._add(Hook(func=mw, hook="middleware"))
        return mw

    def on_command_error(self, func: _H) -> _H:
        """Handle ``async def func(error, ctx)`` the command errors of users: a bad argument
        (:class:`~framework.app.errors.CommandArgumentError`), :class:`~framework.app.guards.CommandOnCooldown`,
        :class:`~framework.app.guards.MissingPermission`. With at least one registered, the default replies are not
        sent; ``ctx.reply`` answers the command's message."""
        require_async(func)
        positional = [
            p
            for p in inspect.signature(func).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
        if len(positional) != 2:
            raise HandlerSignatureError(describe(func), "-", "a command error handler takes (error, ctx)")
        self._add(Hook(func=func, hook="command_error", arity=2))
        return func

    def on_startup(self, func: _H) -> _H:
        """Run ``func`` when the bot starts (may ask for ``Bot``, the API client or provided types)."""
        self._add(Hook(func=func, hook="startup"))
        return func

    def on_shutdown(self, func: _H) -> _H:
        """Run ``func`` when the bot stops."""
        self._add(Hook(func=func, hook="shutdown"))
        return func

    @overload
    def on_ready(self, func: _H, /) -> _H: ...
    @overload
    def on_ready(self, /, **options: Unpack[HandlerOptions]) -> Callable[[_H], _H]: ...
    def on_ready(self, func: Any = None, /, **options: Unpack[HandlerOptions]) -> Any:
        """Run ``func`` when a gateway session is ready (once per shard; may take the ``Ready`` event)."""
        return self._event_decorator("READY", func, options)

    def on_error(self, func: _H) -> _H:
        """Run ``async def func(error, ctx)`` when a handler, command or middleware of the bot raises.

        ``ctx`` is the event's :class:`~framework.app.context.Context` (``None`` if the event could not be
        decoded); a one-parameter function gets only the error.
        """
        require_async(func)
        positional = [
            p
            for p in inspect.signature(func).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
        if len(positional) not in (1, 2):
            raise HandlerSignatureError(describe(func), "-", "an error handler takes (error) or (error, ctx)")
        self._add(Hook(func=func, hook="error", arity=len(positional)))
        return func


def _scenes(values: Iterable[Scene | str], source: str) -> frozenset[Scene]:
    try:
        return parse_scenes(values, source=source)
    except ValueError as exc:
        raise BotError(str(exc)) from None


def _caller_module() -> str:
    """The ``__name__`` of the module that called ``Router()`` (two frames up)."""
    try:
        return str(sys._getframe(2).f_globals.get("__name__", "router"))
    except ValueError:  # pragma: no cover - a shallower stack than expected
        return "router"


def __getattr__(name: str) -> Any:
    """``CommandRouter`` and ``help_command`` moved to :mod:`framework.app.commands` (deprecated here)."""
    if name in ("CommandRouter", "help_command"):
        import warnings

        from framework.app import commands

        warnings.warn(
            f"framework.app.router.{name} moved to framework.app.commands.{name}; the old name goes in the next "
            "release",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(commands, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
