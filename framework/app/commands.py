"""Commands: ``/roll 20`` parsed into ``async def roll(ctx: Context, sides: int = 6)``.

Arguments are the parameters the bot does not inject, converted by their annotations (``str``,
``int``, ``float``, ``bool``, ``Literal[...]``, ``X | None``); ``*rest: T`` takes every remaining word
and a keyword-only ``str`` parameter takes the rest of the line verbatim. Help text comes from the
docstring; bad arguments get a usage reply.
"""

from __future__ import annotations

import inspect
import logging
import shlex
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import anyio

from framework.app.errors import CommandArgumentError, HandlerSignatureError
from framework.app.guards import CommandOnCooldown, Cooldown, MissingPermission, default_reply
from framework.app.handlers import Registration, bind_parameters, call_with
from framework.app.injection import ParamSource, describe
from framework.app.rules import Rule
from framework.app.scenes import MESSAGE_EVENTS_BY_SCENE, Scene
from framework.models import EVENT_TABLE

if TYPE_CHECKING:
    from framework.app.bot import Bot
    from framework.app.context import Context

__all__ = ["Argument", "Command", "CommandRouter", "help_command", "parse_arguments"]

log = logging.getLogger("framework.app.commands")

_TRUE = frozenset({"1", "true", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "no", "n", "off"})


def _convert(value: str, annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        errors: list[str] = []
        for option in options:
            try:
                return _convert(value, option)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError("; ".join(errors))
    if origin is Literal:
        choices = typing.get_args(annotation)
        for choice in choices:
            if str(choice) == value:
                return choice
        raise ValueError(f"expected one of {', '.join(str(c) for c in choices)}, got {value!r}")
    if annotation is bool:
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"expected yes/no, got {value!r}")
    if annotation is int:
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"expected a whole number, got {value!r}") from None
    if annotation is float:
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
    return value


