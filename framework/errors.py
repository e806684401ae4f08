"""The root of the framework's exceptions, and the transport family the connection adapters raise.

Every exception class the framework defines derives from :class:`QQBotError`, so ``except QQBotError``
catches anything the framework raised on purpose (and nothing else). Most also keep the built-in base
callers caught before the root existed: ``ConfigError`` is a ``ValueError``, ``ConnectError`` an
``OSError``, ``ConnectTimeout`` a ``TimeoutError``. The emulator (``framework.emulator``) is an
independent oracle and keeps its own exceptions.

Transport failures are mapped once, where the framework meets the network: the WebSocket adapter
(``framework.runtime.gateway.websocket``) turns anyio, socket and TLS errors into
:class:`~framework.models.transport.WebSocketClosed` (an open connection that closed or dropped) or
:class:`ConnectError` (a connection that could not be opened); the OpenAPI client turns httpx's into
``NetworkError``. The code above them catches :class:`TransportError` and never a library's exceptions.

This module imports nothing from the framework: every layer may import it (docs/errors.md has the tree).
"""

from __future__ import annotations

__all__ = ["ConnectError", "ConnectTimeout", "LockLost", "LockTimeout", "QQBotError", "TransportError"]


class QQBotError(Exception):
    """Base of every exception the framework defines."""


class TransportError(QQBotError):
    """A network connection could not be opened, or an open one failed (closed, dropped, timed out)."""


class ConnectError(TransportError, OSError):
    """A connection could not be opened: name resolution, refused, TLS, or the protocol's opening handshake.

    The message names the address and the cause; ``__cause__`` holds the library's original exception.
    """


class ConnectTimeout(ConnectError, TimeoutError):
    """Opening a connection took longer than its timeout."""


class LockTimeout(QQBotError, TimeoutError):
    """``bot.lock(name, wait=...)`` could not take the lock within ``wait`` seconds."""


class LockLost(QQBotError, RuntimeError):
    """A lock was lost while its block ran (another holder took it, or Redis was unreachable too long);
    the block was cancelled at that moment."""
