"""The emulator as its own OS process for the fleet tests: ``python emulator_proc.py SHARDS MAX_CONCURRENCY``.

``qqbot emulator`` has no option for ``max_concurrency``; the fleet tests need several identify buckets so that
a dozen shards start in seconds. Prints ``URL <base url>`` once listening; serves until killed.
"""

from __future__ import annotations

import sys

import anyio

from framework.emulator import Emulator, EmulatorConfig
from framework.models.intents import ALL_INTENTS


async def main(shards: int, max_concurrency: int) -> None:
    config = EmulatorConfig(shards=shards, heartbeat_interval_ms=5000)
    config.session_start_limit.max_concurrency = max_concurrency
    config.allowed_intents = dict.fromkeys(config.apps, int(ALL_INTENTS))
    emu = Emulator(config)
    async with emu.serve("127.0.0.1", 0) as url:
        print(f"URL {url}", flush=True)
        await anyio.sleep_forever()


if __name__ == "__main__":
    anyio.run(main, int(sys.argv[1]), int(sys.argv[2]))
