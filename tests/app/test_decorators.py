"""Every event-table row has a typed decorator on Bot, and every decorator receives its event."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from framework.app import Bot, Context, HandlerSignatureError
from framework.app._decorators import EventDecorators
from framework.models import EVENT_TABLE, EVENTS_BY_DECORATOR, InboundEvent, RawEvent
from framework.testing.recording import event


def test_every_table_decorator_is_written_out_on_bot() -> None:
    for name, spec in EVENTS_BY_DECORATOR.items():
        # a real attribute of the class (visible to type checkers), not a __getattr__ fallback
        assert name in vars(EventDecorators), name
        assert callable(getattr(Bot, name))
        assert spec.type in (inspect.getdoc(getattr(Bot, name)) or "")
    assert not hasattr(Bot, "__getattr__")


def test_generated_module_is_up_to_date() -> None:
    script = Path(__file__).resolve().parents[2] / "scripts" / "codegen.py"
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr or "run python scripts/codegen.py"


@pytest.mark.anyio
@pytest.mark.parametrize("spec", list(EVENT_TABLE.values()), ids=list(EVENT_TABLE))
async def test_every_decorator_receives_its_event(spec: Any) -> None:
    bot = Bot()
    received: list[Any] = []

    async def handler(ev: spec.model, inbound: InboundEvent) -> None:  # type: ignore[name-defined]
        received.append((ev, inbound))

    handler.__annotations__["ev"] = spec.model
    returned = getattr(bot, spec.decorator)(handler)
    assert returned is handler
    await bot.dispatch(event(spec.type, {}, id=f"{spec.type}:1"))
    assert len(received) == 1
    ev, inbound = received[0]
    assert type(ev) is spec.model
    assert inbound.type == spec.type


@pytest.mark.anyio
async def test_decorator_with_options_and_the_event_base_class() -> None:
    from framework.models import Message

    bot = Bot()
    seen: list[str] = []

    # DirectMessage is a Message: annotating with the base class works
    @bot.on_direct_message(concurrency=1)
    async def dm(msg: Message) -> None:
        seen.append(msg.content)

    await bot.dispatch(event("DIRECT_MESSAGE_CREATE", {"content": "hi", "guild_id": "g"}))
    assert seen == ["hi"]


@pytest.mark.anyio
async def test_on_any_type_and_unknown_types_get_raw_events() -> None:
    bot = Bot()
    raw: list[RawEvent] = []
    typed: list[str] = []

    @bot.on("SOMETHING_NEW")
    async def new(ev: RawEvent) -> None:
        raw.append(ev)

    @bot.on("C2C_MESSAGE_CREATE")
    async def c2c(ctx: Context) -> None:
        typed.append(ctx.text)

    await bot.dispatch(event("SOMETHING_NEW", {"x": 1}))
    await bot.dispatch(event("C2C_MESSAGE_CREATE", {"content": " yo"}))
    await bot.dispatch(event("NOBODY_LISTENS", {"x": 1}))
    assert [r.json() for r in raw] == [{"x": 1}]
    assert raw[0].type == "SOMETHING_NEW"
    assert typed == ["yo"]


def test_a_handler_for_the_wrong_model_fails_at_registration() -> None:
    from framework.models import GroupMessage

    bot = Bot()

    async def wrong(msg: GroupMessage) -> None:
        pass

    with pytest.raises(HandlerSignatureError, match=r"wrong.*'msg'"):
        bot.on_c2c_message(wrong)


@pytest.mark.anyio
async def test_handlers_of_one_event_run_in_registration_order_and_undecoded_types_cost_nothing() -> None:
    bot = Bot()
    order: list[str] = []

    @bot.on_group_at_message
    async def first() -> None:
        order.append("first")

    @bot.on_group_at_message
    async def second() -> None:
        order.append("second")

    await bot.dispatch(event("GROUP_AT_MESSAGE_CREATE", {}))
    # a payload that would not even decode is ignored when nobody subscribes to its type
    await bot.dispatch(InboundEvent(type="MESSAGE_CREATE", data=b"not json"))  # type: ignore[arg-type]
    assert order == ["first", "second"]
