"""The gateway client's frames on the wire, judged by a server that is not ours.

A stand-in gateway built on the ``websockets`` library's asyncio server (independent of the project's
codec and emulator) accepts only *text* frames, as botgo, botpy and nonebot send them (protocol.md §0): a
binary frame is answered with close 1003. A real :class:`Shard` over the real transport must identify,
heartbeat and, after a 4009 close, resume through it, every frame a JSON text frame.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from websockets.asyncio.server import ServerConnection, serve

from framework.models.envelope import InboundEvent
from framework.protocol.gateway import GatewayConfig
from framework.runtime.gateway.identify import IdentifyQueue
from framework.runtime.gateway.shard import Shard, ShardOptions
from framework.runtime.gateway.websocket import connect

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """``websockets.asyncio`` runs on asyncio only."""
    return "asyncio"


class TextOnlyGateway:
    """Hello, READY on identify, ACK on heartbeat, close 4009 after the first ACK, RESUMED on resume."""

    def __init__(self) -> None:
        self.frames: list[tuple[str, dict[str, Any]]] = []
        """``("text", frame)`` for each client message (``("binary", {})`` for a binary one)."""
        self.resumed = anyio.Event()
        self.connections = 0

    async def handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        first = self.connections == 1
        await ws.send(json.dumps({"op": 10, "d": {"heartbeat_interval": 100}}))
        async for message in ws:
            if not isinstance(message, str):
                self.frames.append(("binary", {}))
                await ws.close(1003, "text frames only")
                return
            frame = json.loads(message)
            self.frames.append(("text", frame))
            op = frame["op"]
            if op == 2:
                ready = {"version": 1, "session_id": "s-1", "user": {"id": "1", "bot": True}, "shard": [0, 1]}
                await ws.send(json.dumps({"op": 0, "s": 1, "t": "READY", "d": ready}))
            elif op == 1:
                await ws.send('{"op":11}')
                if first:
                    await ws.close(4009, "Session timed out")
                    return
            elif op == 6:
                await ws.send(json.dumps({"op": 0, "s": 2, "t": "RESUMED", "d": ""}))
                self.resumed.set()


async def test_identify_heartbeat_and_resume_are_text_frames() -> None:
    gateway = TextOnlyGateway()
    events: list[InboundEvent] = []

    async def emit(event: InboundEvent) -> None:
        events.append(event)

    async def token() -> str:
        return "tok"

    async with serve(gateway.handler, "127.0.0.1", 0, compression=None, ping_interval=None) as srv:
        port = next(iter(srv.sockets)).getsockname()[1]
        shard = Shard(
            0,
            1,
            url=f"ws://127.0.0.1:{port}/websocket",
            connector=connect,
            token_provider=token,
            intents=1 << 30,
            emit=emit,
            identify_queue=IdentifyQueue(window=0.0, margin=0.0),
            options=ShardOptions(gateway=GatewayConfig(first_heartbeat_jitter=False), close_timeout=1.0),
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(shard.run)
            with anyio.fail_after(10):
                await gateway.resumed.wait()
                while len(events) < 2:  # noqa: ASYNC110 - the shard has no "event delivered" signal
                    await anyio.sleep(0.01)
            await shard.stop()
    kinds = [kind for kind, _ in gateway.frames]
    ops = [frame.get("op") for _, frame in gateway.frames]
    assert "binary" not in kinds, gateway.frames
    assert ops[:2] == [2, 1] and 6 in ops
    identify = gateway.frames[0][1]["d"]
    assert identify["token"] == "QQBot tok" and identify["shard"] == [0, 1] and identify["intents"] == 1 << 30
    resume = next(frame["d"] for _, frame in gateway.frames if frame["op"] == 6)
    assert resume == {"token": "QQBot tok", "session_id": "s-1", "seq": 1}
    assert [e.type for e in events] == ["READY", "RESUMED"]
