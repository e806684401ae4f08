"""gateway -> Redis Streams -> workers, as real processes: ``qqbot emulator``, one ``qqbot gateway``, two
``qqbot worker``, a ``redis-server`` of the test's own.

Checked: every group message gets exactly one reply; each group's replies come in the order its messages were
sent; a worker killed with SIGKILL while its handlers run has its pending events claimed and handled once by the
other; with Redis paused (SIGSTOP) the gateway keeps heartbeating, holds the events (the ``block`` policy: its
buffer, then its queue, then it stops reading the socket) and publishes all of them once Redis is back; the same
when the server is killed and started again on its port (NATS with its store, Redis empty).
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from _bus_harness import (
    BusProcess,
    Emulator,
    Gateway,
    NatsServer,
    Worker,
    free_port,
    lease_holders,
    nats_lease_holders,
)
from _fleet_harness import RedisServer, wait_until

PARTITIONS = 8


def _bus(redis: RedisServer, lease_ttl: float = 2) -> str:
    return f"{redis.url}?partitions={PARTITIONS}&lease_ttl={lease_ttl:g}"


def _all_replied(emulator: Emulator, expected: dict[str, list[str]]) -> bool:
    return all(len(emulator.replies(group)) >= len(texts) for group, texts in expected.items())


def _check_exactly_once_in_order(emulator: Emulator, expected: dict[str, list[str]]) -> None:
    for group, texts in expected.items():
        replies = emulator.replies(group)
        assert replies == [f"echo {t}" for t in texts], f"group {group}: {replies}"


def _start(
    tmp_path: Path,
    redis: RedisServer | None,
    processes: list[BusProcess],
    *gateway_options: str,
    lease_ttl: float = 2,
    nats: NatsServer | None = None,
    count: int = 2,
) -> tuple[Emulator, Gateway, list[Worker]]:
    emulator = Emulator(tmp_path)
    processes.append(emulator)
    if nats is not None:
        bus = f"{nats.url}?partitions={PARTITIONS}&lease_ttl={lease_ttl:g}"
    else:
        assert redis is not None
        bus = _bus(redis, lease_ttl)
    gateway = Gateway(tmp_path, emulator, bus, *gateway_options)
    processes.append(gateway)
    workers = [Worker(tmp_path, f"worker-{i}", emulator, bus) for i in range(count)]
    processes.extend(workers)
    gateway.wait_for("is ready", timeout=60)
    for w in workers:
        w.wait_for("is ready", timeout=60)

    def shared() -> bool:  # both workers hold partitions (the second one's share handed over by the first)
        if nats is not None:
            holders = nats_lease_holders(nats.url, PARTITIONS)
        else:
            assert redis is not None
            holders = lease_holders(redis.url, PARTITIONS)
        return all(holders) and len(set(holders)) == count

    wait_until(shared, 30, "every worker holding partitions")
    return emulator, gateway, workers


@pytest.mark.parametrize(("backend", "count"), [("redis", 2), ("nats", 2), ("redis", 3)])
def test_one_reply_per_message_in_order_and_a_killed_worker(
    tmp_path: Path, backend: str, count: int, request: pytest.FixtureRequest, processes: list[BusProcess]
) -> None:
    if backend == "nats":
        nats: NatsServer = request.getfixturevalue("nats_server")
        emulator, _gateway, workers = _start(tmp_path, None, processes, nats=nats, count=count)
    else:
        emulator, _gateway, workers = _start(tmp_path, request.getfixturevalue("redis_server"), processes, count=count)
    groups = [f"G{i:02d}" for i in range(8)]
    expected: dict[str, list[str]] = {g: [] for g in groups}
    # round 1: quick messages, shared by both workers
    for k in range(10):
        for g in groups:
            text = f"{g} {k}"
            emulator.group_message(g, text)
            expected[g].append(text)
    wait_until(lambda: _all_replied(emulator, expected), 60, "every message of round 1 answered")
    _check_exactly_once_in_order(emulator, expected)
    assert all(w.lines("HANDLED") for w in workers), "every worker handles events"
    # round 2: slow handlers; SIGKILL the first worker while it runs some
    victim, survivors = workers[0], workers[1:]
    started_before = set(victim.lines("START"))
    for k in range(4):
        for g in groups:
            text = f"slow {g} {k}"
            emulator.group_message(g, text)
            expected[g].append(text)
    wait_until(lambda: set(victim.lines("START")) - started_before, 30, "the victim to start a slow handler")
    victim.popen.send_signal(signal.SIGKILL)
    victim.popen.wait()
    cut = set(victim.lines("START")) - set(victim.lines("HANDLED"))
    assert cut, "the victim was killed while handlers ran"
    wait_until(lambda: _all_replied(emulator, expected), 90, "every message of round 2 answered")
    time.sleep(1.0)  # a duplicate would show up now
    _check_exactly_once_in_order(emulator, expected)
    handled = Counter(victim.lines("HANDLED") + [m for w in survivors for m in w.lines("HANDLED")])
    assert cut <= {m for w in survivors for m in w.lines("HANDLED")}, "the survivors handled what the victim ran"
    assert not [m for m, n in handled.items() if n > 1], "no event handled twice"
    assert any(("claimed" if backend == "redis" else "taking over") in w.output() for w in survivors)


def _gateway_connection(emulator: Emulator) -> dict[str, Any]:
    live = [c for c in emulator.connections() if c["kind"] and c["closed_at"] is None]
    assert len(live) == 1, live
    return live[0]


@pytest.mark.parametrize("backend", ["redis", "nats"])
def test_gateway_heartbeats_and_holds_events_while_the_bus_is_paused(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest, processes: list[BusProcess]
) -> None:
    # a lease TTL longer than the pause: the workers keep their partitions (see docs/event-bus.md, failure modes)
    server: RedisServer | NatsServer
    if backend == "nats":
        server = request.getfixturevalue("nats_server")
        emulator, gateway, _workers = _start(tmp_path, None, processes, "--buffer", "100", lease_ttl=20, nats=server)
    else:
        server = request.getfixturevalue("redis_server")
        emulator, gateway, _workers = _start(tmp_path, server, processes, "--buffer", "100", lease_ttl=20)
    assert server.proc is not None
    groups = [f"P{i:02d}" for i in range(10)]
    expected: dict[str, list[str]] = {g: [] for g in groups}
    before = _gateway_connection(emulator)
    server.proc.send_signal(signal.SIGSTOP)
    try:
        # more than the publisher's buffer (100) and the session manager's queue (1024): the shard stops reading
        for k in range(120):
            for g in groups:
                text = f"{g} {k}"
                emulator.group_message(g, text)
                expected[g].append(text)
        gateway.wait_for("bus unavailable", timeout=30)
        gateway.wait_for("bus publisher buffer full", timeout=30)
        beats = _gateway_connection(emulator)["heartbeats"]
        time.sleep(4.5)
        during = _gateway_connection(emulator)
        assert during["number"] == before["number"], "the gateway kept its connection"
        assert during["heartbeats"] >= beats + 2, (beats, during["heartbeats"])  # one a second, on a busy machine
        assert not _all_replied(emulator, expected)
    finally:
        server.proc.send_signal(signal.SIGCONT)
    wait_until(lambda: _all_replied(emulator, expected), 120, "every message answered once the bus is back")
    time.sleep(1.0)
    _check_exactly_once_in_order(emulator, expected)
    assert _gateway_connection(emulator)["number"] == before["number"]
    gateway.wait_for("bus available again", timeout=10)


def test_a_webhook_gateway_publishes_too(
    tmp_path: Path, redis_server: RedisServer, processes: list[BusProcess]
) -> None:
    port = free_port()
    emulator = Emulator(tmp_path, "--webhook-url", f"http://127.0.0.1:{port}/")
    processes.append(emulator)
    bus = _bus(redis_server)
    gateway = Gateway(tmp_path, emulator, bus, "--transport", "webhook", "--port", str(port))
    worker = Worker(tmp_path, "worker", emulator, bus)
    processes.extend([gateway, worker])
    gateway.wait_for("webhook callbacks on", timeout=60)
    worker.wait_for("is ready", timeout=60)
    expected: dict[str, list[str]] = {"W1": [], "W2": []}
    for k in range(10):
        for g in expected:
            text = f"{g} {k}"
            emulator.group_message(g, text)
            expected[g].append(text)
    wait_until(lambda: _all_replied(emulator, expected), 60, "every webhook event answered")
    time.sleep(0.5)
    _check_exactly_once_in_order(emulator, expected)
    assert gateway.interrupt() == 0
    assert "20 event(s) published, 0 dropped, 0 unpublished" in gateway.output()


def test_the_drop_policy_drops_counts_and_says_so(
    tmp_path: Path, redis_server: RedisServer, processes: list[BusProcess]
) -> None:
    emulator = Emulator(tmp_path)
    processes.append(emulator)
    bus = _bus(redis_server)
    gateway = Gateway(tmp_path, emulator, bus, "--buffer", "10", "--when-full", "drop")
    worker = Worker(tmp_path, "worker", emulator, bus)
    processes.extend([gateway, worker])
    gateway.wait_for("is ready", timeout=60)
    worker.wait_for("is ready", timeout=60)
    assert redis_server.proc is not None
    redis_server.proc.send_signal(signal.SIGSTOP)
    try:
        for k in range(50):
            emulator.group_message("D1", f"D1 {k}")
        gateway.wait_for("bus publisher buffer full (10 events): dropped GROUP_AT_MESSAGE_CREATE", timeout=30)
    finally:
        redis_server.proc.send_signal(signal.SIGCONT)
    gateway.wait_for("event(s) dropped", timeout=30)  # the end of the outage, with the count
    assert gateway.interrupt() == 0
    last = gateway.output().strip().splitlines()[-1]  # gateway stopped: N event(s) published, M dropped, 0 unpublished
    published, dropped = int(last.split()[2]), int(last.split()[5])
    assert published + dropped == 51 and dropped >= 30, last  # READY (published before the pause) and 50 messages
    wait_until(lambda: len(emulator.replies("D1")) >= published - 1, 60, "the published messages answered")
    time.sleep(0.5)
    replies = emulator.replies("D1")
    assert len(replies) == published - 1 and len(set(replies)) == published - 1


@pytest.mark.parametrize("backend", ["redis", "nats"])
def test_the_bus_server_killed_and_restarted_loses_nothing_held_by_the_gateway(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest, processes: list[BusProcess]
) -> None:
    """The server itself dies (SIGKILL) and comes back on the same port a few seconds later: NATS with its
    JetStream store (the same directory), Redis without persistence (the suite's: it comes back empty). Events that
    arrive meanwhile wait in the gateway and are answered once the server is back, exactly once and in order;
    the gateway's session and heartbeats go on."""
    server: RedisServer | NatsServer
    if backend == "nats":
        server = request.getfixturevalue("nats_server")
        emulator, gateway, workers = _start(tmp_path, None, processes, lease_ttl=20, nats=server)
    else:
        server = request.getfixturevalue("redis_server")
        emulator, gateway, workers = _start(tmp_path, server, processes, lease_ttl=20)
    assert server.proc is not None
    groups = [f"R{i:02d}" for i in range(10)]
    expected: dict[str, list[str]] = {g: [] for g in groups}
    for k in range(10):
        for g in groups:
            text = f"{g} before {k}"
            emulator.group_message(g, text)
            expected[g].append(text)
    wait_until(lambda: _all_replied(emulator, expected), 60, "every message before the crash answered")
    time.sleep(0.5)  # their acknowledgements written
    before = _gateway_connection(emulator)
    server.proc.kill()
    server.proc.wait()
    for k in range(30):
        for g in groups:
            text = f"{g} while down {k}"
            emulator.group_message(g, text)
            expected[g].append(text)
    gateway.wait_for("bus unavailable", timeout=30)
    beats = _gateway_connection(emulator)["heartbeats"]
    time.sleep(3.5)
    during = _gateway_connection(emulator)
    assert during["number"] == before["number"], "the gateway kept its connection"
    assert during["heartbeats"] >= beats + 2, (beats, during["heartbeats"])
    assert not _all_replied(emulator, expected)
    server.start()  # the same port (and for NATS the same store directory)
    for k in range(10):
        for g in groups:
            text = f"{g} after {k}"
            emulator.group_message(g, text)
            expected[g].append(text)
    wait_until(lambda: _all_replied(emulator, expected), 120, "every message answered once the server is back")
    time.sleep(1.0)
    _check_exactly_once_in_order(emulator, expected)
    gateway.wait_for("bus available again", timeout=10)
    assert _gateway_connection(emulator)["number"] == before["number"]
    assert all(w.popen.poll() is None for w in workers), "the workers rode the outage out"