def _type_name(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return "text"
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return "|".join(str(c) for c in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(annotation) if a is not type(None))
    return {int: "int", float: "number", bool: "yes/no", str: "text"}.get(
        annotation, getattr(annotation, "__name__", "?")
    )


_SUPPORTED = (str, int, float, bool)


def _check_supported(func: Callable[..., Any], name: str, annotation: Any) -> None:
    if annotation is inspect.Parameter.empty or annotation in _SUPPORTED:
        return
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return
    if origin in (typing.Union, types.UnionType):
        for a in typing.get_args(annotation):
            if a is not type(None):
                _check_supported(func, name, a)
        return
    raise HandlerSignatureError(
        describe(func), name, f"is annotated {annotation!r}: command arguments may be str, int, float, bool, Literal"
    )


@dataclass(frozen=True, slots=True)
class Argument:
    """One command argument."""

    name: str
    annotation: Any
    default: Any = inspect.Parameter.empty
    variadic: bool = False
    """``*rest``: takes every remaining word."""
    greedy: bool = False
    """Keyword-only ``str``: takes the rest of the line verbatim."""

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty and not self.variadic

    def usage(self) -> str:
        kind = _type_name(self.annotation)
        if self.variadic:
            return f"[{self.name}: {kind}...]"
        if self.greedy:
            inner = f"{self.name}: text..."
            return f"<{inner}>" if self.required else f"[{inner}]"
        if self.required:
            return f"<{self.name}: {kind}>"
        return f"[{self.name}: {kind} = {self.default!r}]"


def arguments_from(func: Callable[..., Any], params: Sequence[inspect.Parameter]) -> tuple[Argument, ...]:
    """Turn the parameters left over after injection into :class:`Argument` specs."""
    out: list[Argument] = []
    for p in params:
        if p.kind is p.VAR_KEYWORD:
            raise HandlerSignatureError(describe(func), p.name, "cannot be a command argument (**kwargs)")
        _check_supported(func, p.name, p.annotation)
        if p.kind is p.KEYWORD_ONLY:
            if p.annotation not in (str, inspect.Parameter.empty):
                raise HandlerSignatureError(
                    describe(func), p.name, "is keyword-only: it takes the rest of the line and must be a str"
                )
            out.append(Argument(p.name, str, p.default, greedy=True))
        else:
            out.append(Argument(p.name, p.annotation, p.default, variadic=p.kind is p.VAR_POSITIONAL))
    greedy = [a for a in out if a.greedy or a.variadic]
    if len(greedy) > 1:
        raise HandlerSignatureError(describe(func), greedy[1].name, "follows another rest-of-line argument")
    return tuple(out)


def parse_arguments(arguments: Sequence[Argument], text: str) -> tuple[list[Any], dict[str, Any]]:
    """Parse ``text`` into positional and keyword values; raise :class:`CommandArgumentError` on bad input."""
    positional = [a for a in arguments if not a.greedy and not a.variadic]
    rest_arg = next((a for a in arguments if a.greedy or a.variadic), None)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    if rest_arg is not None and rest_arg.greedy:
        pieces = text.split(None, len(positional))
        tokens, rest_text = (
            pieces[: len(positional)],
            (pieces[len(positional)] if len(pieces) > len(positional) else ""),
        )
    else:
        try:
            tokens = shlex.split(text)
        except ValueError as exc:
            raise CommandArgumentError(f"cannot split the arguments: {exc}") from None
        rest_text = ""
    for index, arg in enumerate(positional):
        if index < len(tokens):
            try:
                args.append(_convert(tokens[index], arg.annotation))
            except ValueError as exc:
                raise CommandArgumentError(f"{arg.name}: {exc}") from None
        elif arg.required:
            raise CommandArgumentError(f"missing argument {arg.name}")
        else:
            args.append(arg.default)
    extra = tokens[len(positional) :]
    if rest_arg is None:
        if extra:
            raise CommandArgumentError(f"too many arguments: {' '.join(extra)}")
    elif rest_arg.variadic:
        for token in extra:
            try:
                args.append(_convert(token, rest_arg.annotation))
            except ValueError as exc:
                raise CommandArgumentError(f"{rest_arg.name}: {exc}") from None
    else:
        rest_text = rest_text.strip()
        if not rest_text and rest_arg.required:
            raise CommandArgumentError(f"missing argument {rest_arg.name}")
        kwargs[rest_arg.name] = rest_text if rest_text else rest_arg.default
    return args, kwargs


@dataclass(eq=False, kw_only=True)
class Command(Registration):
    """A registered command."""

    name: str
    arguments: tuple[Argument, ...] = ()
    """The arguments parsed from the message; known once the command is bound to a bot."""
    aliases: tuple[str, ...] = ()
    scenes: frozenset[Scene] = frozenset(Scene)
    rule: Rule | None = None
    concurrency: int | None = None
    hidden: bool = False
    layout: tuple[inspect.Parameter, ...] = ()
    """The function's parameters, read once at registration."""
    scoped: bool = False
    """``scenes`` was given at registration; otherwise the command follows the bot's scenes."""
    block: bool = True
    """A match consumes the event: the event handlers registered for the same message do not run."""
    cooldown: Cooldown | None = None
    """Uses allowed per time window (see :mod:`framework.app.guards`)."""
    permission: Rule | None = None
    """Who may use the command; others get :class:`~framework.app.guards.MissingPermission`."""
    _limiter: anyio.CapacityLimiter | None = field(default=None, repr=False)

    def bind(self, bot: Bot) -> None:
        leftovers: list[inspect.Parameter] = []
        scenes = self.scenes if self.scoped else frozenset(Scene)
        models = [EVENT_TABLE[MESSAGE_EVENTS_BY_SCENE[s]].model for s in scenes]
        self.params = bind_parameters(self.func, bot=bot, event_models=models, leftovers=leftovers)
        self.arguments = arguments_from(self.func, leftovers)

    @property
    def help(self) -> str:
        """The full docstring (dedented)."""
        return inspect.getdoc(self.func) or ""

    @property
    def summary(self) -> str:
        """The docstring's first line."""
        return self.help.split("\n", 1)[0]

    @property
    def usage(self) -> str:
        """``/name <a: int> [b: text = 'x']``."""
        return " ".join([f"/{self.name}", *(a.usage() for a in self.arguments)])

    def prepare(self) -> None:
        self._limiter = anyio.CapacityLimiter(self.concurrency) if self.concurrency else None

    async def invoke(self, bot: Bot, ctx: Context) -> bool:
        """Parse the arguments in ``ctx.args`` and call the command, or reply with its usage.

        Returns False when the command's rule declined the event (the command did not match).
        """
        if self.rule is not None and not await self.rule(ctx):
            return False
        if self.permission is not None and not await self.permission(ctx):
            who = ctx.user_id or "the sender"
            error = MissingPermission(f"{who} may not use /{self.name} (needs {self.permission.name})", self.name)
            await self._refuse(bot, ctx, error)
            return True
        try:
            values, named = parse_arguments(self.arguments, ctx.args)
        except CommandArgumentError as exc:
            await self._refuse(bot, ctx, exc)
            return True
        if self.cooldown is not None:
            wait = self.cooldown.hit(ctx, bot.clock.time())
            if wait is not None:
                message = f"/{self.name} was used too often ({self.cooldown}); {wait:.1f} s to wait"
                await self._refuse(bot, ctx, CommandOnCooldown(message, self.name, wait))
                return True
        injected, injected_kw = call_with(self.params, bot, ctx)
        # injected parameters come first in the signature only by convention; call by name instead
        kwargs = dict(injected_kw)
        names = [p.name for p in self.params if p.kind is not inspect.Parameter.KEYWORD_ONLY]
        kwargs.update(zip(names, injected, strict=True))
        call_args, call_kwargs = _merge(self.layout, kwargs, values, named)
        if self._limiter is None:
            await self.func(*call_args, **call_kwargs)
        else:
            async with self._limiter:
                await self.func(*call_args, **call_kwargs)
        return True

    async def _refuse(self, bot: Bot, ctx: Context, error: Exception) -> None:
        """A command error (bad argument, cooldown, permission): to the ``on_command_error`` functions if any, else the
        default reply (:func:`~framework.app.guards.default_reply`)."""
        hooks = bot._hooks("command_error")
        if hooks:
            for hook in hooks:
                try:
                    await hook.func(error, ctx)
                except Exception as exc:
                    await bot._report(exc, ctx, hook.qualname)
            return
        if ctx.target is not None and bot.api_or_none is not None:
            await ctx.reply(default_reply(error, self.usage))
        else:
            log.info("command %s: %s (cannot reply to %s)", self.name, error, ctx.type)


def _merge(
    layout: Sequence[inspect.Parameter], injected: dict[str, Any], values: list[Any], named: dict[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    """Lay injected values and parsed arguments out in the function's parameter order."""
    args: list[Any] = []
    kwargs: dict[str, Any] = dict(named)
    remaining = iter(values)
    for p in layout:
        if p.name in injected:
            if p.kind is p.KEYWORD_ONLY:
                kwargs[p.name] = injected[p.name]
            else:
                args.append(injected[p.name])
        elif p.kind is p.VAR_POSITIONAL:
            args.extend(remaining)
        elif p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            args.append(next(remaining))
    return args, kwargs


class CommandRouter:
    """Runs the command named by the first word of ``ctx.text`` (name or alias, case-insensitive)."""

    name = "framework.app.commands"

    def __init__(self, commands: Sequence[Command]) -> None:
        self._by_word: dict[str, Command] = {}
        for cmd in commands:
            for word in (cmd.name, *cmd.aliases):
                self._by_word.setdefault(word, cmd)

    async def run(self, bot: Bot, ctx: Context) -> None:
        parts = ctx.text.split(None, 1)
        cmd = self._by_word.get(parts[0].lower()) if parts else None
        if cmd is None or ctx.scene not in cmd.scenes:
            return
        ctx.command = cmd.name
        ctx.args = parts[1].strip() if len(parts) > 1 else ""
        matched = True
        try:
            matched = await cmd.invoke(bot, ctx)
        except Exception as exc:
            await bot._report(exc, ctx, describe(cmd.func))
        if not matched:
            ctx.command = None
            ctx.args = ""
        elif cmd.block:
            ctx.consumed = True


def help_command(bot: Bot) -> Command:
    """The built-in ``/help [command]``: the list of commands, or one command's usage and docstring."""

    async def help(ctx: Context, *, command: str = "") -> None:
        """List the commands, or explain one: /help <command>."""
        visible = [c for c in bot.commands if not c.hidden and ctx.scene in c.scenes]
        word = command.strip().lstrip("/").lower()
        if word:
            for c in visible:
                if word == c.name or word in c.aliases:
                    text = f"Usage: {c.usage}"
                    if c.aliases:
                        text += "\nAliases: " + ", ".join(f"/{a}" for a in c.aliases)
                    if c.help:
                        text += "\n" + c.help
                    await ctx.reply(text)
                    return
            await ctx.reply(f"Unknown command /{word}. Try /help.")
            return
        lines = ["Commands:"] + [f"/{c.name} — {c.summary}" if c.summary else f"/{c.name}" for c in visible]
        lines.append("/help <command> — details")
        await ctx.reply("\n".join(lines))

    params = (ParamSource("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, lambda b, c: c),)
    return Command(
        name="help",
        func=help,
        params=params,
        arguments=(Argument("command", str, "", greedy=True),),
        hidden=True,
        layout=tuple(inspect.signature(help).parameters.values()),
    )
