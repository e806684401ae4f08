"""Per-frame cost of parsing server→client WebSocket text frames, with and without envelope decoding.

Compares, on the same buffer of N pre-encoded unmasked text frames (a ~450-byte
GROUP_AT_MESSAGE_CREATE dispatch each), fed in 64 KiB chunks as a socket would deliver them:

- ``wsproto``: ``wsproto.connection.Connection`` (client side, post-handshake), as used by httpx-ws;
- ``websockets``: the sans-IO ``ClientProtocol`` (``receive_data``/``events_received``), plus the
  UTF-8 decode of the text payload that its sans-IO layer leaves to the caller;
- ``wsframes``: ``framework.protocol.wsframes.FrameReader``, the project's own reader;
- ``aiohttp`` (reference, if installed): aiohttp's C-accelerated ``WebSocketReader`` as used by botpy.

each alone and followed by ``framework.models.decode_envelope`` (msgspec).

With ``--e2e`` it also measures whole clients receiving the same frames over a loopback socket from a
server thread (handshake excluded): ``framework.runtime.gateway.websocket`` on asyncio and trio, the
``websockets`` asyncio client, and aiohttp's client (botpy's transport). Run::

    python3 benchmarks/ws_parse.py            # N=20000, best of 5
    python3 benchmarks/ws_parse.py -n 50000 -r 7 --e2e
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import msgspec

from framework.models import decode_envelope, decode_event
from framework.protocol.wsframes import FrameReader, encode_frame

CHUNK = 65536


def dispatch_json(seq: int) -> bytes:
    """A realistic GROUP_AT_MESSAGE_CREATE dispatch, shaped like a captured gateway frame."""
    return msgspec.json.encode(
        {
            "op": 0,
            "s": seq,
            "t": "GROUP_AT_MESSAGE_CREATE",
            "id": "GROUP_AT_MESSAGE_CREATE:dplmss1ni5jdxvhqmsablrwi16gnqpxgg9ecoamsg9xqkgxwpynhysl6q6ws",
            "d": {
                "id": "ROBOT1.0_DPLMsS1ni5JdXvHqMSAbLhCWDXkR.ypJfF8MMAvV1o.nJ6EAnAE5kMg2FFFnMSNfcCPx",
                "content": f" hello {seq}",
                "timestamp": "2025-02-15T16:35:23+08:00",
                "author": {
                    "member_openid": "7D296480D464EC5C16714E74A43E5BC7",
                },
                "group_id": "D4DE5F2EF86365A1FBEAA8C7C3C12B91",
                "group_openid": "D4DE5F2EF86365A1FBEAA8C7C3C12B91",
            },
        }
    )


def build_chunks(n: int) -> tuple[list[bytes], int]:
    frames = [encode_frame(0x1, dispatch_json(i + 1), mask=False) for i in range(n)]
    stream = b"".join(frames)
    return [stream[i : i + CHUNK] for i in range(0, len(stream), CHUNK)], len(frames[0])


Runner = Callable[[list[bytes], bool], int]


def run_wsframes(chunks: list[bytes], decode: bool) -> int:
    reader = FrameReader(max_size=4 * 2**20)
    count = 0
    for chunk in chunks:
        reader.feed(chunk)
        while (event := reader.next_event()) is not None:
            if decode:
                decode_envelope(event)  # type: ignore[arg-type]
            count += 1
    return count


def run_wsframes_full(chunks: list[bytes], decode: bool) -> int:
    """Own reader, envelope, then the ``d`` payload into its event Struct (what a subscribed handler costs)."""
    reader = FrameReader(max_size=4 * 2**20)
    count = 0
    for chunk in chunks:
        reader.feed(chunk)
        while (event := reader.next_event()) is not None:
            envelope = decode_envelope(event)  # type: ignore[arg-type]
            decode_event(envelope.t or "", envelope.d)
            count += 1
    return count


def run_websockets(chunks: list[bytes], decode: bool) -> int:
    from websockets.client import ClientProtocol
    from websockets.frames import Frame, Opcode
    from websockets.protocol import State
    from websockets.uri import parse_uri

    proto = ClientProtocol(parse_uri("ws://127.0.0.1/"), state=State.OPEN, max_size=4 * 2**20)
    text = Opcode.TEXT
    count = 0
    for chunk in chunks:
        proto.receive_data(chunk)
        for frame in proto.events_received():
            if isinstance(frame, Frame) and frame.opcode is text:
                message = bytes(frame.data).decode()  # websockets' sans-IO layer leaves UTF-8 to the caller
                if decode:
                    decode_envelope(message)
                count += 1
    return count


def run_wsproto(chunks: list[bytes], decode: bool) -> int:
    from wsproto.connection import Connection, ConnectionType
    from wsproto.events import TextMessage

    conn = Connection(ConnectionType.CLIENT)
    count = 0
    parts: list[str] = []
    for chunk in chunks:
        conn.receive_data(chunk)
        for event in conn.events():
            if isinstance(event, TextMessage):
                # wsproto hands out partial messages when a frame spans two reads.
                if not event.message_finished:
                    parts.append(event.data)
                    continue
                message = "".join((*parts, event.data)) if parts else event.data
                parts.clear()
                if decode:
                    decode_envelope(message)
                count += 1
    return count


def _aiohttp_reader() -> tuple[Any, Any, asyncio.AbstractEventLoop]:
    from aiohttp._websocket.reader import WebSocketDataQueue, WebSocketReader

    loop = asyncio.new_event_loop()
    queue: Any = WebSocketDataQueue(_NoProtocol(), 2**30, loop=loop)  # type: ignore[arg-type]
    return queue, WebSocketReader(queue, 4 * 2**20, compress=False, decode_text=True), loop


def run_aiohttp(chunks: list[bytes], decode: bool) -> int:
    """aiohttp's reader (C extension when available), as botpy uses it; ``decode`` uses msgspec."""
    queue, reader, loop = _aiohttp_reader()
    buffer = queue._buffer
    count = 0
    try:
        for chunk in chunks:
            reader.feed_data(chunk)
            while buffer:
                msg, _ = buffer.popleft()
                if decode:
                    decode_envelope(msg.data)
                count += 1
    finally:
        loop.close()
    return count


