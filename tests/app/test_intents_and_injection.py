"""Intents come from what is registered; parameters are injected by annotation and checked at registration."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from framework.app import ApiClient, Bot, Context, HandlerSignatureError, IntentsError
from framework.models import C2CMessage, GroupMessage, InboundEvent, Intents, Message, intents_for
from framework.testing.recording import RecordingApi, c2c, event, group_at


def test_a_bot_without_handlers_needs_no_intents() -> None:
    assert Bot().intents == Intents.NONE


def test_intents_equal_what_registered_handlers_and_commands_need() -> None:
    bot = Bot()

    @bot.on_at_message
    async def a() -> None: ...

    @bot.on_guild_member_add
    async def b() -> None: ...

    @bot.on_interaction
    async def c() -> None: ...

    @bot.on_ready
    async def ready() -> None: ...  # session events need no intent

    @bot.on("SOMETHING_UNKNOWN")
    async def d() -> None: ...

    assert bot.intents == Intents.PUBLIC_GUILD_MESSAGES | Intents.GUILD_MEMBERS | Intents.INTERACTION

    @bot.command("x")
    async def x(ctx: Context) -> None: ...

    assert bot.intents == (
        Intents.PUBLIC_GUILD_MESSAGES
        | Intents.GUILD_MEMBERS
        | Intents.INTERACTION
        | Intents.DIRECT_MESSAGE
        | Intents.GROUP_AND_C2C_EVENT
    )


@pytest.mark.parametrize("decorator", ["on_message", "on_reaction_add", "on_forum_thread_create", "on_audio_start"])
def test_each_decorator_asks_for_its_table_intent(decorator: str) -> None:
    from framework.models import EVENTS_BY_DECORATOR

    bot = Bot()

    async def h() -> None: ...

    getattr(bot, decorator)(h)
    assert bot.intents == intents_for([EVENTS_BY_DECORATOR[decorator].type])


def test_an_override_that_excludes_a_handler_is_an_error_at_start() -> None:
    bot = Bot(intents=Intents.PUBLIC_GUILD_MESSAGES)

    @bot.on_at_message
    async def fine() -> None: ...

    @bot.on_c2c_message
    async def excluded() -> None: ...

    assert bot.intents == Intents.PUBLIC_GUILD_MESSAGES
    with pytest.raises(IntentsError, match=r"excluded needs GROUP_AND_C2C_EVENT"):
        bot.prepare()


def test_an_override_may_ask_for_more() -> None:
    bot = Bot(intents=Intents.PUBLIC_GUILD_MESSAGES | Intents.GUILDS)

    @bot.on_at_message
    async def fine() -> None: ...

    bot.prepare()
    assert bot.intents == Intents.PUBLIC_GUILD_MESSAGES | Intents.GUILDS


class Settings(msgspec.Struct):
    greeting: str = "hi"


@pytest.mark.anyio
async def test_everything_injectable_by_annotation() -> None:
    bot = Bot()
    api = RecordingApi()
    bot.bind(api)
    bot.provide(Settings, Settings(greeting="hello"))
    got: dict[str, Any] = {}

    @bot.on_group_at_message
    async def handler(
        msg: GroupMessage, inbound: InboundEvent, me: Bot, client: ApiClient, ctx: Context, settings: Settings
    ) -> None:
        got.update(msg=msg, inbound=inbound, me=me, client=client, ctx=ctx, settings=settings)

    await bot.dispatch(group_at("hey", msg_id="m5"))
    assert isinstance(got["msg"], GroupMessage) and got["msg"].id == "m5"
    assert got["inbound"].type == "GROUP_AT_MESSAGE_CREATE"
    assert got["me"] is bot and got["client"] is api
    assert got["ctx"].event is got["msg"]
    assert got["settings"].greeting == "hello"


@pytest.mark.anyio
async def test_unannotated_parameters_by_name_keyword_only_and_defaults() -> None:
    bot = Bot()
    api = RecordingApi()
    bot.bind(api)
    got: list[Any] = []

    @bot.on_c2c_message
    async def handler(event, ctx, *, bot, api, extra: int = 7) -> None:  # type: ignore[no-untyped-def]
        got.extend([event, ctx, bot, api, extra])

    await bot.dispatch(c2c("x"))
    assert isinstance(got[0], C2CMessage) and isinstance(got[1], Context)
    assert got[2:] == [bot, api, 7]


@pytest.mark.anyio
async def test_the_concrete_client_class_can_be_injected() -> None:
    bot = Bot()
    api = RecordingApi()
    bot.bind(api)
    bot.provide_api_type(RecordingApi)
    got: list[RecordingApi] = []

    @bot.on_c2c_message
    async def handler(client: RecordingApi) -> None:
        got.append(client)

    await bot.dispatch(c2c("x"))
    assert got == [api]


def test_unsatisfiable_handlers_fail_at_registration_naming_handler_and_parameter() -> None:
    bot = Bot()

    async def wants_int(count: int) -> None: ...

    async def no_annotation(thing) -> None: ...  # type: ignore[no-untyped-def]

    def not_async(ctx: Context) -> None: ...

    async def bad_annotation(x: DoesNotExist) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    async def wrong_event(msg: Message) -> None: ...

    with pytest.raises(HandlerSignatureError, match=r"wants_int'.*parameter 'count' is annotated <class 'int'>"):
        bot.on_c2c_message(wants_int)
    with pytest.raises(HandlerSignatureError, match=r"no_annotation'.*parameter 'thing' has no annotation"):
        bot.on_c2c_message(no_annotation)
    with pytest.raises(HandlerSignatureError, match=r"not_async'.*not an async function"):
        bot.on_c2c_message(not_async)  # type: ignore[type-var]
    with pytest.raises(HandlerSignatureError, match=r"bad_annotation'.*parameter 'x'.*cannot be resolved"):
        bot.on_c2c_message(bad_annotation)
    with pytest.raises(HandlerSignatureError, match=r"wrong_event'.*parameter 'msg'"):
        bot.on_group_at_message(wrong_event)
    assert bot.handlers == []


def test_lifecycle_hooks_cannot_ask_for_an_event() -> None:
    bot = Bot()

    async def startup(ctx: Context) -> None: ...

    with pytest.raises(HandlerSignatureError, match="without one"):
        bot.on_startup(startup)


@pytest.mark.anyio
async def test_a_raw_payload_reaches_on_any_and_ready_sets_the_bot_id() -> None:
    bot = Bot()
    seen: list[str] = []

    @bot.on_ready
    async def ready(ev: Any) -> None:
        seen.append(ev.session_id)

    await bot.dispatch(event("READY", {"session_id": "S1", "user": {"id": "42"}}))
    assert seen == ["S1"] and bot.bot_id == "42"
