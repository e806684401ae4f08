"""The typed surface, checked by mypy itself (``mypy.api.run``) on small bot files: the generated ``on_<event>``
decorators reject a handler of another event's model, ``Context[GroupMessage]`` types ``ctx.event``, and
``ctx.reply`` / ``event.reply`` / the ``ApiClient`` sends return ``ReplyResult``, not ``Any``. At run time the
same mistakes raise ``HandlerSignatureError`` when the handler is registered."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from mypy import api as mypy_api

from framework import Bot, C2CMessage, Context, GroupMessage, HandlerSignatureError

ROOT = Path(__file__).resolve().parents[2]

GOOD = """
from framework import Bot, C2CMessage, Context, GroupMessage, InboundEvent, Message
from framework.interfaces import ApiClient
from framework.models import ReplyResult
from framework.models.api import MessageToCreate, SendResult

bot = Bot()


@bot.on_group_at_message
async def by_event(message: GroupMessage) -> None:
    result: ReplyResult = await message.reply("hi")
    reveal_type(result)


@bot.on_group_at_message(concurrency=2)
async def by_context(ctx: Context[GroupMessage]) -> None:
    reveal_type(ctx.event)
    await ctx.reply(ctx.event.group_openid)


@bot.on_group_at_message
async def plain_context(ctx: Context) -> None:
    await ctx.reply(ctx.text)


@bot.on_c2c_message
async def both(message: C2CMessage, ctx: Context[C2CMessage]) -> None: ...


@bot.on_message
async def guild(message: Message, bot: Bot) -> None: ...


@bot.on_group_at_message
async def envelope(event: InboundEvent) -> None: ...


@bot.on_group_at_message
async def no_parameters() -> None: ...


async def send(api: ApiClient) -> SendResult | None:
    result = await api.post_group_message("g1", MessageToCreate(content="x"))
    return result if isinstance(result, SendResult) else None


reveal_type(by_event)
"""

BAD = """
from framework import Bot, C2CMessage, Context, Message

bot = Bot()


@bot.on_group_at_message
async def wrong_event(message: C2CMessage) -> None: ...


@bot.on_group_at_message(concurrency=2)
async def wrong_context(ctx: Context[C2CMessage]) -> None: ...


@bot.on_c2c_message
async def guild_model_for_c2c(message: Message) -> None: ...


async def reply_is_not_any(ctx: Context) -> None:
    text: str = await ctx.reply("x")
"""


@pytest.fixture(scope="module")
def mypy_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """One mypy run (strict, as the project checks itself) over both files; its lines by file name."""
    folder = tmp_path_factory.mktemp("typing")
    (folder / "good_bot.py").write_text(textwrap.dedent(GOOD), encoding="utf-8")
    (folder / "bad_bot.py").write_text(textwrap.dedent(BAD), encoding="utf-8")
    stdout, stderr, _status = mypy_api.run(
        [
            "--strict",
            "--no-error-summary",
            "--show-error-codes",
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            str(folder / "good_bot.py"),
            str(folder / "bad_bot.py"),
        ]
    )
    assert not stderr, stderr
    report: dict[str, list[str]] = {"good_bot.py": [], "bad_bot.py": []}
    for line in stdout.splitlines():
        match = re.match(r".*?(good_bot\.py|bad_bot\.py):(\d+): (.*)", line)
        assert match, f"unexpected mypy output: {line}"
        report[match.group(1)].append(f"{match.group(2)}: {match.group(3)}")
    return report


def test_correct_handlers_type_check(mypy_report: dict[str, list[str]]) -> None:
    good = mypy_report["good_bot.py"]
    assert [line for line in good if ": error:" in line] == []
    notes = [line.split("Revealed type is ", 1)[1] for line in good if "Revealed type is" in line]
    reply, event, decorated = notes
    assert reply == (
        '"framework.models.events.Message | framework.models.api.SendResult | '
        'framework.models.results.PendingAudit | framework.models.results.Delivered"'
    )
    assert event == '"framework.models.events.GroupMessage"'
    assert "def (message: framework.models.events.GroupMessage)" in decorated  # returned unchanged


def test_a_handler_of_another_event_is_a_type_error(mypy_report: dict[str, list[str]]) -> None:
    errors = [line for line in mypy_report["bad_bot.py"] if ": error:" in line]
    lines = textwrap.dedent(BAD).splitlines()

    def line_of(text: str) -> str:
        return str(next(i for i, line in enumerate(lines, 1) if text in line))

    expected = {
        line_of("async def wrong_event"): '"_HGroupMessage" of "on_group_at_message"',
        line_of("async def wrong_context"): '"Callable[[Context[C2CMessage]], ',
        line_of("async def guild_model_for_c2c"): '"Callable[[Message], ',
        line_of('text: str = await ctx.reply("x")'): "Incompatible types in assignment",
    }
    assert len(errors) == len(expected), errors
    for number, fragment in expected.items():
        found = [e for e in errors if e.startswith(f"{number}: ") or e.startswith(f"{int(number) - 1}: ")]
        assert found and fragment in found[0], (number, fragment, errors)


def test_the_same_mistakes_fail_at_registration() -> None:
    bot = Bot()

    with pytest.raises(HandlerSignatureError, match="C2CMessage"):

        @bot.on_group_at_message
        async def wrong_event(message: C2CMessage) -> None: ...

    with pytest.raises(HandlerSignatureError, match=r"annotated Context\[C2CMessage\].*GroupMessage"):

        @bot.on_group_at_message
        async def wrong_context(ctx: Context[C2CMessage]) -> None: ...

    @bot.on_group_at_message
    async def right_context(ctx: Context[GroupMessage]) -> None: ...

    assert isinstance(Context[GroupMessage], object) and Context[GroupMessage].__origin__ is Context  # type: ignore[attr-defined]
