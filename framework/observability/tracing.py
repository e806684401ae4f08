"""OpenTelemetry traces of a running bot, as a plugin (extra ``qqbot-framework[otel]``).

``Bot(plugins=[TracingPlugin()])`` traces with the global tracer provider (configure the SDK and an
exporter first, as for any OpenTelemetry program), ``TracingPlugin(tracer_provider=...)`` with another.
Per event:

- ``qqbot.event <TYPE>`` (kind CONSUMER): from the event reaching its handlers to their end, with
  ``qqbot.event.type``, ``qqbot.event.id``, ``qqbot.scene``, ``qqbot.shard``, ``qqbot.seq``,
  ``qqbot.source`` (gateway, webhook) and ``qqbot.handler`` (the functions that run for that type);
- ``qqbot.handler <names>`` (INTERNAL), its child, around the handlers' run: a handler that raises is
  recorded on it as an exception event naming the handler (``qqbot.handler.failed``) and sets its status
  to ERROR (through ``qqbot_handler_error``);
- ``qqbot.api <METHOD> <route>`` (CLIENT), a child of the handler span, per REST call the handlers make
  (each retry is a call), with ``http.request.method``, ``url.path`` (the route, ids replaced by
  ``{id}``), ``http.response.status_code`` and ``qqbot.platform_trace_id``: the platform's
  ``X-Tps-trace-ID``, which its support asks for. The span is built when the answer arrives
  (``qqbot_api_request``), with the request's measured start.

The spans are made current in the task that runs the handlers (the delivery path's worker), so spans a
handler opens itself, and its log records, nest under the event. JSON log lines written meanwhile carry
``event_id``, ``trace_id`` and ``span_id`` (:data:`framework.logs.log_fields`).

Across an event bus (``qqbot gateway`` and ``qqbot worker`` loading the same bot module, so both have the
plugin; ``qqbot_bus_started`` hands it the publisher or the consumer):

- the gateway opens ``qqbot.publish <TYPE>`` (kind PRODUCER, a new trace) when an event enters its publish
  buffer and ends it when the bus took it, with ``qqbot.event.type``, ``qqbot.event.id``, ``qqbot.shard``,
  ``qqbot.seq``, ``qqbot.source`` and ``messaging.system`` (``redis``, ``nats``); the span's context, written
  by the global propagator (W3C ``traceparent``/``tracestate`` unless ``OTEL_PROPAGATORS`` says otherwise),
  travels in the message (:attr:`framework.bus.message.BusMessage.trace`);
- the worker's ``qqbot.event <TYPE>`` span continues it: its parent is the publish span, so gateway, bus,
  worker, handler and REST calls are one trace, and the worker's log lines carry that trace's id. A sampler
  that follows the parent (the SDK's default, ``ParentBased``) keeps the gateway's sampling decision.

All handlers of one event run in one ``qqbot.handler`` span: the framework has no per-handler hook, and
adding one would cost every event a call per handler.
"""

from __future__ import annotations

import time
from contextvars import Token
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode

from framework.logs import log_fields
from framework.models import EVENT_TABLE
from framework.observability.logfields import event_fields
from framework.observability.routes import route_of
from framework.plugins import hookimpl

if TYPE_CHECKING:
    from collections.abc import Callable

    from framework.app import ApiRequest, Bot
    from framework.models import InboundEvent

__all__ = ["TracingPlugin"]

_TRACER_NAME = "qqbot-framework"


