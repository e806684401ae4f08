"""The emulated WebSocket gateway (protocol.md §2): sessions, routing, faults, recording."""

from framework.testing.emulator.gateway.hub import GatewayHub, shard_for
from framework.testing.emulator.gateway.records import (
    ConnectionRecord,
    GatewayRecorder,
    IdentifyRecord,
    SessionRecord,
)
from framework.testing.emulator.gateway.routes import register_gateway_routes
from framework.testing.emulator.gateway.settings import GatewaySettings
from framework.testing.emulator.gateway.transport import PeerClosed, ServerWebSocket

__all__ = [
    "ConnectionRecord",
    "GatewayHub",
    "GatewayRecorder",
    "GatewaySettings",
    "IdentifyRecord",
    "PeerClosed",
    "ServerWebSocket",
    "SessionRecord",
    "register_gateway_routes",
    "shard_for",
]
