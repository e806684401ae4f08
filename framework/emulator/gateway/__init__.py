"""The emulated WebSocket gateway (protocol.md §2): sessions, routing, faults, recording."""

from framework.emulator.gateway.hub import GatewayHub, shard_for
from framework.emulator.gateway.records import (
    ConnectionRecord,
    GatewayRecorder,
    IdentifyRecord,
    SessionRecord,
)
from framework.emulator.gateway.routes import register_gateway_routes
from framework.emulator.gateway.settings import GatewaySettings
from framework.emulator.gateway.transport import PeerClosed, ServerWebSocket

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
