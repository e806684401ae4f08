"""A bot process as lean as a user's, for the memory and startup figures of ``run.py``.

    python benchmarks/_probe.py rss URL SHARDS     # RSS before the framework, then idle (SHARDS 0) or READY
    python benchmarks/_probe.py ready URL          # start -> READY of one shard

It imports nothing but the framework and what a bot needs (no benchmark helpers, no argparse or
subprocess), connects to the emulator already serving at URL (its default app) and prints one JSON line.
"""

import gc
import json
import os
import sys
import time


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    started = time.monotonic()
    python_mb = rss_mb()
    mode, url = sys.argv[1], sys.argv[2]
    shards = int(sys.argv[3]) if len(sys.argv) > 3 else 1

    import anyio

    from framework import Bot, BotRunner
    from framework.models.events import GroupMessage

    bot = Bot("probe", help=False)

    @bot.on_group_at_message
    async def noop(message: GroupMessage) -> None:
        pass

    app_id, secret = "102000001", "emulator-secret"  # the emulator's default app (a test value)
    try:
        from framework.runtime.credentials import Credentials
        from framework.runtime.platform import Platform

        edge: dict[str, object] = {"credentials": Credentials(app_id, secret), "platform": Platform.at(url)}
    except ImportError:  # a tree from before the Platform value
        edge = {"app_id": app_id, "app_secret": secret, "api_base": url, "token_url": f"{url}/app/getAppAccessToken"}
    runner = BotRunner(bot, **edge)  # type: ignore[arg-type]
    imported = time.monotonic()
    if mode == "rss" and shards == 0:
        gc.collect()
        print(json.dumps({"python_mb": python_mb, "rss_mb": rss_mb()}))
        return

    async def run() -> dict[str, float]:
        entered = time.monotonic()
        async with runner:
            with anyio.fail_after(120):
                await runner.wait_ready()
            ready = time.monotonic()
            await anyio.sleep(0.3)
            gc.collect()
            return {
                "python_mb": python_mb,
                "rss_mb": rss_mb(),
                "import_s": imported - started,
                "runner_to_ready_s": ready - entered,
                "ready_at": ready,
            }

    print(json.dumps(anyio.run(run)))


if __name__ == "__main__":
    main()