class TracingPlugin:
    """Plugin: OpenTelemetry spans per event, per handler run and per REST call (see the module docstring)."""

    def __init__(self, tracer_provider: trace.TracerProvider | None = None) -> None:
        self.tracer = trace.get_tracer(_TRACER_NAME, tracer_provider=tracer_provider)
        self._handlers: dict[str, str] = {}  # event type -> the handlers that run for it (bot.routes())
        self._attached: object | None = None
        # id(event) -> (event span, handler span, context token); started and finished run in one task
        self._open: dict[int, tuple[trace.Span, trace.Span, Token[Context]]] = {}
        # on a bus worker: the consumer's lookup of the message an event came in (its trace context)
        self._message_of: Callable[[InboundEvent], Any] | None = None

    def __repr__(self) -> str:
        return "TracingPlugin()"

    # -- plugin hooks -----------------------------------------------------------------------------

    @hookimpl
    def qqbot_gateway_started(self, bot: Bot) -> None:
        self._attach(bot)

    @hookimpl
    def qqbot_webhook_started(self, bot: Bot) -> None:
        self._attach(bot)

    @hookimpl
    def qqbot_bus_started(self, bot: Bot, bus: Any, publisher: Any, consumer: Any) -> None:
        if publisher is not None:  # a gateway: a publish span per event, its context carried in the message
            publisher.tracer = _PublishTracer(self.tracer, str(getattr(bus, "name", "bus")))
        if consumer is not None:  # a worker: each event's span continues the gateway's publish span
            self._message_of = consumer.message_of
            self._attach(bot)

    @hookimpl
    def qqbot_handler_error(self, error: BaseException, handler: str | None) -> None:
        span = trace.get_current_span()
        if not span.is_recording():
            return
        span.record_exception(error, attributes={"qqbot.handler.failed": handler or "dispatch"})
        span.set_status(Status(StatusCode.ERROR, f"{handler or 'dispatch'}: {type(error).__name__}"))

    @hookimpl
    def qqbot_api_request(self, request: ApiRequest) -> None:
        route = route_of(request.path)
        end = time.time_ns()
        span = self.tracer.start_span(
            f"qqbot.api {request.method} {route}",
            kind=SpanKind.CLIENT,
            start_time=end - int(request.elapsed * 1e9),
            attributes={
                "http.request.method": request.method,
                "url.path": route,
                "http.response.status_code": request.status,
            },
        )
        if request.trace_id:
            span.set_attribute("qqbot.platform_trace_id", request.trace_id)
        if request.code:
            span.set_attribute("qqbot.api.code", request.code)
        if request.status == 0 or request.status >= 400:
            span.set_status(Status(StatusCode.ERROR, f"HTTP {request.status}" if request.status else "no answer"))
        span.end(end_time=end)

    @hookimpl
    def qqbot_rate_limit_wait(self, method: str, route: str, seconds: float) -> None:
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event(
                "qqbot.rate_limit_wait",
                {"http.request.method": method, "url.path": route_of(route), "qqbot.wait_seconds": seconds},
            )

    def _attach(self, bot: Bot) -> None:
        self._handlers = {r["event"]: ", ".join(r["handlers"]) for r in bot.routes()}
        delivery = bot.delivery
        if delivery is not None and self._attached is not delivery:
            delivery.add_observer(self)
            self._attached = delivery

    # -- DeliveryObserver (runs in the worker task that awaits the handlers) ----------------------

    def started(self, event: InboundEvent) -> None:
        handlers = self._handler_names(event.type)
        attributes = _event_attributes(event)
        spec = EVENT_TABLE.get(event.type)
        if spec is not None and spec.scene is not None:
            attributes["qqbot.scene"] = str(spec.scene.value)
        if handlers:
            attributes["qqbot.handler"] = handlers
        parent: Context | None = None
        if self._message_of is not None:  # read from a bus: the gateway's trace context, if it sent one
            message = self._message_of(event)
            if message is not None and message.trace:
                parent = propagate.extract(message.trace)
        event_span = self.tracer.start_span(
            f"qqbot.event {event.type}", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
        )
        ctx = trace.set_span_in_context(event_span)
        handler_span: trace.Span = event_span
        if event_span.is_recording():  # a trace the sampler dropped gets no handler span (half the cost)
            handler_span = self.tracer.start_span(
                f"qqbot.handler {handlers or 'none'}", context=ctx, attributes={"qqbot.handler": handlers}
            )
            ctx = trace.set_span_in_context(handler_span, ctx)
        token = otel_context.attach(ctx)
        self._open[id(event)] = (event_span, handler_span, token)
        span_context = handler_span.get_span_context()
        fields = event_fields(event)
        if span_context.is_valid:
            fields["trace_id"] = format(span_context.trace_id, "032x")
            fields["span_id"] = format(span_context.span_id, "016x")
        log_fields.set(fields)

    def finished(self, event: InboundEvent) -> None:
        opened = self._open.pop(id(event), None)
        log_fields.set(None)
        if opened is None:
            return
        event_span, handler_span, token = opened
        if handler_span is not event_span:
            handler_span.end()
        event_span.end()
        otel_context.detach(token)

    def _handler_names(self, event_type: str) -> str:
        return self._handlers.get(event_type, "")


def _event_attributes(event: InboundEvent) -> dict[str, Any]:
    """The span attributes every event span carries: type, source, and the id, shard and seq it has."""
    attributes: dict[str, Any] = {"qqbot.event.type": event.type, "qqbot.source": event.source}
    if event.id:
        attributes["qqbot.event.id"] = event.id
    if event.shard_id is not None:
        attributes["qqbot.shard"] = event.shard_id
    if event.seq is not None:
        attributes["qqbot.seq"] = event.seq
    return attributes


_ROOT = Context()  # a publish span starts a trace, whatever context the sink runs in


class _PublishTracer:
    """The gateway side (:class:`framework.bus.publisher.PublishTracer`): a PRODUCER span per buffered event."""

    __slots__ = ("system", "tracer")

    def __init__(self, tracer: trace.Tracer, system: str) -> None:
        self.tracer = tracer
        self.system = system

    def start(self, event: InboundEvent) -> tuple[trace.Span, dict[str, str]]:
        attributes = _event_attributes(event)
        attributes["messaging.system"] = self.system
        attributes["messaging.operation.type"] = "publish"
        span = self.tracer.start_span(
            f"qqbot.publish {event.type}", context=_ROOT, kind=SpanKind.PRODUCER, attributes=attributes
        )
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(span, _ROOT))
        return span, carrier

    def published(self, spans: list[trace.Span]) -> None:
        for span in spans:
            span.end()
