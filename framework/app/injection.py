"""Parameter injection by type annotation, resolved once when a handler is registered.

Each parameter becomes a *source*: a small function ``(bot, ctx) -> value``. Calling a handler is
then a list comprehension, with no reflection per event.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, get_args, get_origin

from framework.app.api import ApiClient
from framework.app.context import Context
from framework.app.errors import HandlerSignatureError
from framework.models import InboundEvent

if TYPE_CHECKING:
    from framework.app.bot import Bot

__all__ = ["ParamSource", "Source", "describe", "direct_argument", "resolve_parameter"]

Source = Callable[["Bot", "Context | None"], Any]


@dataclass(frozen=True, slots=True)
class ParamSource:
    """How one parameter is filled."""

    name: str
    kind: inspect._ParameterKind
    source: Source


def describe(func: Callable[..., Any]) -> str:
    """``module.qualname`` of a handler, for error messages."""
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"


def _ctx(bot: Bot, ctx: Context | None) -> Context:
    assert ctx is not None
    return ctx


def _event(bot: Bot, ctx: Context | None) -> Any:
    assert ctx is not None
    return ctx.event


def _inbound(bot: Bot, ctx: Context | None) -> InboundEvent:
    assert ctx is not None
    return ctx.inbound


def _bot(bot: Bot, ctx: Context | None) -> Bot:
    return bot


def _api(bot: Bot, ctx: Context | None) -> ApiClient:
    return bot.api


_BY_NAME: dict[str, Source] = {"ctx": _ctx, "context": _ctx, "event": _event, "bot": _bot, "api": _api}
_NEEDS_EVENT = frozenset({_ctx, _event, _inbound})
_DIRECT: dict[Source, int] = {_event: 0, _inbound: 1, _bot: 2}


def direct_argument(param: ParamSource) -> int | None:
    """How the dispatcher can fill ``param`` without a Context: 0 the decoded event, 1 the
    :class:`InboundEvent`, 2 the bot; ``None`` when it needs one (or is keyword-only)."""
    if param.kind is inspect.Parameter.KEYWORD_ONLY:
        return None
    return _DIRECT.get(param.source)


def _framework_names() -> dict[str, Any]:
    import framework.models as models
    from framework.app.bot import Bot

    names: dict[str, Any] = {n: getattr(models, n) for n in models.__all__}
    names.update(Bot=Bot, Context=Context, ApiClient=ApiClient, InboundEvent=InboundEvent)
    return names


def type_hints(func: Callable[..., Any]) -> dict[str, Any]:
    """Evaluate a handler's annotations, failing with the handler's and parameter's name when one cannot be resolved.

    String annotations (``from __future__ import annotations``) are evaluated in the function's
    module, then its closure, then the framework's own names, so a handler defined inside a function
    may annotate with ``Message`` or ``Context`` imported locally.
    """
    raw = getattr(func, "__annotations__", {})
    hints: dict[str, Any] = {}
    namespace: dict[str, Any] | None = None
    for name, annotation in raw.items():
        if name == "return":
            continue
        if isinstance(annotation, str):
            if namespace is None:
                # Python's own precedence: closure, then module globals; framework names last
                namespace = _framework_names()
                namespace.update(getattr(func, "__globals__", {}))
                namespace.update(inspect.getclosurevars(func).nonlocals)
            try:
                annotation = eval(annotation, namespace)
                if isinstance(annotation, str):  # a quoted annotation under ``from __future__ import annotations``
                    annotation = eval(annotation, namespace)
            except Exception as exc:
                raise HandlerSignatureError(
                    describe(func), name, f"has an annotation that cannot be resolved ({exc})"
                ) from exc
        hints[name] = annotation
    return hints


def resolve_parameter(
    func: Callable[..., Any],
    param: inspect.Parameter,
    annotation: Any,
    *,
    bot: Bot,
    event_models: Collection[type[Any]],
    with_event: bool = True,
) -> Source | None:
    """Return the source that fills ``param``, or ``None`` when nothing framework-side can.

    Recognised annotations: :class:`Context`, :class:`InboundEvent`, the event's model (or a base
    class of it), ``Bot``, :class:`ApiClient` (or a client class registered with
    ``bot.provide_api_type``), and any type given to ``bot.provide`` (plugin configs). Unannotated
    parameters named ``ctx``/``context``, ``event``, ``bot`` or ``api`` are filled by name; a
    parameter annotated ``Any`` gets the event unless its name says otherwise.
    """
    from framework.app.bot import Bot, _runtime_client_types

    source: Source | None = None
    if annotation is inspect.Parameter.empty:
        source = _BY_NAME.get(param.name)
    elif annotation is Any:
        source = _BY_NAME.get(param.name, _event)
    elif annotation is Context:
        source = _ctx
    elif get_origin(annotation) is Context:  # Context[GroupMessage]: the model must fit, as for an event parameter
        (model,) = get_args(annotation)
        if isinstance(model, type) and event_models and not all(issubclass(m, model) for m in event_models):
            got = " | ".join(sorted(m.__name__ for m in event_models))
            raise HandlerSignatureError(
                describe(func),
                param.name,
                f"is annotated Context[{model.__name__}], but this handler's events are {got}: "
                f"annotate Context[{got}] (or plain Context)",
            )
        source = _ctx
    elif annotation is InboundEvent:
        source = _inbound
    elif isinstance(annotation, type) and issubclass(annotation, Bot):
        source = _bot
    elif annotation is ApiClient or annotation in bot.api_types or annotation in _runtime_client_types():
        source = _api
    elif annotation in bot.provided:
        provided: Mapping[type[Any], Any] = bot.provided
        value_type = annotation

        def _provided(b: Bot, c: Context | None) -> Any:
            return provided[value_type]

        source = _provided
    elif (
        isinstance(annotation, type)
        and event_models
        and all(isinstance(m, type) and issubclass(m, annotation) for m in event_models)
    ):
        source = _event
    if source is not None and not with_event and source in _NEEDS_EVENT:
        raise HandlerSignatureError(describe(func), param.name, "asks for an event, but this hook runs without one")
    return source