def run_aiohttp_json(chunks: list[bytes], decode: bool) -> int:
    """botpy's path: aiohttp's reader then ``json.loads`` of the whole frame (``decode`` is ignored)."""
    queue, reader, loop = _aiohttp_reader()
    buffer = queue._buffer
    count = 0
    try:
        for chunk in chunks:
            reader.feed_data(chunk)
            while buffer:
                msg, _ = buffer.popleft()
                json.loads(msg.data)
                count += 1
    finally:
        loop.close()
    return count


class _NoProtocol:
    """The flow-control target aiohttp's queue expects; never paused with a 1 GiB limit."""

    _reading_paused = False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


# -- end to end over loopback ------------------------------------------------------------------


class BlastServer:
    """A thread that accepts WebSocket connections and sends a pre-encoded frame stream, then a close frame."""

    def __init__(self, stream: bytes) -> None:
        self.stream = stream + encode_frame(0x8, b"\x03\xe8", mask=False)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self.sock.getsockname()[1]}/websocket"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(4096)
            key = next(
                line.split(b":", 1)[1].strip()
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            conn.sendall(self.stream)
            try:
                while conn.recv(65536):
                    pass
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()


async def e2e_own(url: str, n: int, decode: bool) -> float:
    from framework.runtime.gateway.websocket import connect

    ws = await connect(url)
    t0 = time.perf_counter()
    receive = ws.receive
    for _ in range(n):
        message = await receive()
        if decode:
            decode_envelope(message)
    elapsed = time.perf_counter() - t0
    await ws.close()
    return elapsed


async def e2e_websockets(url: str, n: int, decode: bool) -> float:
    from websockets.asyncio.client import connect

    async with connect(url, compression=None, max_size=4 * 2**20, ping_interval=None) as ws:
        t0 = time.perf_counter()
        for _ in range(n):
            message = await ws.recv()
            if decode:
                decode_envelope(message)
        return time.perf_counter() - t0


async def e2e_aiohttp(url: str, n: int, decode: bool) -> float:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.ws_connect(url, autoping=True) as ws:
        t0 = time.perf_counter()
        for _ in range(n):
            msg = await ws.receive()
            if decode:
                decode_envelope(msg.data)
            else:
                json.loads(msg.data)  # botpy's path: aiohttp + json.loads
        return time.perf_counter() - t0


def run_e2e(n: int, repeat: int) -> list[tuple[str, float]]:
    import anyio

    stream = b"".join(encode_frame(0x1, dispatch_json(i + 1), mask=False) for i in range(n))
    server = BlastServer(stream)
    cases: list[tuple[str, Callable[[str, int, bool], Any], bool, str]] = [
        ("e2e own transport (asyncio)", e2e_own, False, "asyncio"),
        ("e2e own transport (asyncio) + msgspec", e2e_own, True, "asyncio"),
        ("e2e own transport (trio) + msgspec", e2e_own, True, "trio"),
        ("e2e websockets asyncio client + msgspec", e2e_websockets, True, "asyncio"),
        ("e2e aiohttp client + json.loads (botpy)", e2e_aiohttp, False, "asyncio"),
        ("e2e aiohttp client + msgspec", e2e_aiohttp, True, "asyncio"),
    ]
    rows = []
    try:
        for name, fn, decode, backend in cases:
            try:
                best = min(anyio.run(fn, server.url, n, decode, backend=backend) for _ in range(repeat))
            except Exception as exc:
                print(f"  ({name} unavailable: {type(exc).__name__}: {exc})")
                continue
            rows.append((name, best / n * 1e6))
    finally:
        server.close()
    return rows


def measure(runner: Runner, chunks: list[bytes], n: int, decode: bool, repeat: int) -> float | None:
    try:
        got = runner(chunks, decode)  # warm-up and sanity check
    except Exception as exc:  # a missing optional library or an API change: report and skip
        print(f"  ({runner.__name__} unavailable: {type(exc).__name__}: {exc})")
        return None
    if got != n:
        raise AssertionError(f"{runner.__name__} parsed {got} frames, expected {n}")
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        runner(chunks, decode)
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=20000, help="frames per run")
    parser.add_argument("-r", "--repeat", type=int, default=5, help="runs per case (best is kept)")
    parser.add_argument("--e2e", action="store_true", help="also measure whole clients over loopback")
    args = parser.parse_args()
    chunks, frame_size = build_chunks(args.n)

    payloads = [dispatch_json(i + 1).decode() for i in range(args.n)]
    best = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        for p in payloads:
            decode_envelope(p)
        best = min(best, time.perf_counter() - t0)
    msgspec_us = best / args.n * 1e6

    runners: list[tuple[str, Runner]] = [
        ("wsframes (own reader)", run_wsframes),
        ("websockets ClientProtocol", run_websockets),
        ("wsproto", run_wsproto),
        ("aiohttp WebSocketReader", run_aiohttp),
    ]
    extra: list[tuple[str, Runner]] = [
        ("wsframes + msgspec envelope + event Struct", run_wsframes_full),
        ("aiohttp + json.loads (botpy's path)", run_aiohttp_json),
    ]
    print(f"{args.n} text frames of {frame_size} bytes, fed in {CHUNK}-byte chunks, best of {args.repeat}\n")
    rows: list[tuple[str, float]] = [("msgspec decode_envelope only", msgspec_us)]
    for name, runner in runners:
        for decode in (False, True):
            us = measure(runner, chunks, args.n, decode, args.repeat)
            if us is not None:
                rows.append((name + (" + msgspec" if decode else ""), us))
    for name, runner in extra:
        us = measure(runner, chunks, args.n, False, args.repeat)
        if us is not None:
            rows.append((name, us))
    if args.e2e:
        rows.extend(run_e2e(args.n, args.repeat))
    reference = next(us for name, us in rows if name == "wsframes (own reader) + msgspec")
    print(f"{'case':<44} {'µs/frame':>9} {'frames/s':>12} {'× own+msgspec':>14}")
    for name, us in rows:
        print(f"{name:<44} {us:>9.2f} {1e6 / us:>12,.0f} {us / reference:>14.2f}")


if __name__ == "__main__":
    main()
