"""``python benchmarks/run.py --smoke`` runs every measurement for real (its own processes, the emulator in
another, qq-botpy beside the framework) and writes a JSON with every section of issue 15 filled in.

No timing is asserted (figures on a shared machine mean nothing in a test); what is asserted is that every
figure exists and is a number, that the figures agree with each other (best ≥ median, p50 ≤ p99 ≤ p99.9,
ratios are the quotients they claim to be), and facts that do not depend on speed: one pooled REST
connection serves a sequential caller, a client without keep-alive opens one per call, 20 shards under
max_concurrency 1 take at least the identify windows they must wait.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def number(value: Any) -> float:
    assert isinstance(value, int | float) and not isinstance(value, bool), value
    assert math.isfinite(value), value
    return float(value)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench")
    path = out / "results.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", "--json", str(path), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    assert "targets:" in proc.stdout  # the table was printed
    assert not list(out.glob("*.png"))  # --smoke draws no figures (matplotlib is a bench-only extra)
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_every_section_is_there(results: dict[str, Any]) -> None:
    sections = {"throughput", "bare", "latency", "rest", "memory", "startup", "sessions_redis", "event_bus"}
    assert sections <= results.keys()
    assert results["mode"] == "smoke"
    assert results["machine"]["cores"] >= 1
    assert results["event_bus"]["available"] is True


def test_throughput_framework_and_botpy_side_by_side(results: dict[str, Any]) -> None:
    by = results["throughput"]["by_shards"]
    assert set(by) == {"1", "4", "16"}
    for row in by.values():
        for sdk in ("framework", "botpy"):
            case = row[sdk]
            assert number(case["best"]) >= number(case["median"]) > 0
            assert len(case["rates"]) == results["params"]["rounds"]
            assert number(case["emulator_cpu_us_per_event"]) > 0
            assert number(case["emulator_core_share"]) > 0
            assert number(case["client_cpu_us_per_event"]) >= number(case["client_cpu_us_best"]) > 0
        assert number(row["ratio"]) == pytest.approx(row["framework"]["median"] / row["botpy"]["median"])
        # framework and qq-botpy rounds alternate, one round per process, and pair up
        assert len(row["pair_ratios"]) == results["params"]["rounds"]
        assert number(row["pair_ratios"][0]) == pytest.approx(row["framework"]["rates"][0] / row["botpy"]["rates"][0])
        cpu = row["botpy"]["client_cpu_us_per_event"] / row["framework"]["client_cpu_us_per_event"]
        assert number(row["cpu_ratio"]) == pytest.approx(cpu)
        # beside the medians, the best round of each
        assert number(row["best_ratio"]) == pytest.approx(row["framework"]["best"] / row["botpy"]["best"])
        best_cpu = row["botpy"]["client_cpu_us_best"] / row["framework"]["client_cpu_us_best"]
        assert number(row["cpu_best_ratio"]) == pytest.approx(best_cpu)
    assert results["throughput"]["ratio_1_shard"] == by["1"]["ratio"]


def test_bare_limit_and_fraction(results: dict[str, Any]) -> None:
    bare = results["bare"]
    assert number(bare["best"]) >= number(bare["median"]) > 0
    framework = results["throughput"]["by_shards"]["1"]["framework"]["median"]
    assert number(bare["fraction"]) == pytest.approx(framework / bare["median"])
    framework_cpu = results["throughput"]["by_shards"]["1"]["framework"]["client_cpu_us_per_event"]
    assert number(bare["cpu_fraction"]) == pytest.approx(number(bare["cpu_us_per_event"]) / framework_cpu)
    # one bare round after each pair of 1-shard rounds: the same time slices as the rounds it is compared with
    assert len(bare["rates"]) == results["params"]["rounds"]
    best_cpu = results["throughput"]["by_shards"]["1"]["framework"]["client_cpu_us_best"]
    assert number(bare["cpu_best_fraction"]) == pytest.approx(number(bare["cpu_us_best"]) / best_cpu)


def test_latency_percentiles_at_each_rate(results: dict[str, Any]) -> None:
    by = results["latency"]["by_rate"]
    assert set(by) == {"1000", "5000", "20000"}
    for rate, row in by.items():
        assert row["events"] == round(int(rate) * results["latency"]["seconds_per_rate"])
        for measured in (row, row["floor"]):  # through the framework, and into a plain socket reader
            assert measured["events"] == row["events"]
            assert (
                0
                <= number(measured["p50_ms"])
                <= number(measured["p99_ms"])
                <= number(measured["p999_ms"])
                <= number(measured["max_ms"])
            )
            number(measured["emulator_lag_p99_ms"])
            assert number(measured["emulator_core_share"]) > 0


def test_rest_reuses_connections_and_measures_the_limiter(results: dict[str, Any]) -> None:
    rest = results["rest"]
    for key in ("sequential", "sequential_no_limiter", "concurrent", "no_reuse"):
        row = rest[key]
        assert number(row["replies_per_s"]) > 0
        assert 0 < number(row["latency_p50_ms"]) <= number(row["latency_p99_ms"])
    assert rest["sequential"]["connections"] == 1  # one caller, one kept-alive connection
    assert 1 <= rest["concurrent"]["connections"] <= rest["concurrent"]["workers"]
    assert rest["no_reuse"]["connections"] >= results["params"]["rest_calls"] - 2  # a new one (almost) every call
    number(rest["limiter_added_ms"])  # a difference of medians: may be negative in the noise
    assert number(rest["limiter_own_us"]) > 0


def test_memory_idle_shards_and_dedupe(results: dict[str, Any]) -> None:
    memory = results["memory"]
    assert set(memory["rss_mb"]) == {"idle", "1", "20", "100"}
    python = number(memory["python_mb"])
    for mb in memory["rss_mb"].values():
        assert number(mb) > python  # the framework is loaded on top of a bare interpreter
    dedupe = memory["dedupe"]
    assert dedupe["events"] == results["params"]["dedupe_events"]
    assert number(dedupe["kept_bytes"]) > 0
    assert number(dedupe["kept_bytes_per_100k"]) == pytest.approx(dedupe["kept_bytes"] * 100_000 / dedupe["events"])
    number(dedupe["rss_growth_bytes_after_1"])


def test_startup_and_identify_bound(results: dict[str, Any]) -> None:
    startup = results["startup"]
    assert number(startup["import_ms"]) > 0
    assert 0 < number(startup["import_cpu_ms"]) < 10_000
    assert number(startup["import_bot_runner_ms"]) > 0
    assert 0 < number(startup["runner_to_ready_ms"]) < number(startup["process_to_ready_ms"])
    many = startup["many_shards"]
    assert many["shards"] == 20
    # max_concurrency 1: 19 windows must pass between the first and the last identify
    assert (
        number(many["elapsed_s"]) >= number(many["identify_bound_s"]) == pytest.approx(19 * 5.0 / many["clock_factor"])
    )


def test_redis_fleet_takeover_and_join(results: dict[str, Any]) -> None:
    fleet = results["sessions_redis"]
    assert fleet["available"] is True
    assert fleet["shards"] == 6 and fleet["killed_shards"] == 2  # three processes held two shards each
    for key in ("start_s", "takeover_s", "join_balanced_s", "join_not_live_s"):
        assert number(fleet[key]) >= 0
    # the dead process's leases must expire before another process may take its shards over
    assert number(fleet["takeover_s"]) >= number(fleet["lease_ttl_s"]) * 0.5
    assert 0 <= fleet["join_min_live_shards"] <= 6
    assert number(fleet["killed_at_s"]) < number(fleet["joined_at_s"])
    times = [row["t"] for row in fleet["timeline"]]
    assert times == sorted(times)
    assert any(row.get("owners") for row in fleet["timeline"])


def ordered(spread: dict[str, Any]) -> None:
    assert 0 <= number(spread["p50_ms"]) <= number(spread["p99_ms"]) <= number(spread["p999_ms"])
    assert number(spread["p999_ms"]) <= number(spread["max_ms"])


def test_event_bus_paths_side_by_side(results: dict[str, Any]) -> None:
    bus = results["event_bus"]
    params = bus["params"]
    assert list(bus["paths"]) == ["in-process", "redis-1", "redis-3", "nats-1", "nats-3"]
    for name, row in bus["paths"].items():
        assert row["backend"] == (None if name == "in-process" else name.split("-")[0])
        for figures in (row, row["no_reply"]):
            assert len(figures["rates"]) == params["rounds"]
            assert number(figures["best"]) >= number(figures["median"]) > 0
            assert number(figures["cpu_us_per_event_bot"]) >= 0
            assert number(figures["emulator_core_share"]) >= 0
        # every event was answered by a reply request the emulator logged, and with K workers by all K of them
        # (the measurement waits until the partition leases are shared)
        assert row["balanced"] is True
        for shares in row["worker_shares"]:
            assert len(shares) == row["workers"]
            assert sum(shares) == pytest.approx(1.0)
        processes = {"run"} if name == "in-process" else {"gateway", "broker", "workers"}
        assert processes | {"emulator"} <= row["cpu_us_per_event"].keys()
        assert len(row["loadavg_after"]) == 3
        assert set(row["latency"]) == {str(rate) for rate in params["rates"]}
        for rate, lat in row["latency"].items():
            assert lat["events"] == round(int(rate) * params["seconds"])
            ordered(lat["sent_to_reply"])
            ordered(lat["sent_to_handler"])
            if name == "in-process":  # qqbot run records no receive time
                assert "received_to_reply" not in lat
                continue
            for key in ("received_to_reply", "received_to_handler", "sent_to_received"):
                ordered(lat[key])
            # the gateway receives a frame after the emulator sent it: the end-to-end time from the gateway's
            # receive is the shorter one
            assert lat["received_to_reply"]["p50_ms"] <= lat["sent_to_reply"]["p50_ms"]
            assert lat["received_to_handler"]["p50_ms"] <= lat["received_to_reply"]["p50_ms"]


def test_targets_and_emulator_headroom(results: dict[str, Any]) -> None:
    targets = results["targets"]
    assert len(targets) == 10
    for target in targets:
        number(target["measured"])
        assert target["met"] in (True, False)
    emulator = results["emulator"]
    assert number(emulator["headroom"]) == pytest.approx(1 - emulator["max_core_share"])
    assert emulator["busiest"] in emulator["core_share"]
