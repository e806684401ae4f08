"""Sans-IO tests of the WebSocket frame codec (framework.protocol.wsframes), plain bytes in and out."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.protocol.wsframes import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Close,
    FrameProtocolError,
    FrameReader,
    Ping,
    Pong,
    apply_mask,
    close_payload,
    encode_frame,
)

Event = str | bytes | Ping | Pong | Close


def frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    return encode_frame(opcode, payload, mask=False, fin=fin)


def read_all(reader: FrameReader, data: bytes) -> list[Event]:
    reader.feed(data)
    events: list[Event] = []
    while (event := reader.next_event()) is not None:
        events.append(event)
    return events


def events_of(event: Event) -> tuple[str, object]:
    """Comparable form (Ping/Pong have no __eq__ on purpose: they are hot-path objects)."""
    if isinstance(event, Ping | Pong):
        return (type(event).__name__, event.payload)
    if isinstance(event, Close):
        return ("Close", (event.code, event.reason))
    return (type(event).__name__, event)


def test_single_text_frame() -> None:
    assert read_all(FrameReader(), frame(OP_TEXT, "héllo ✓".encode())) == ["héllo ✓"]


def test_binary_frame_is_bytes() -> None:
    assert read_all(FrameReader(), frame(OP_BINARY, b"\x00\xff")) == [b"\x00\xff"]


def test_empty_messages() -> None:
    assert read_all(FrameReader(), frame(OP_TEXT, b"") + frame(OP_BINARY, b"")) == ["", b""]


@pytest.mark.parametrize("size", [125, 126, 65535, 65536, 200_000])
def test_length_encodings(size: int) -> None:
    data = frame(OP_BINARY, b"x" * size)
    expected_header = 2 if size < 126 else 4 if size < 65536 else 10
    assert len(data) == size + expected_header
    assert read_all(FrameReader(max_size=None), data) == [b"x" * size]


def test_64bit_length_with_msb_set_is_rejected() -> None:
    data = struct.pack("!BBQ", 0x82, 127, 1 << 63)
    with pytest.raises(FrameProtocolError) as info:
        read_all(FrameReader(max_size=None), data)
    assert info.value.code == 1002


def test_fragmented_message_with_interleaved_control_frames() -> None:
    data = (
        frame(OP_TEXT, b"he", fin=False)
        + frame(OP_PING, b"p1")
        + frame(OP_CONT, "llo ✓".encode()[:5], fin=False)
        + frame(OP_PONG, b"p2")
        + frame(OP_CONT, "llo ✓".encode()[5:])
        + frame(OP_BINARY, b"ab", fin=False)
        + frame(OP_CONT, b"cd")
    )
    events = [events_of(e) for e in read_all(FrameReader(), data)]
    assert events == [("Ping", b"p1"), ("Pong", b"p2"), ("str", "hello ✓"), ("bytes", b"abcd")]


def test_utf8_split_across_fragments_is_valid() -> None:
    encoded = "✓".encode()
    data = frame(OP_TEXT, encoded[:1], fin=False) + frame(OP_CONT, encoded[1:])
    assert read_all(FrameReader(), data) == ["✓"]


def test_close_frame_parsing() -> None:
    events = read_all(FrameReader(), frame(OP_CLOSE, close_payload(4009, "session timed out")))
    assert events == [Close(4009, "session timed out")]
    assert read_all(FrameReader(), frame(OP_CLOSE, b"")) == [Close(1005, "")]


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"\x03", 1002),  # 1-byte body
        (struct.pack("!H", 999), 1002),
        (struct.pack("!H", 1005), 1002),  # reserved, never on the wire
        (struct.pack("!H", 1006), 1002),
        (struct.pack("!H", 2000), 1002),
        (struct.pack("!H", 5000), 1002),
        (struct.pack("!H", 1000) + b"\xff", 1007),  # reason not UTF-8
    ],
)
def test_invalid_close_frames(payload: bytes, code: int) -> None:
    with pytest.raises(FrameProtocolError) as info:
        read_all(FrameReader(), frame(OP_CLOSE, payload))
    assert info.value.code == code


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (encode_frame(OP_TEXT, b"hi", mask=True), 1002),  # masked frame from the server
        (bytes([0xC1, 0x00]), 1002),  # RSV1 without an extension
        (bytes([0x83, 0x00]), 1002),  # reserved data opcode
        (bytes([0x8B, 0x00]), 1002),  # reserved control opcode
        (frame(OP_PING, b"x", fin=False), 1002),  # fragmented control frame
        (frame(OP_PING, b"x" * 126), 1002),  # control frame too long
        (frame(OP_CONT, b"x"), 1002),  # continuation without a start
        (frame(OP_TEXT, b"a", fin=False) + frame(OP_TEXT, b"b"), 1002),  # new message mid-fragment
        (frame(OP_TEXT, b"\xff\xfe"), 1007),
        (frame(OP_TEXT, b"a", fin=False) + frame(OP_CONT, b"\xc3"), 1007),  # truncated sequence
    ],
)
def test_protocol_violations(data: bytes, code: int) -> None:
    with pytest.raises(FrameProtocolError) as info:
        read_all(FrameReader(), data)
    assert info.value.code == code


def test_max_size_is_checked_from_the_header_before_the_payload_arrives() -> None:
    reader = FrameReader(max_size=100)
    with pytest.raises(FrameProtocolError) as info:
        read_all(reader, frame(OP_BINARY, b"x" * 101)[:4])  # header only
    assert info.value.code == 1009


@pytest.mark.parametrize("max_size", [100, 1000, 65534])
def test_max_size_applies_to_unfragmented_text(max_size: int) -> None:
    reader = FrameReader(max_size=max_size)
    assert read_all(reader, frame(OP_TEXT, b"x" * max_size)) == ["x" * max_size]
    with pytest.raises(FrameProtocolError) as info:
        read_all(reader, frame(OP_TEXT, b"x" * (max_size + 1)))
    assert info.value.code == 1009


def test_max_size_applies_to_the_reassembled_message() -> None:
    reader = FrameReader(max_size=100)
    assert read_all(reader, frame(OP_BINARY, b"x" * 100)) == [b"x" * 100]
    data = frame(OP_TEXT, b"x" * 60, fin=False) + frame(OP_CONT, b"x" * 41)
    with pytest.raises(FrameProtocolError) as info:
        read_all(reader, data)
    assert info.value.code == 1009


def test_server_side_reader_unmasks_and_requires_masks() -> None:
    reader = FrameReader(client=False)
    assert read_all(reader, encode_frame(OP_TEXT, "masked ✓".encode(), mask=True)) == ["masked ✓"]
    with pytest.raises(FrameProtocolError) as info:
        read_all(FrameReader(client=False), frame(OP_TEXT, b"plain"))
    assert info.value.code == 1002


def test_encode_frame_masks_client_frames() -> None:
    data = encode_frame(OP_TEXT, b"hello", mask=True)
    assert data[0] == 0x81 and data[1] == 0x80 | 5
    key = data[2:6]
    assert apply_mask(data[6:], key) == b"hello"


def test_close_payload() -> None:
    assert close_payload(1000, "bye") == b"\x03\xe8bye"
    assert close_payload(1005) == b""
    with pytest.raises(ValueError):
        close_payload(1000, "x" * 124)


def test_large_frame_fed_in_small_chunks_is_joined_once() -> None:
    data = frame(OP_BINARY, bytes(range(256)) * 4096)  # 1 MiB
    reader = FrameReader(max_size=None)
    events: list[Event] = []
    for i in range(0, len(data), 1000):
        reader.feed(data[i : i + 1000])
        while (event := reader.next_event()) is not None:
            events.append(event)
    assert events == [bytes(range(256)) * 4096]
    assert reader.buffered == 0


def test_feeding_again_before_draining_loses_nothing() -> None:
    reader = FrameReader(max_size=None)
    big = frame(OP_BINARY, b"b" * 70_000)
    small = frame(OP_TEXT, b"tail")
    reader.feed(big[:5])
    assert reader.next_event() is None  # now waiting for 70 kB
    reader.feed(big[5:] + small[:3])
    assert reader.next_event() == b"b" * 70_000
    reader.feed(small[3:])  # fed while not drained to None
    assert reader.next_event() == "tail"
    assert reader.next_event() is None


# -- property tests -------------------------------------------------------------------------

_messages = st.lists(
    st.one_of(
        st.text(max_size=300).map(lambda s: (OP_TEXT, s.encode())),
        st.binary(max_size=70_000).map(lambda b: (OP_BINARY, b)),
        st.binary(max_size=125).map(lambda b: (OP_PING, b)),
        st.binary(max_size=125).map(lambda b: (OP_PONG, b)),
    ),
    max_size=12,
)


def _encode_stream(
    messages: list[tuple[int, bytes]], fragment_sizes: list[int]
) -> tuple[bytes, list[tuple[str, object]]]:
    """Encode messages, fragmenting data messages by ``fragment_sizes``; return bytes and expected events."""
    out: list[bytes] = []
    expected: list[tuple[str, object]] = []
    sizes = iter(fragment_sizes)
    for opcode, payload in messages:
        if opcode in (OP_PING, OP_PONG):
            out.append(frame(opcode, payload))
            expected.append(("Ping" if opcode == OP_PING else "Pong", payload))
            continue
        size = next(sizes, 0)
        if size and len(payload) > size:
            chunks = [payload[i : i + size] for i in range(0, len(payload), size)]
            out.append(frame(opcode, chunks[0], fin=False))
            for chunk in chunks[1:-1]:
                out.append(frame(OP_CONT, chunk, fin=False))
                out.append(frame(OP_PING, b"interleaved"))
                expected.append(("Ping", b"interleaved"))
            out.append(frame(OP_CONT, chunks[-1]))
        else:
            out.append(frame(opcode, payload))
        expected.append(("str", payload.decode()) if opcode == OP_TEXT else ("bytes", payload))
    return b"".join(out), expected


@settings(max_examples=150, deadline=None)
@given(
    messages=_messages,
    fragment_sizes=st.lists(st.integers(0, 500), max_size=12),
    cuts=st.lists(st.integers(0, 200_000), max_size=20),
)
def test_random_splits_give_the_same_messages(
    messages: list[tuple[int, bytes]], fragment_sizes: list[int], cuts: list[int]
) -> None:
    data, expected = _encode_stream(messages, fragment_sizes)
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    reader = FrameReader(max_size=None)
    got: list[tuple[str, object]] = []
    for piece in pieces:
        reader.feed(piece)
        while (event := reader.next_event()) is not None:
            got.append(events_of(event))
    assert got == expected
    assert reader.buffered == 0


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=2000), client=st.booleans(), cuts=st.lists(st.integers(0, 2000), max_size=5))
def test_random_bytes_raise_only_the_protocol_error(data: bytes, client: bool, cuts: list[int]) -> None:
    reader = FrameReader(max_size=1000, client=client)
    points = sorted({c % (len(data) + 1) for c in cuts})
    try:
        for a, b in zip([0, *points], [*points, len(data)], strict=True):
            reader.feed(data[a:b])
            while (event := reader.next_event()) is not None:
                assert isinstance(event, str | bytes | Ping | Pong | Close)
                if isinstance(event, Close):
                    return
    except FrameProtocolError as exc:
        assert exc.code in (1002, 1007, 1009)
