"""``qqbot_shards_owned`` and ``/readyz`` in a fleet: two ``qqbot run --sessions redis://…`` processes split the
shards, each scraped over HTTP; when one is killed the other takes its shards and says so.

Runs the fleet tests' real processes (``tests/fleet/_fleet_harness.py``): a ``redis-server`` of its own, the
emulator in its own process, and the bot processes.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from _fleet_harness import EmulatorProcess, FleetProcess, RedisServer, owners, redis_binary, wait_until
from _proc import free_port
from prometheus_client.parser import text_string_to_metric_families

SHARDS = 4


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    directory = tmp_path / "redis"
    directory.mkdir()
    server = RedisServer(redis_binary(), directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _owned(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "qqbot_shards_owned":
                return float(sample.value)
    raise AssertionError("no qqbot_shards_owned in /metrics")


def _ready(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_each_process_reports_the_shards_it_holds(tmp_path: Path, redis: RedisServer) -> None:
    started: list[EmulatorProcess | FleetProcess] = []
    try:
        emulator = EmulatorProcess(tmp_path, SHARDS, SHARDS)
        started.append(emulator)
        sessions = f"{redis.url}?lease_ttl=3&namespace=obs"
        ports = [free_port(), free_port()]
        bots = [
            FleetProcess(tmp_path, f"p{i}", emulator, sessions, "--metrics-port", str(port))
            for i, port in enumerate(ports)
        ]
        started.extend(bots)

        def split() -> bool:
            held = owners(sessions)
            return sorted(len(v) for v in held.values()) == [2, 2] and len(emulator.live()) == SHARDS

        wait_until(split, 60, "the shards split 2/2", poll=0.3)
        wait_until(lambda: all(_ready(p) == 200 for p in ports), 30, "both processes ready")
        assert [_owned(p) for p in ports] == [2, 2]

        bots[1].kill()  # its leases expire (3 s); the survivor takes its shards
        wait_until(lambda: _owned(ports[0]) == SHARDS, 60, "the survivor owning every shard", poll=0.3)
        wait_until(lambda: _ready(ports[0]) == 200, 30, "the survivor ready with every shard")
    finally:
        for process in reversed(started):
            process.kill()
