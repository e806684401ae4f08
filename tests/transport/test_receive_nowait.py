"""``WebSocket.receive_nowait()`` and ``receive_all_nowait()``: the buffered messages of one socket read without a
coroutine each (``receive_all_nowait``, all of them in one call, is the shard reader's fast path). A control frame
or a protocol error it meets is left for ``receive()``, which handles it exactly as it would have; against a real
loopback server (``ws_peer``)."""

from __future__ import annotations

import pytest
from ws_peer import Peer, serve

from framework.models import WebSocketClosed
from framework.protocol.wsframes import OP_BINARY, OP_CONT, OP_PING, OP_TEXT, Close, Pong, encode_frame
from framework.runtime.gateway.websocket import WebSocket, connect

pytestmark = pytest.mark.anyio


def text(payload: bytes) -> bytes:
    return encode_frame(OP_TEXT, payload, mask=False)


def drain_nowait(ws: WebSocket) -> list[str | bytes]:
    """Every message receive_nowait() hands out before it says None."""
    out: list[str | bytes] = []
    while (message := ws.receive_nowait()) is not None:
        out.append(message)
    return out


async def test_messages_of_one_read_come_without_io_and_a_ping_is_left_for_receive() -> None:
    answers: list[object] = []

    async def handler(peer: Peer) -> None:
        await peer.accept()
        # one write: two messages, a ping, one more message
        await peer.stream.send(text(b"one") + text(b"two") + encode_frame(OP_PING, b"hb", mask=False) + text(b"three"))
        answers.append(await peer.receive())  # the pong, sent by receive()
        await peer.close(1000)

    async with serve(handler) as url:
        ws = await connect(url)
        assert await ws.receive() == "one"
        # "two" was in the same read; the ping stops the fast path and is not lost
        assert drain_nowait(ws) == ["two"]
        assert ws.receive_nowait() is None  # the ping is stashed: still None until receive() ran
        assert await ws.receive() == "three"  # answers the ping on the way
        with pytest.raises(WebSocketClosed) as info:
            await ws.receive()
        assert info.value.code == 1000
        assert ws.receive_nowait() is None  # closed
    assert isinstance(answers[0], Pong) and answers[0].payload == b"hb"


async def test_a_protocol_error_met_by_receive_nowait_fails_the_connection_in_receive() -> None:
    received: list[object] = []

    async def handler(peer: Peer) -> None:
        await peer.accept()
        await peer.stream.send(text(b"fine") + encode_frame(OP_CONT, b"orphan", mask=False))
        received.append(await peer.receive())

    async with serve(handler) as url:
        ws = await connect(url)
        assert await ws.receive() == "fine"
        assert ws.receive_nowait() is None  # the orphan continuation: stashed, not raised here
        assert not ws.closed
        with pytest.raises(WebSocketClosed) as info:
            await ws.receive()
        assert info.value.code == 1002
    assert isinstance(received[0], Close) and received[0].code == 1002


async def test_receive_all_nowait_hands_out_a_read_in_one_call_and_leaves_a_ping_or_an_error_for_receive() -> None:
    answers: list[object] = []

    async def handler(peer: Peer) -> None:
        await peer.accept()
        # one write: three messages (one binary), a ping, one more; then a protocol error after two more
        await peer.stream.send(
            text(b"one")
            + text(b"two")
            + encode_frame(OP_BINARY, b"\x00bin", mask=False)
            + encode_frame(OP_PING, b"hb", mask=False)
            + text(b"four")
        )
        answers.append(await peer.receive())  # the pong, sent by receive()
        await peer.stream.send(text(b"five") + text(b"six") + encode_frame(OP_CONT, b"orphan", mask=False))
        answers.append(await peer.receive())

    async with serve(handler) as url:
        ws = await connect(url)
        assert await ws.receive() == "one"
        assert ws.receive_all_nowait() == ["two", b"\x00bin"]  # stops at the ping, which is not lost
        assert ws.receive_all_nowait() == []  # the ping is stashed: nothing until receive() ran
        assert await ws.receive() == "four"  # answers the ping on the way
        assert await ws.receive() == "five"
        assert ws.receive_all_nowait() == ["six"]  # the orphan continuation: stashed, not raised here
        assert not ws.closed
        with pytest.raises(WebSocketClosed) as info:
            await ws.receive()
        assert info.value.code == 1002
        assert ws.receive_all_nowait() == []  # closed
    assert isinstance(answers[0], Pong) and answers[0].payload == b"hb"
    assert isinstance(answers[1], Close) and answers[1].code == 1002
