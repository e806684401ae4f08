"""A webhook server in its own process, for the flood tests.

``python flood_server.py SECRET APP_ID NOFILE [KEY=VALUE...]`` lowers its soft file-descriptor limit to
``NOFILE`` (so that a few hundred sockets reach it, as a thousand would with the usual limit of 1024),
serves a :class:`WebhookApp` on ``127.0.0.1:0`` with the given ``WebhookApp`` options (numbers), prints
``PORT <n>``, and on SIGTERM prints ``STATS <json>`` and exits.
"""

from __future__ import annotations

import dataclasses
import json
import resource
import sys

import anyio

from framework.models import InboundEvent
from framework.runtime.webhook import WebhookApp, WebhookBot, serve_webhook


async def main(secret: str, app_id: str, nofile: int, options: dict[str, float]) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))

    async def sink(event: InboundEvent) -> None:
        return None

    app = WebhookApp({app_id: WebhookBot(secret, sink)}, **options)  # type: ignore[arg-type]
    async with anyio.create_task_group() as tg:
        _, port = await tg.start(lambda task_status: serve_webhook(app, port=0, task_status=task_status))
        print(f"PORT {port}", flush=True)
    print(f"STATS {json.dumps(dataclasses.asdict(app.stats))}", flush=True)


if __name__ == "__main__":
    opts = {k: float(v) if "." in v else int(v) for k, v in (a.split("=", 1) for a in sys.argv[4:])}
    anyio.run(main, sys.argv[1], sys.argv[2], int(sys.argv[3]), opts)
