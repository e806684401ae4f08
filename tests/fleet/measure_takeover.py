"""Measure the takeover after ``kill -9`` (docs/fleet.md): ``python tests/fleet/measure_takeover.py [RUNS] [TTL...]``.

Per run: a redis-server of its own, the emulator (6 shards, max_concurrency 3) and two ``qqbot run --sessions``
processes; once they hold 3 shards each, one is killed with SIGKILL and the time until every one of its shards
has a new live session (polled from the emulator every 20 ms) is recorded. Prints one line per run and the
median and worst per lease TTL.
"""

from __future__ import annotations

import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _fleet_harness import EmulatorProcess, FleetProcess, RedisServer, owners, redis_binary, wait_until

SHARDS = 6


def one_run(ttl: float, tmp: Path) -> float:
    redis = RedisServer(redis_binary(), tmp)
    redis.start()
    emulator = EmulatorProcess(tmp, SHARDS, 3)
    sessions = f"{redis.url}?lease_ttl={ttl:g}"
    procs = [FleetProcess(tmp, f"p{i}", emulator, sessions) for i in (1, 2)]
    try:
        wait_until(
            lambda: sorted(len(v) for v in owners(sessions).values()) == [3, 3] and len(emulator.live()) == SHARDS,
            120,
            "an even split",
            poll=0.3,
        )
        time.sleep(2 * ttl)  # a steady state, mid-renewal at a random point
        victim = procs[1]
        before = {c["number"] for c in emulator.gateway()["connections"]}
        victim.popen.send_signal(signal.SIGKILL)
        killed = time.monotonic()

        def all_back() -> bool:
            live = emulator.live()
            fresh = sum(1 for c in live.values() if c["number"] not in before)
            return len(live) == SHARDS and fresh == SHARDS // 2

        wait_until(all_back, 10 * ttl + 30, "the takeover", poll=0.02)
        return time.monotonic() - killed
    finally:
        for proc in [*procs, emulator]:
            proc.kill()
        redis.stop()


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    ttls = [float(x) for x in sys.argv[2:]] or [15.0, 3.0]
    for ttl in ttls:
        times = []
        for n in range(runs):
            with tempfile.TemporaryDirectory() as tmp:
                took = one_run(ttl, Path(tmp))
            times.append(took)
            print(f"lease_ttl {ttl:g} s run {n + 1}: every shard of the killed process live again after {took:.2f} s")
        print(
            f"lease_ttl {ttl:g} s: median {statistics.median(times):.2f} s, worst {max(times):.2f} s ({runs} runs)",
            flush=True,
        )


if __name__ == "__main__":
    main()
