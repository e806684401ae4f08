"""``python benchmarks/observability_overhead.py`` runs each of its modes for real (a tiny pass: the emulator in its
own process, the metrics server scraped by another process). No timing is asserted; what is asserted is that
every configuration ran and printed a figure, and that a wrong configuration name is refused in one line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "observability_overhead.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_every_configuration_runs_and_prints_its_figures() -> None:
    configs = ["none", "null-timed", "metrics-observer", "metrics", "json-logs"]
    proc = run("-n", "3000", "-r", "1", "--configs", ",".join(configs))
    assert proc.returncode == 0, proc.stderr[-3000:]
    for config in configs:
        assert re.search(rf"^  {re.escape(config)} +[\d,]+ events/s .* µs CPU/event", proc.stdout, re.M), proc.stdout


def test_the_observer_and_delivery_modes_print_their_figures() -> None:
    observer = run("--observer")
    assert observer.returncode == 0, observer.stderr[-3000:]
    assert re.search(r"metrics observer: \d+ ns CPU per event \(timed\)", observer.stdout), observer.stdout
    delivery = run("--delivery", "-r", "1")
    assert delivery.returncode == 0, delivery.stderr[-3000:]
    assert re.search(r"paired difference [+-]\d+\.\d\d µs", delivery.stdout), delivery.stdout


def test_an_unknown_configuration_is_refused() -> None:
    proc = run("--configs", "none,metric")
    assert proc.returncode == 2
    assert "unknown configuration metric: choose from none, metrics," in proc.stderr
