"""Traces through real components: a bot with the TracingPlugin runs against the emulator (in process) and the
OpenTelemetry SDK's in-memory exporter receives the spans: event -> handler -> REST call."""

from __future__ import annotations

import io
import json
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from framework import Bot, Context
from framework.logs import JsonFormatter
from framework.observability.tracing import TracingPlugin
from framework.testing import connect

pytestmark = pytest.mark.anyio


def _traced_bot() -> tuple[Bot, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    bot = Bot("traced", plugins=[TracingPlugin(tracer_provider=provider)])

    @bot.command("ping")
    async def ping(ctx: Context) -> None:
        logging.getLogger("tests.traced").warning("answering ping")
        await ctx.reply("pong")

    @bot.command("boom")
    async def boom(ctx: Context) -> None:
        raise RuntimeError("kaput")

    return bot, exporter


async def test_a_span_per_event_handler_and_rest_call() -> None:
    bot, exporter = _traced_bot()
    async with connect(bot) as chat:
        await chat.group("G1").user("alice").at("/ping")
        assert await chat.replies() == ["pong"]
    spans = exporter.get_finished_spans()
    events = [s for s in spans if s.name == "qqbot.event GROUP_AT_MESSAGE_CREATE"]
    assert len(events) == 1
    event = events[0]
    assert event.kind is SpanKind.CONSUMER
    attrs = dict(event.attributes or {})
    assert attrs["qqbot.event.type"] == "GROUP_AT_MESSAGE_CREATE"
    assert attrs["qqbot.scene"] == "group"
    assert attrs["qqbot.shard"] == 0 and isinstance(attrs["qqbot.seq"], int) and attrs["qqbot.event.id"]
    assert "framework.app.commands" in str(attrs["qqbot.handler"])
    (handler,) = [s for s in spans if s.parent is not None and s.parent.span_id == event.context.span_id]
    assert handler.name.startswith("qqbot.handler ")
    calls = [s for s in spans if s.parent is not None and s.parent.span_id == handler.context.span_id]
    assert [c.name for c in calls] == ["qqbot.api POST /v2/groups/{id}/messages"]
    (call,) = calls
    assert call.kind is SpanKind.CLIENT and call.context.trace_id == event.context.trace_id
    assert call.attributes is not None and call.attributes["http.response.status_code"] == 200
    assert call.attributes["qqbot.platform_trace_id"]  # the emulator's X-Tps-trace-ID
    assert event.start_time is not None and call.start_time is not None and event.end_time is not None
    assert event.start_time <= call.start_time and call.end_time is not None and call.end_time <= event.end_time


async def test_a_failing_handler_marks_its_span() -> None:
    bot, exporter = _traced_bot()
    async with connect(bot) as chat:
        await chat.c2c("U1").say("/boom")
        failures = await chat.errors()
        assert len(failures) == 1
    spans = exporter.get_finished_spans()
    (event,) = [s for s in spans if s.name == "qqbot.event C2C_MESSAGE_CREATE"]
    (handler,) = [s for s in spans if s.parent is not None and s.parent.span_id == event.context.span_id]
    assert handler.status.status_code is StatusCode.ERROR
    assert [s for s in spans if s.status.status_code is StatusCode.ERROR] == [handler]
    (exc,) = [e for e in handler.events if e.name == "exception"]
    assert exc.attributes is not None and exc.attributes["exception.type"] == "RuntimeError"
    assert exc.attributes["qqbot.handler.failed"]


async def test_json_log_lines_carry_the_event_and_trace_ids() -> None:
    bot, exporter = _traced_bot()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logging.getLogger("tests.traced").addHandler(handler)
    try:
        async with connect(bot) as chat:
            await chat.group("G1").user("alice").at("/ping")
            assert await chat.replies() == ["pong"]
    finally:
        logging.getLogger("tests.traced").removeHandler(handler)
    (line,) = [json.loads(x) for x in stream.getvalue().splitlines()]
    (event,) = [s for s in exporter.get_finished_spans() if s.name == "qqbot.event GROUP_AT_MESSAGE_CREATE"]
    assert line["msg"] == "answering ping"
    assert line["trace_id"] == format(event.context.trace_id, "032x")
    assert line["event_id"] == (event.attributes or {})["qqbot.event.id"]
    assert line["event_type"] == "GROUP_AT_MESSAGE_CREATE" and line["shard_id"] == 0


async def test_a_trace_the_sampler_drops_records_nothing_and_the_bot_still_answers() -> None:
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    bot = Bot("sampled-out", plugins=[TracingPlugin(tracer_provider=provider)])

    @bot.command("ping")
    async def ping(ctx: Context) -> None:
        await ctx.reply("pong")

    async with connect(bot) as chat:
        await chat.group("G1").user("alice").at("/ping")
        assert await chat.replies() == ["pong"]
    assert exporter.get_finished_spans() == ()
