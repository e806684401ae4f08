"""Observability across the event bus, as real processes: ``qqbot emulator``, ``qqbot gateway`` and ``qqbot worker``
(both ``--metrics-port`` and ``--log-format json``) over a real Redis (and NATS), the bot module tracing with the
OpenTelemetry SDK into a JSON-lines file per process.

Checked: the worker's event span is a child of the gateway's publish span (one trace id), the handler and REST
spans nest under it, and the worker's JSON log line of that event carries the same trace id; both processes serve
/metrics (the bus series move by what was sent) and /readyz (200 once ready; with Redis paused the gateway
answers 503 once a batch fails and the worker once a read fails, and both 200 again when it resumes). A worker
killed with an entry pending: the survivor's ``qqbot_bus_claimed_total`` counts it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from _bus_harness import BusProcess, Emulator, Gateway, NatsServer, Worker, env_for, free_port
from _fleet_harness import RedisServer, wait_until
from prometheus_client.parser import text_string_to_metric_families

from framework.bus.message import BusMessage, decode_message, encode_event, encode_message
from framework.models.envelope import InboundEvent

BOT = '''
"""A bot that traces into the JSON-lines file $TRACED_BOT_SPANS (one span per line)."""

import logging
import os
import time

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

from framework import Bot, Context
from framework.observability.tracing import TracingPlugin

provider = TracerProvider(resource=Resource.create())  # reads OTEL_SERVICE_NAME
_out = open(os.environ["TRACED_BOT_SPANS"], "a", encoding="utf-8", buffering=1)
provider.add_span_processor(
    SimpleSpanProcessor(ConsoleSpanExporter(out=_out, formatter=lambda span: span.to_json(indent=None) + "\\n"))
)
bot = Bot("traced", scenes=["group"], plugins=[TracingPlugin(tracer_provider=provider)])
log = logging.getLogger("traced")


@bot.on_group_at_message
async def echo(ctx: Context) -> None:
    if ctx.event.content.strip() == "block":  # blocks the event loop past the watchdog's 2 s
        time.sleep(4)
    log.info("ECHO %s", ctx.event.id)
    await ctx.reply(f"echo {ctx.event.content.strip()}")
'''

GROUP = "GROUP_AT_MESSAGE_CREATE"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _process(tmp: Path, name: str, command: str, emulator: Emulator, bus: str, port: int, *extra: str) -> BusProcess:
    """``qqbot <command>`` of the traced bot, JSON logs; the gateway gets ``--metrics-port``, the worker the same
    through ``QQBOT_METRICS_PORT``."""
    argv = [
        sys.executable, "-m", "framework", command, str(tmp / "traced.py") + ":bot", "--bus", bus,
        "--log-format", "json", "--log-level", "INFO", *extra,
    ]  # fmt: skip
    # OTEL_SERVICE_NAME: each process names itself, as docs/observability.md shows
    env = env_for(emulator) | {
        "TRACED_BOT_SPANS": str(tmp / f"{name}.spans.jsonl"),
        "OTEL_SERVICE_NAME": f"qqbot-{name}",
    }
    if command == "gateway":
        argv += ["--metrics-port", str(port)]
    else:
        env["QQBOT_METRICS_PORT"] = str(port)
    return BusProcess(name, argv, tmp / f"{name}.log", env)


def _spans(tmp: Path, name: str) -> list[dict[str, Any]]:
    path = tmp / f"{name}.spans.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def _scrape(http: httpx.Client, port: int) -> Samples:
    answer = http.get(f"http://127.0.0.1:{port}/metrics")
    assert answer.status_code == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _ready(http: httpx.Client, port: int) -> tuple[int, str]:
    answer = http.get(f"http://127.0.0.1:{port}/readyz")
    return answer.status_code, answer.text.strip()


class _Before(msgspec.Struct, array_like=True, frozen=True):
    """BusMessage as it was before its ``trace`` field (the release workers may still run during an upgrade)."""

    type: str
    data: bytes
    id: str | None = None
    seq: int | None = None
    shard: int | None = None
    received: float = 0.0
    source: str = "gateway"


def test_an_untraced_message_is_encoded_as_before_and_both_forms_decode_both_ways() -> None:
    event = InboundEvent(type=GROUP, data=msgspec.Raw(b'{"id":"M1"}'), id="E1", seq=7, shard_id=0)
    old = msgspec.msgpack.encode(_Before(GROUP, b'{"id":"M1"}', "E1", 7, 0, 12.5, "gateway"))
    assert encode_event(event, 12.5) == old  # byte for byte: no trace, nothing extra
    assert encode_message(BusMessage.of(event, 12.5)) == old
    assert decode_message(old) == BusMessage.of(event, 12.5)  # a new worker reads an old gateway's message
    context = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    traced = encode_event(event, 12.5, context)
    assert traced == encode_message(BusMessage.of(event, 12.5, context)) and len(traced) > len(old)
    assert decode_message(traced).trace == context
    assert msgspec.msgpack.decode(traced, type=_Before) == msgspec.msgpack.decode(old, type=_Before)  # an old worker


@pytest.mark.parametrize("backend", ["redis", "nats"])
def test_one_trace_from_gateway_to_worker_and_the_probes_of_both(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest, processes: list[BusProcess]
) -> None:
    (tmp_path / "traced.py").write_text(BOT)
    server: RedisServer | NatsServer = request.getfixturevalue(f"{backend}_server")
    bus = f"{server.url}?partitions=4&lease_ttl=10"
    emulator = Emulator(tmp_path)
    processes.append(emulator)
    gw_port, wk_port = free_port(), free_port()
    gateway = _process(tmp_path, "gateway", "gateway", emulator, bus, gw_port)
    processes.append(gateway)
    worker = _process(tmp_path, "worker", "worker", emulator, bus, wk_port)
    processes.append(worker)
    gateway.wait_for("is ready", timeout=60)
    worker.wait_for("is ready", timeout=60)
    assert f"metrics serving on http://127.0.0.1:{gw_port}/metrics" in gateway.output()
    assert f"metrics serving on http://127.0.0.1:{wk_port}/metrics" in worker.output()
    with httpx.Client(transport=httpx.HTTPTransport(), timeout=10, trust_env=False) as http:
        assert _ready(http, gw_port) == (200, f"1 shard(s) ready; publishing to the bus ({backend})")
        assert _ready(http, wk_port) == (200, f"bus member ({backend}), reading")
        health = http.get(f"http://127.0.0.1:{wk_port}/healthz")  # the worker's loop watchdog answers
        assert health.status_code == 200 and health.text.startswith("ok; event loop ran "), health.text
        assert health.text.strip().endswith(" s ago (watchdog threshold 2 s)"), health.text

        ids = [emulator.group_message(f"G{n}", f"hello {n}") for n in range(3)]
        wait_until(lambda: all(emulator.replies(f"G{n}") == [f"echo hello {n}"] for n in range(3)), 30, "3 replies")

        # the traces: publish (gateway) -> event -> handler -> api (worker), one trace per event
        def worker_spans() -> list[dict[str, Any]]:
            spans = _spans(tmp_path, "worker")
            return spans if sum(s["name"].startswith("qqbot.api ") for s in spans) >= 3 else []

        spans = wait_until(worker_spans, 10, "the worker's spans")
        published = {s["context"]["span_id"]: s for s in _spans(tmp_path, "gateway")}
        events = [s for s in spans if s["name"] == f"qqbot.event {GROUP}"]
        assert len(events) == 3
        logs = [json.loads(line) for line in worker.output().splitlines() if line.startswith("{")]
        for event in events:
            parent = published[event["parent_id"]]  # the gateway's publish span is the parent
            assert parent["name"] == f"qqbot.publish {GROUP}" and parent["kind"] == "SpanKind.PRODUCER"
            assert parent["context"]["trace_id"] == event["context"]["trace_id"]
            assert parent["parent_id"] is None  # the gateway starts the trace
            assert parent["resource"]["attributes"]["service.name"] == "qqbot-gateway"
            assert event["resource"]["attributes"]["service.name"] == "qqbot-worker"
            assert parent["attributes"]["qqbot.event.id"] == event["attributes"]["qqbot.event.id"]
            assert parent["attributes"]["qqbot.shard"] == 0 and parent["attributes"]["qqbot.seq"] >= 1
            assert parent["attributes"]["messaging.system"] == backend
            assert event["attributes"]["qqbot.source"] == backend
            trace_id = event["context"]["trace_id"]
            (handler,) = [s for s in spans if s["parent_id"] == event["context"]["span_id"]]
            (api,) = [s for s in spans if s["parent_id"] == handler["context"]["span_id"]]
            assert api["name"] == "qqbot.api POST /v2/groups/{id}/messages"
            assert handler["context"]["trace_id"] == api["context"]["trace_id"] == trace_id
            # the worker's log line of this event carries the trace id (32 hex digits, no 0x)
            (line,) = [
                r
                for r in logs
                if r["msg"].startswith("ECHO ") and r.get("event_id") == parent["attributes"]["qqbot.event.id"]
            ]
            assert "0x" + line["trace_id"] == trace_id
        assert sorted(ids) == sorted(e["attributes"]["qqbot.event.id"] for e in events)  # the envelope ids
        assert len([r for r in logs if r["msg"].startswith("ECHO ")]) == 3

        # the metrics of both processes
        g, w = _scrape(http, gw_port), _scrape(http, wk_port)
        assert _value(g, "qqbot_bus_published_total", bus=backend) >= 3  # and the shard's READY event
        assert _value(g, "qqbot_bus_buffer_depth", bus=backend) == 0
        assert _value(g, "qqbot_bus_buffer_capacity", bus=backend) == 10_000
        assert _value(g, "qqbot_bus_dropped_total", bus=backend) == 0
        assert _value(g, "qqbot_shard_state", shard="0", state="ready") == 1 and _value(g, "qqbot_ready") == 1
        assert _value(g, "qqbot_events_received_total", type=GROUP, shard="0") == 0  # the gateway runs no handler
        assert _value(w, "qqbot_events_received_total", type=GROUP, shard="0") == 3
        assert _value(w, "qqbot_events_handled_total", type=GROUP) == 3
        assert _value(w, "qqbot_bus_consumed_total", bus=backend) == _value(g, "qqbot_bus_published_total", bus=backend)
        wait_until(
            lambda: (
                _value(_scrape(http, wk_port), "qqbot_bus_acknowledged_total", bus=backend)
                == _value(g, "qqbot_bus_published_total", bus=backend)
            ),
            10,
            "every entry acknowledged",
        )
        assert _value(w, "qqbot_bus_partitions_owned", bus=backend) == 4
        assert _value(w, "qqbot_api_requests_total", method="POST", route="/v2/groups/{id}/messages", status="200") == 3
        assert _value(w, "qqbot_ready") == 1

        if isinstance(server, RedisServer):  # readiness follows the bus: Redis paused, then resumed
            assert server.proc is not None
            server.proc.send_signal(signal.SIGSTOP)
            try:
                emulator.group_message("G9", "while paused")  # the gateway's next batch fails (5 s timeout)
                wait_until(lambda: _ready(http, gw_port)[0] == 503, 20, "the gateway's /readyz 503")
                text = _ready(http, gw_port)[1]
                assert text.startswith("bus unavailable for ") and "Redis did not answer" in text, text
                wait_until(lambda: _ready(http, wk_port)[0] == 503, 20, "the worker's /readyz 503")
                assert _ready(http, wk_port)[1].startswith("bus unavailable: "), _ready(http, wk_port)
                assert _value(_scrape(http, gw_port), "qqbot_bus_publish_failures_total", bus=backend) >= 1
                assert _value(_scrape(http, gw_port), "qqbot_bus_buffer_depth", bus=backend) >= 1
                assert _value(_scrape(http, gw_port), "qqbot_ready") == 0
            finally:
                server.proc.send_signal(signal.SIGCONT)
            wait_until(lambda: emulator.replies("G9") == ["echo while paused"], 30, "the held event answered")
            wait_until(lambda: _ready(http, gw_port)[0] == 200, 20, "the gateway's /readyz 200 again")
            wait_until(lambda: _ready(http, wk_port)[0] == 200, 20, "the worker's /readyz 200 again")

    # shutdown: both stop cleanly on SIGINT
    assert worker.interrupt() == 0
    assert gateway.interrupt() == 0


def test_a_webhook_gateway_is_ready_once_it_serves_traces_and_counts_what_it_drops(
    tmp_path: Path, redis_server: RedisServer, processes: list[BusProcess]
) -> None:
    (tmp_path / "traced.py").write_text(BOT)
    hook_port, gw_port = free_port(), free_port()
    emulator = Emulator(tmp_path, "--webhook-url", f"http://127.0.0.1:{hook_port}/")
    processes.append(emulator)
    bus = f"{redis_server.url}?partitions=2"
    webhook = ("--transport", "webhook", "--port", str(hook_port), "--buffer", "2", "--when-full", "drop")
    gateway = _process(tmp_path, "gateway", "gateway", emulator, bus, gw_port, *webhook)
    processes.append(gateway)
    gateway.wait_for("webhook callbacks on", timeout=60)
    with httpx.Client(transport=httpx.HTTPTransport(), timeout=10, trust_env=False) as http:
        assert _ready(http, gw_port) == (200, "webhook serving; publishing to the bus (redis)")
        health = http.get(f"http://127.0.0.1:{gw_port}/healthz")  # no session manager: the CLI's watchdog
        assert health.status_code == 200 and health.text.startswith("ok; event loop ran "), health.text
        emulator.group_message("W1", "hello")
        wait_until(
            lambda: _value(_scrape(http, gw_port), "qqbot_bus_published_total", bus="redis") == 1, 10, "1 published"
        )
        (span,) = wait_until(lambda: _spans(tmp_path, "gateway"), 10, "the publish span")
        assert span["name"] == f"qqbot.publish {GROUP}" and span["attributes"]["qqbot.source"] == "webhook"
        assert redis_server.proc is not None
        redis_server.proc.send_signal(signal.SIGSTOP)
        try:
            for n in range(6):  # two buffered (the first in the batch the bus does not answer), four dropped
                emulator.group_message("W1", f"paused {n}")
            wait_until(
                lambda: _value(_scrape(http, gw_port), "qqbot_bus_dropped_total", bus="redis") == 4, 10, "4 dropped"
            )
            assert _value(_scrape(http, gw_port), "qqbot_bus_buffer_depth", bus="redis") == 2
            wait_until(lambda: _ready(http, gw_port)[0] == 503, 20, "the gateway's /readyz 503")
        finally:
            redis_server.proc.send_signal(signal.SIGCONT)
        wait_until(lambda: _ready(http, gw_port)[0] == 200, 20, "the gateway's /readyz 200 again")
    assert gateway.interrupt() == 0


@pytest.mark.parametrize("command", ["gateway", "worker"])
def test_a_busy_metrics_port_is_one_line(command: str, tmp_path: Path) -> None:
    import socket

    from _fleet_harness import APP_ID, APP_SECRET, clean_env

    (tmp_path / "traced.py").write_text(BOT)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = [sys.executable, "-m", "framework", command, str(tmp_path / "traced.py") + ":bot"]
        argv += ["--bus", "redis://127.0.0.1:1/0", "--metrics-port", str(port)]
        env = clean_env(QQBOT_APP_ID=APP_ID, QQBOT_APP_SECRET=APP_SECRET, TRACED_BOT_SPANS=str(tmp_path / "s.jsonl"))
        env["QQBOT_METRICS_HOST"] = "127.0.0.1"
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith(f"qqbot: error: cannot serve metrics on 127.0.0.1:{port}")
    assert "--metrics-port" in proc.stderr


@pytest.mark.parametrize("backend", ["redis", "nats"])
def test_a_survivor_counts_the_entries_it_claims_from_a_killed_worker(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest, processes: list[BusProcess]
) -> None:
    server: RedisServer | NatsServer = request.getfixturevalue(f"{backend}_server")
    bus = f"{server.url}?partitions=2&lease_ttl=2"
    emulator = Emulator(tmp_path)
    processes.append(emulator)
    gw_port, first_port, second_port = free_port(), free_port(), free_port()
    gateway = Gateway(tmp_path, emulator, bus, "--metrics-port", str(gw_port))
    processes.append(gateway)
    first = Worker(tmp_path, "first", emulator, bus, "--metrics-port", str(first_port))
    processes.append(first)
    gateway.wait_for("is ready", timeout=60)
    first.wait_for("is ready", timeout=60)
    with httpx.Client(transport=httpx.HTTPTransport(), timeout=10, trust_env=False) as http:

        def settled() -> bool:  # the shard's READY event handled and acknowledged: nothing pending before the kill
            published = _value(_scrape(http, gw_port), "qqbot_bus_published_total", bus=backend)
            return (
                published >= 1
                and _value(_scrape(http, first_port), "qqbot_bus_acknowledged_total", bus=backend) == published
            )

        wait_until(settled, 20, "the first worker acknowledging what was published")
        assert _value(_scrape(http, first_port), "qqbot_bus_claimed_total", bus=backend) == 0
        emulator.group_message("K1", "linger here")  # replied, then 3 s before it is acknowledged
        first.wait_for("LINGER ", timeout=20)
        (mid,) = first.lines("LINGER")
        first.kill()  # SIGKILL: the entry stays pending with it
        second = Worker(tmp_path, "second", emulator, bus, "--metrics-port", str(second_port))
        processes.append(second)
        second.wait_for("is ready", timeout=60)  # the dead worker's leases expire after 2 s; then it takes both
        wait_until(lambda: second.handled() == [(mid, "replayed")], 30, "the claimed event handled again")
        w = _scrape(http, second_port)
        assert _value(w, "qqbot_bus_claimed_total", bus=backend) == 1
        assert _value(w, "qqbot_bus_partitions_owned", bus=backend) == 2
    assert emulator.replies("K1") == ["echo linger here"]  # the platform kept one reply (the second: 40054005)
    assert second.interrupt() == 0
    assert gateway.interrupt() == 0


def test_a_workers_healthz_fails_while_a_handler_blocks_its_loop(
    tmp_path: Path, redis_server: RedisServer, processes: list[BusProcess]
) -> None:
    (tmp_path / "traced.py").write_text(BOT)
    bus = f"{redis_server.url}?partitions=2"
    emulator = Emulator(tmp_path)
    processes.append(emulator)
    gateway = Gateway(tmp_path, emulator, bus)
    processes.append(gateway)
    port = free_port()
    worker = _process(tmp_path, "worker", "worker", emulator, bus, port)
    processes.append(worker)
    gateway.wait_for("is ready", timeout=60)
    worker.wait_for("is ready", timeout=60)
    url = f"http://127.0.0.1:{port}/healthz"
    with httpx.Client(transport=httpx.HTTPTransport(), timeout=10, trust_env=False) as http:
        assert http.get(url).status_code == 200
        emulator.group_message("B1", "block")  # the handler calls time.sleep(4): the loop stops for 4 s
        wait_until(lambda: http.get(url).status_code == 503, 20, "/healthz 503 while the loop is blocked")
        text = http.get(url).text  # answered by the metrics thread meanwhile
        assert text.startswith("event loop blocked for ") and text.strip().endswith("(threshold 2 s)"), text
        wait_until(lambda: http.get(url).status_code == 200, 20, "/healthz 200 once the loop runs again")
    wait_until(lambda: emulator.replies("B1") == ["echo block"], 20, "the blocked handler's reply")
    warning = [r for r in (json.loads(line) for line in worker.output().splitlines() if line.startswith("{"))
               if r["msg"].startswith("event loop blocked for ")]  # fmt: skip
    assert len(warning) == 1 and " by echo (" in warning[0]["msg"], warning  # names the blocking handler
    assert worker.interrupt() == 0
    assert gateway.interrupt() == 0
