"""Registration records: what a router keeps for each registered callable, and how its parameters are bound.

Every decorator of a :class:`~framework.app.router.Router` adds one :class:`Registration`: a
:class:`Handler` (an event handler), a :class:`~framework.app.commands.Command` or a :class:`Hook`
(startup, shutdown, error handler, middleware). Each knows the router that owns it. Parameters are
resolved once the router belongs to a :class:`~framework.app.bot.Bot` (at once for the bot's own
registrations, when a router is included otherwise), because what is injectable (the API client's
class, plugin configs) is the bot's.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import anyio

from framework.app.errors import HandlerSignatureError
from framework.app.injection import ParamSource, describe, resolve_parameter, type_hints
from framework.app.rules import Rule
from framework.app.scenes import MESSAGE_EVENTS_BY_SCENE, Scene
from framework.models import EVENT_TABLE, RawEvent

if TYPE_CHECKING:
    from framework.app.bot import Bot
    from framework.app.context import Context
    from framework.app.router import Router

__all__ = [
    "ANY_MESSAGE",
    "Handler",
    "HandlerOptions",
    "Hook",
    "HookKind",
    "Registration",
    "bind_parameters",
    "call_with",
]

#: The ``event_type`` of ``@bot.on_any_message`` handlers: the user messages of the bot's scenes.
ANY_MESSAGE = "ANY_MESSAGE"

AsyncFunc = Callable[..., Awaitable[Any]]
HookKind = Literal["startup", "shutdown", "error", "middleware", "command_error"]


class HandlerOptions(TypedDict, total=False):
    """Options every handler decorator accepts."""

    rule: Rule | None
    """Run only when this rule passes."""
    concurrency: int | None
    """At most this many runs of the handler at once."""


def bind_parameters(
    func: Callable[..., Any],
    *,
    bot: Bot,
    event_models: Collection[type[Any]],
    with_event: bool = True,
    leftovers: list[inspect.Parameter] | None = None,
) -> tuple[ParamSource, ...]:
    """Resolve every parameter of ``func``; raise :class:`HandlerSignatureError` for the first that fails.

    With ``leftovers`` (commands), parameters no framework object fills are appended there instead.
    Parameters with defaults that nothing fills keep their default.
    """
    require_async(func)
    hints = type_hints(func)
    sources: list[ParamSource] = []
    for param in inspect.signature(func).parameters.values():
        annotation = hints.get(param.name, inspect.Parameter.empty)
        source = resolve_parameter(func, param, annotation, bot=bot, event_models=event_models, with_event=with_event)
        if source is not None:
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise HandlerSignatureError(describe(func), param.name, "cannot be injected (*args/**kwargs)")
            sources.append(ParamSource(param.name, param.kind, source))
        elif leftovers is not None:
            leftovers.append(param.replace(annotation=annotation))
        elif param.default is inspect.Parameter.empty or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            what = "has no annotation" if annotation is inspect.Parameter.empty else f"is annotated {annotation!r}"
            raise HandlerSignatureError(
                describe(func),
                param.name,
                f"{what}, which the bot cannot inject (expected Context, the event model, InboundEvent, Bot, "
                "the API client or a provided type)",
            )
    return tuple(sources)


def require_async(func: Callable[..., Any]) -> None:
    """Raise :class:`HandlerSignatureError` unless ``func`` is an ``async def`` function."""
    if not inspect.iscoroutinefunction(func):
        raise HandlerSignatureError(describe(func), "-", "is not an async function (use `async def`)")


def call_with(sources: tuple[ParamSource, ...], bot: Bot, ctx: Context | None) -> tuple[list[Any], dict[str, Any]]:
    """Build positional and keyword arguments from resolved sources."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for p in sources:
        if p.kind is inspect.Parameter.KEYWORD_ONLY:
            kwargs[p.name] = p.source(bot, ctx)
        else:
            args.append(p.source(bot, ctx))
    return args, kwargs


@dataclass(eq=False, kw_only=True)
class Registration:
    """One registered callable and the router that owns it (the common base of every kind)."""

    func: AsyncFunc
    params: tuple[ParamSource, ...] = ()
    """How each parameter is filled; resolved by :meth:`bind` once the owner router belongs to a bot."""
    router: Router | None = field(default=None, repr=False)
    """The router it was registered on (set when registered)."""

    @property
    def qualname(self) -> str:
        """``module.qualname`` of the function."""
        return describe(self.func)

    @property
    def owner(self) -> str | None:
        """The plugin whose router holds it (``None`` for the application)."""
        return self.router.plugin if self.router is not None else None

    def bind(self, bot: Bot) -> None:
        """Resolve the parameters against ``bot`` (what it can inject); raise :class:`HandlerSignatureError`."""


@dataclass(eq=False, kw_only=True)
class Handler(Registration):
    """One registered handler for one event type."""

    event_type: str
    rule: Rule | None = None
    concurrency: int | None = None
    """At most this many runs at once (others wait)."""
    scenes: frozenset[Scene] | None = None
    """For :data:`ANY_MESSAGE` handlers registered with ``scenes=``: where they run (else the bot's scenes)."""
    _limiter: anyio.CapacityLimiter | None = field(default=None, repr=False)
    _positional: Any = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """``module.qualname`` of the function (how reports name the handler)."""
        return describe(self.func)

    def bind(self, bot: Bot) -> None:
        models: list[type[Any]]
        if self.event_type == ANY_MESSAGE:
            wanted = self.scenes if self.scenes is not None else frozenset(Scene)
            models = [EVENT_TABLE[MESSAGE_EVENTS_BY_SCENE[s]].model for s in sorted(wanted)]
        else:
            spec = EVENT_TABLE.get(self.event_type)
            models = [spec.model] if spec is not None else [RawEvent]
        self.params = bind_parameters(self.func, bot=bot, event_models=models)

    def prepare(self) -> None:
        """Create the concurrency limiter (inside the event loop that will use it)."""
        self._limiter = anyio.CapacityLimiter(self.concurrency) if self.concurrency else None
        keyword = any(p.kind is inspect.Parameter.KEYWORD_ONLY for p in self.params)
        self._positional = None if keyword else tuple(p.source for p in self.params)

    async def run(self, bot: Bot, ctx: Context) -> None:
        """Check the rule, then call the function under the concurrency limit."""
        if self.rule is not None and not await self.rule(ctx):
            return
        pos = self._positional
        if pos is not None and self._limiter is None:
            if len(pos) == 1:
                await self.func(pos[0](bot, ctx))
            else:
                await self.func(*[src(bot, ctx) for src in pos])
            return
        args, kwargs = call_with(self.params, bot, ctx)
        if self._limiter is None:
            await self.func(*args, **kwargs)
        else:
            async with self._limiter:
                await self.func(*args, **kwargs)


@dataclass(eq=False, kw_only=True)
class Hook(Registration):
    """A lifecycle hook (``startup``/``shutdown``), an error handler (``error``) or a ``middleware``."""

    hook: HookKind
    arity: int = 0
    """Error handlers: 2 for ``(error, ctx)``, 1 for ``(error)``."""

    def bind(self, bot: Bot) -> None:
        if self.hook in ("startup", "shutdown"):
            self.params = bind_parameters(self.func, bot=bot, event_models=(), with_event=False)
