"""A minimal scripted WebSocket server over anyio (runs on asyncio and trio), for transport tests.

It speaks the real protocol on a real loopback socket (handshake with ``Sec-WebSocket-Accept``,
masked client frames unmasked by the project's sans-IO reader in server mode) and lets a test send
exact bytes, including ones a well-behaved server library refuses to send.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSListener

from framework.protocol.wsframes import OP_CLOSE, Close, FrameReader, Ping, Pong, close_payload, encode_frame

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Peer:
    """The server side of one connection."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self.reader = FrameReader(max_size=None, client=False)
        self.request_head = b""
        self.headers: dict[str, str] = {}

    async def read_request(self) -> None:
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            buffer += await self.stream.receive()
        head, rest = buffer.split(b"\r\n\r\n", 1)
        self.request_head = head
        for line in head.decode().split("\r\n")[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.reader.feed(rest)

    def accept_value(self) -> str:
        digest = hashlib.sha1((self.headers["sec-websocket-key"] + GUID).encode()).digest()
        return base64.b64encode(digest).decode()

    async def accept(self, extra: bytes = b"", *, accept_value: str | None = None) -> None:
        """Answer the upgrade with 101, optionally followed in the same write by ``extra`` bytes."""
        await self.read_request()
        value = self.accept_value() if accept_value is None else accept_value
        response = (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {value}\r\n\r\n"
        ).encode()
        await self.stream.send(response + extra)

    async def send(self, opcode: int, payload: bytes, *, fin: bool = True) -> None:
        await self.stream.send(encode_frame(opcode, payload, mask=False, fin=fin))

    async def receive(self) -> str | bytes | Ping | Pong | Close | None:
        """The next event from the client, or ``None`` at end of stream."""
        while (event := self.reader.next_event()) is None:
            try:
                data = await self.stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                return None
            self.reader.feed(data)
        return event

    async def close(self, code: int, reason: str = "") -> Close | None:
        """Send a close frame and return the client's echo (``None`` if the client dropped instead)."""
        await self.send(OP_CLOSE, close_payload(code, reason))
        while True:
            event = await self.receive()
            if event is None or isinstance(event, Close):
                await self.stream.aclose()
                return event


Handler = Callable[[Peer], Awaitable[None]]


@asynccontextmanager
async def serve(handler: Handler, *, tls: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    """Serve ``handler`` on 127.0.0.1 with an ephemeral port; yield the ``ws://`` (or ``wss://``) URL.

    On exit, waits (at most 5 s) for running handlers to finish, so their assertions always run;
    handlers should therefore end when the client goes away.
    """
    tcp = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = tcp.extra(SocketAttribute.local_port)
    listener: anyio.abc.Listener[anyio.abc.ByteStream] = (
        tcp if tls is None else TLSListener(tcp, tls, standard_compatible=False)
    )

    active = 0
    idle = anyio.Event()
    idle.set()

    async def handle(stream: anyio.abc.ByteStream) -> None:
        nonlocal active, idle
        if active == 0:
            idle = anyio.Event()
        active += 1
        try:
            async with stream:
                await handler(Peer(stream))
        finally:
            active -= 1
            if active == 0:
                idle.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield f"{'wss' if tls else 'ws'}://127.0.0.1:{port}/websocket"
        with anyio.fail_after(5):
            await anyio.wait_all_tasks_blocked()
            await idle.wait()
        tg.cancel_scope.cancel()
    await listener.aclose()


def make_tls_contexts(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A throwaway CA and a certificate for 127.0.0.1/localhost: (server context, client context)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "transport test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_file = directory / "cert.pem"
    key_file = directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cadata=ca_cert.public_bytes(serialization.Encoding.PEM).decode())
    return server, client
