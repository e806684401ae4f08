"""The seams: the interfaces the layers meet at, in one place.

Each is a ``Protocol`` or a type alias; anything with the shape works, which is how the emulator's
in-memory pipe stands in for a socket and a recording fake for the OpenAPI client.

- :class:`Clock`: ``framework.clock``'s ``SystemClock``, ``VirtualClock``, ``ScaledClock``; everything that
  waits reads one.
- :class:`WebSocketConnection` (raising :class:`WebSocketClosed`): ``runtime.gateway.websocket.WebSocket``
  and the emulator's in-memory pipe; the gateway shard talks to it.
- :data:`Connector`: ``runtime.gateway.websocket.connect``, ``Emulator.connect_websocket``; opens the above.
- :data:`EventSink`: where transports (gateway shards, the webhook app, later an event bus) hand
  each ``InboundEvent`` to the app (``Bot.process``).
- :class:`AuthProvider`: ``runtime.credentials.TokenManager`` and ``LegacyToken``; the OpenAPI client's
  ``Authorization`` header.
- :class:`ApiClient`: ``runtime.openapi.OpenAPI``, ``testing.recording.RecordingApi``; what the app layer
  sends replies through.
- :class:`SessionManager` (its status: :class:`ShardSnapshot`): ``runtime.gateway.sessions.LocalSessionManager``;
  runs the shards for the runner and launch scripts.

This module imports only :mod:`framework.models`. The interfaces the models layer itself declares
(``WebSocketConnection``, ``WebSocketClosed``, ``Connector`` in ``models.transport``; ``EventSink`` in
``models.envelope``) are defined there, below everything, and re-exported here; the others are defined
here and re-exported from their old homes (``framework.clock.Clock``, ``framework.app.api.ApiClient``,
``framework.runtime.credentials.AuthProvider``), so both names are the same object.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from framework.models.api import MediaInfo, MessageToCreate
from framework.models.envelope import EventSink
from framework.models.results import ReplyResult
from framework.models.transport import Connector, WebSocketClosed, WebSocketConnection

__all__ = [
    "ApiClient",
    "AuthProvider",
    "Clock",
    "Connector",
    "EventSink",
    "SessionManager",
    "ShardSnapshot",
    "WebSocketClosed",
    "WebSocketConnection",
]


@runtime_checkable
class Clock(Protocol):
    """A source of time and a way to wait on it."""

    def monotonic(self) -> float:
        """Seconds on a monotonic scale, for intervals and deadlines."""
        ...

    def time(self) -> float:
        """Unix time in seconds, for wall-clock stamps (webhook timestamps, token ``expires_in``)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


@runtime_checkable
class AuthProvider(Protocol):
    """What the OpenAPI client needs from an authenticator."""

    app_id: str

    async def auth_header(self) -> str:
        """The ``Authorization`` header value."""
        ...

    def invalidate(self, rejected: str | None = None) -> None:
        """Forget the current token (the server rejected it).

        ``rejected`` is the token (or ``Authorization`` value) the rejected request carried: when the
        provider already holds a newer one, nothing is forgotten, so many concurrent 401s cause one refresh.
        """
        ...


@runtime_checkable
class ApiClient(Protocol):
    """Send and upload methods used by replies; handlers may receive the full client by injection.

    A send returns a :data:`~framework.models.results.ReplyResult`: the sent ``Message`` (guild),
    a ``SendResult`` (group, C2C), ``PendingAudit`` or ``Delivered``; implementations may return a narrower type.
    """

    async def post_channel_message(self, channel_id: str, message: MessageToCreate, /) -> ReplyResult: ...

    async def post_dms_message(self, guild_id: str, message: MessageToCreate, /) -> ReplyResult: ...

    async def post_group_message(self, group_openid: str, message: MessageToCreate, /) -> ReplyResult: ...

    async def post_c2c_message(self, openid: str, message: MessageToCreate, /) -> ReplyResult: ...

    async def upload_group_file(
        self, group_openid: str, /, *, file_type: int, url: str | None = None, file_data: bytes | None = None
    ) -> MediaInfo: ...

    async def upload_c2c_file(
        self, openid: str, /, *, file_type: int, url: str | None = None, file_data: bytes | None = None
    ) -> MediaInfo: ...

    async def put_interaction(self, interaction_id: str, /, code: int = 0) -> None: ...


class ShardSnapshot(Protocol):
    """What :meth:`SessionManager.status` reports per shard (``runtime.gateway.shard.ShardStatus``)."""

    @property
    def shard_id(self) -> int: ...

    @property
    def shard_count(self) -> int: ...

    @property
    def state(self) -> str:
        """``"ready"``, ``"connecting"``, ``"backoff"``, ``"idle"``, ..."""
        ...

    @property
    def session_id(self) -> str | None: ...

    @property
    def last_seq(self) -> int | None: ...

    @property
    def latency(self) -> float | None:
        """Heartbeat round-trip time in seconds (None before the first ACK)."""
        ...

    @property
    def reconnects(self) -> int: ...

    @property
    def last_close_code(self) -> int | None: ...

    @property
    def last_reason(self) -> str | None: ...


class SessionManager(Protocol):
    """Runs a set of gateway shards and feeds their events to one sink.

    ``framework.runtime.gateway.sessions.SessionManager`` is the abstract base class of the
    implementations (``LocalSessionManager``; later a distributed one); it declares this interface.
    """

    async def start(self) -> None:
        """Start the shards in the background; returns once they are launched (not necessarily READY)."""
        ...

    async def stop(self) -> None:
        """Close every shard, drain in-flight events within the drain deadline and return."""
        ...

    async def run(self) -> None:
        """Run the shards until :meth:`stop` is called (or a shard fails fatally, which is raised)."""
        ...

    def status(self) -> Sequence[ShardSnapshot]:
        """One snapshot per shard: state, session id, last seq, latency, reconnect count."""
        ...
