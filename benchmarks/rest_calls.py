"""Client CPU per OpenAPI call: N group sends to the emulator (in its own process), 1 caller and C callers.

``python benchmarks/rest_calls.py [--calls N] [--concurrency C] [--rounds R] [--in-flight B] [--plain-httpx]
[--profile FILE]``

Reports, per mode, calls/s (wall) and the client's CPU per call (``time.process_time()`` of this process
divided by the calls; the emulator's CPU is not in it) with the load average at the time. The client is
the one ``OpenAPI`` builds for itself (``pooled_http_client``), or with ``--plain-httpx`` the plain
``httpx.AsyncClient`` that ``framework/runner.py`` passes it; ``--profile`` writes a cProfile of the
measured calls (all modes) to FILE.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", default="")
    parser.add_argument("--in-flight", type=int, default=None, help="OpenAPI(max_in_flight=...); default: its own")
    parser.add_argument(
        "--plain-httpx",
        action="store_true",
        help="pass OpenAPI a plain httpx.AsyncClient built as framework/runner.py builds it (not its own)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of text")
    args = parser.parse_args()

    import anyio
    import httpx
    from _common import GROUP, EmulatorOptions, EmulatorProcess, token_manager

    from framework.models.api import MessageToCreate
    from framework.runtime.openapi import OpenAPI

    message = MessageToCreate(content="pong", msg_type=0)
    profiler = cProfile.Profile() if args.profile else None

    async def measure(url: str, workers: int) -> dict[str, float]:
        tokens = token_manager(url)
        extra: dict[str, Any] = {} if args.in_flight is None else {"max_in_flight": args.in_flight}
        if args.plain_httpx:
            limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30.0)
            extra["http"] = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0), limits=limits)
        async with OpenAPI(tokens, base_url=url, **extra) as api:
            for _ in range(50):  # warm up: token, connection, code paths
                await api.post_group_message(GROUP, message)
            left = args.calls

            async def worker() -> None:
                nonlocal left
                while left > 0:
                    left -= 1
                    await api.post_group_message(GROUP, message)

            cpu0, start = time.process_time(), time.perf_counter()
            if profiler is not None:
                profiler.enable()
            async with anyio.create_task_group() as tg:
                for _ in range(workers):
                    tg.start_soon(worker)
            if profiler is not None:
                profiler.disable()
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
        if "http" in extra:
            await extra["http"].aclose()
        await tokens.aclose()
        return {"calls_per_s": args.calls / elapsed, "cpu_us_per_call": cpu / args.calls * 1e6}

    async def run(emu: EmulatorProcess) -> dict[str, Any]:
        out: dict[str, Any] = {"seq": [], "conc": []}
        for _ in range(args.rounds):
            out["seq"].append(await measure(emu.url, 1))
            out["conc"].append(await measure(emu.url, args.concurrency))
        return out

    with EmulatorProcess(EmulatorOptions(allow_active_messages=True)) as emu:
        result: dict[str, Any] = anyio.run(run, emu)
    load = os.getloadavg()[0]
    best = {mode: min(rows, key=lambda r: r["cpu_us_per_call"]) for mode, rows in result.items()}
    if profiler is not None:
        profiler.dump_stats(args.profile)
    if args.json:
        print(json.dumps({"load1": load, "best": best, "rows": result}))
        return
    for mode, label in (("seq", "1 caller"), ("conc", f"{args.concurrency} callers")):
        b = best[mode]
        every = ", ".join(f"{r['cpu_us_per_call']:.0f}" for r in result[mode])
        print(
            f"{label:>11}: {b['calls_per_s']:,.0f} calls/s, {b['cpu_us_per_call']:,.0f} µs client CPU/call "
            f"(best of {args.rounds}; all: {every})"
        )
    print(f"load average (1 min): {load:.2f}")


if __name__ == "__main__":
    main()
