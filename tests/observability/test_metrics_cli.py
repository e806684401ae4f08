"""``qqbot run --metrics-port`` as a user runs it: a real subprocess on the embedded emulator, scraped over HTTP.

Messages, a failing command and gateway faults go through the emulator's control API; the counters must move
by exactly what was sent. The probes are read across start-up (a slow ``on_startup``), READY, a reconnect that
has to identify again (and so waits for its identify slot), and shutdown (a slow ``on_shutdown``).
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from _proc import QQBOT, Proc, clean_env, free_port
from prometheus_client.parser import text_string_to_metric_families

BOT = """
import time

import anyio
from framework import Bot, Context

bot = Bot("observed")


@bot.on_startup
async def slow_start() -> None:
    await anyio.sleep(1.5)  # the probes answer meanwhile: alive, not ready


@bot.on_shutdown
async def slow_stop() -> None:
    await anyio.sleep(1.5)


@bot.command("ping")
async def ping(ctx: Context) -> None:
    await ctx.reply("pong")


@bot.command("block")
async def block(ctx: Context) -> None:
    time.sleep(3.5)  # blocks the event loop past the watchdog's 2 s threshold


@bot.command("boom")
async def boom(ctx: Context) -> None:
    raise RuntimeError("kaput")
"""

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _http() -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(), timeout=10, trust_env=False)


def scrape(http: httpx.Client, base: str) -> Samples:
    answer = http.get(f"{base}/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def until(check: Callable[[], bool], what: str, timeout: float = 20.0, step: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(step)


def status(http: httpx.Client, url: str) -> int:
    try:
        return http.get(url).status_code
    except httpx.TransportError:
        return 0


def test_metrics_and_probes_of_a_running_bot(tmp_path: Path) -> None:
    (tmp_path / "observed.py").write_text(BOT)
    emu_port, port = free_port(), free_port()
    emu, metrics = f"http://127.0.0.1:{emu_port}", f"http://127.0.0.1:{port}"
    argv = [*QQBOT, "run", "observed.py:bot", "--no-console", "--emulator-port", str(emu_port)]
    with Proc([*argv, "--metrics-port", str(port)], cwd=tmp_path, env=clean_env()) as proc, _http() as http:
        proc.wait_for("metrics serving on")
        # start-up: alive at once, not ready before every shard is READY
        assert status(http, f"{metrics}/healthz") == 200
        assert status(http, f"{metrics}/readyz") == 503
        assert http.get(f"{metrics}/readyz").text == "not connected\n"  # on_startup still sleeping
        assert value(scrape(http, metrics), "qqbot_ready") == 0
        proc.wait_for("is ready")
        assert status(http, f"{metrics}/readyz") == 200
        before = scrape(http, metrics)
        assert value(before, "qqbot_shard_state", shard="0", state="ready") == 1
        assert value(before, "qqbot_shards_owned") == 1 and value(before, "qqbot_ready") == 1

        # a reconnect that must identify again (within the emulator's 5 s identify window of the first identify, so it
        # waits for its slot): not ready meanwhile, counted by its close code, the identify wait measured
        seen: list[int] = []
        fault = http.post(f"{emu}/_emulator/gateway/faults/close", json={"code": 4900, "reason": "test"})
        assert fault.json() == {"affected": 1}
        until(lambda: seen.append(status(http, f"{metrics}/readyz")) or seen[-1] == 503, "readyz 503 in the reconnect")
        until(lambda: status(http, f"{metrics}/readyz") == 200, "READY again")
        again = scrape(http, metrics)
        assert value(again, "qqbot_gateway_reconnects_total", shard="0", code="4900") == 1
        assert value(again, "qqbot_identify_wait_seconds_count") >= 1
        assert value(again, "qqbot_identify_wait_seconds_sum") > 0.5
        assert status(http, f"{metrics}/healthz") == 200

        # traffic: three answered commands, one that raises
        for n in range(3):
            act = http.post(f"{emu}/_emulator/act/group_at_message", json={"content": "/ping", "group_openid": f"G{n}"})
            assert act.status_code == 200, act.text
        assert (
            http.post(f"{emu}/_emulator/act/c2c_message", json={"content": "/boom", "openid": "U1"}).status_code == 200
        )
        group = "GROUP_AT_MESSAGE_CREATE"

        def handled() -> float:
            now = scrape(http, metrics)
            return sum(value(now, "qqbot_events_handled_total", type=t) for t in (group, "C2C_MESSAGE_CREATE"))

        until(lambda: handled() == 4, "the four events handled")
        after = scrape(http, metrics)
        assert value(after, "qqbot_events_received_total", type=group, shard="0") == 3
        assert value(after, "qqbot_events_received_total", type="C2C_MESSAGE_CREATE", shard="0") == 1
        errors = {
            dict(labels)["handler"]: v for (name, labels), v in after.items() if name == "qqbot_handler_errors_total"
        }
        assert list(errors.values()) == [1] and next(iter(errors)).endswith("boom"), errors
        assert value(after, "qqbot_handler_duration_seconds_count", type=group) == 3
        assert value(after, "qqbot_handler_duration_seconds_bucket", type=group, le="+Inf") == 3
        assert (
            value(after, "qqbot_api_requests_total", method="POST", route="/v2/groups/{id}/messages", status="200") == 3
        )
        assert (
            value(after, "qqbot_api_request_duration_seconds_count", method="POST", route="/v2/groups/{id}/messages")
            == 3
        )
        assert value(after, "qqbot_token_refreshes_total") >= 1
        assert value(after, "qqbot_dispatch_queue_depth") == 0 and value(after, "qqbot_dedupe_hits_total") == 0

        # the last group message again, under a new envelope id (a platform redelivery): dropped, counted
        again = {"op": 0, "t": group, "id": "redelivered-1", "d": act.json()["d"]}
        raw = http.post(f"{emu}/_emulator/gateway/faults/raw", json={"frame": json.dumps(again)})
        assert raw.json() == {"affected": 1}
        until(lambda: value(scrape(http, metrics), "qqbot_dedupe_hits_total") == 1, "the duplicate dropped")
        assert value(scrape(http, metrics), "qqbot_events_received_total", type=group, shard="0") == 3

        # REST faults: a 429 (the client waits for the route, then sends again) and an expired token (refreshed)
        route = "/v2/groups/{id}/messages"
        for fault in ("rate_limit", "expire_tokens"):
            body = {"count": 1} if fault == "rate_limit" else {}
            assert http.post(f"{emu}/_emulator/rest/faults/{fault}", json=body).status_code == 200
            assert http.post(f"{emu}/_emulator/act/group_at_message", json={"content": "/ping"}).status_code == 200
        until(
            lambda: (
                value(scrape(http, metrics), "qqbot_api_requests_total", method="POST", route=route, status="200") == 5
            ),
            "both replies sent after the faults",
        )
        faults = scrape(http, metrics)
        assert value(faults, "qqbot_api_requests_total", method="POST", route=route, status="429") == 1
        assert value(faults, "qqbot_api_rate_limited_total", method="POST", route=route) == 1
        assert value(faults, "qqbot_rate_limit_waits_total", method="POST", route=route) == 1  # the retry
        waited = {k for k, v in faults.items() if k[0] == "qqbot_rate_limit_waits_total"}
        assert len(waited) == 1, waited  # calls the limiter did not delay are not waits
        assert value(faults, "qqbot_rate_limit_wait_seconds_total", method="POST", route=route) > 0
        assert value(faults, "qqbot_api_requests_total", method="POST", route=route, status="401") == 1
        assert value(faults, "qqbot_token_refreshes_total") == value(after, "qqbot_token_refreshes_total") + 1

        # a handler blocking the event loop: /healthz fails (answered from the metrics thread), then recovers
        act = http.post(f"{emu}/_emulator/act/c2c_message", json={"content": "/block", "openid": "U2"})
        assert act.status_code == 200
        until(lambda: status(http, f"{metrics}/healthz") == 503, "healthz 503 while the loop is blocked")
        assert http.get(f"{metrics}/healthz").text.startswith("event loop blocked for ")
        until(lambda: status(http, f"{metrics}/healthz") == 200, "healthz 200 once the loop runs again")

        # shutdown: the shards close first, so readyz fails while on_shutdown still runs
        proc.popen.send_signal(signal.SIGINT)
        until(lambda: status(http, f"{metrics}/readyz") in (503, 0), "readyz failing on shutdown")
        assert proc.wait_exit() == 0
    assert proc.text.count("Traceback") == 1 and "RuntimeError: kaput" in proc.text  # boom's, logged


def test_webhook_mode_is_ready_once_it_serves(tmp_path: Path) -> None:
    (tmp_path / "observed.py").write_text(BOT)
    emu_port, port, hook = free_port(), free_port(), free_port()
    argv = [*QQBOT, "run", "observed.py:bot", "--no-console", "--transport", "webhook", "--port", str(hook)]
    env = clean_env(QQBOT_METRICS_PORT=str(port))  # the environment variable, this time
    metrics = f"http://127.0.0.1:{port}"
    with Proc([*argv, "--emulator-port", str(emu_port)], cwd=tmp_path, env=env) as proc, _http() as http:
        proc.wait_for("metrics serving on")
        assert status(http, f"{metrics}/readyz") == 503
        proc.wait_for("is ready")
        answer = http.get(f"{metrics}/readyz")
        assert (answer.status_code, answer.text) == (200, "webhook serving\n")
        health = http.get(f"{metrics}/healthz")  # run_webhook's loop watchdog, as a gateway's
        assert health.status_code == 200 and "event loop ran" in health.text, health.text
        act = http.post(f"http://127.0.0.1:{emu_port}/_emulator/act/c2c_message", json={"content": "/ping"})
        assert act.status_code == 200
        until(
            lambda: value(scrape(http, metrics), "qqbot_events_handled_total", type="C2C_MESSAGE_CREATE") == 1,
            "the webhook event counted",
        )
        assert proc.stop() == 0


def test_a_busy_metrics_port_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        argv = [*QQBOT, "run", "observed.py:bot", "--no-console", "--metrics-port", str(port)]
        (tmp_path / "observed.py").write_text(BOT)
        with Proc(argv, cwd=tmp_path) as proc:
            assert proc.wait_exit() == 1
    assert proc.err.decode().strip().splitlines()[-1] == (
        f"qqbot: error: cannot serve metrics on 0.0.0.0:{port} (Address already in use); choose another "
        "--metrics-port or stop the process using it"
    )
