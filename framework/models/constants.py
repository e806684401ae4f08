"""Protocol constants of the QQ open platform: opcodes, close codes, default URLs.

Facts come from the platform documentation as collected in ``shared/protocol.md`` (§1, §2, §4).
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "API_BASE",
    "API_BASE_2026",
    "SANDBOX_API_BASE",
    "TOKEN_URL",
    "TOKEN_URL_2026",
    "CloseCode",
    "Opcode",
]

#: Production REST base used by the official SDKs.
API_BASE = "https://api.sgroup.qq.com"
#: Production REST base named by the 2026 documentation; both answer.
API_BASE_2026 = "https://api.bot.qq.com"
#: Sandbox REST base (only test guilds receive events there).
SANDBOX_API_BASE = "https://sandbox.api.sgroup.qq.com"
#: Access-token endpoint used by the official SDKs.
TOKEN_URL = "https://bots.qq.com/app/getAppAccessToken"
#: Access-token endpoint named by the 2026 documentation.
TOKEN_URL_2026 = "https://api.bot.qq.com/app/getAppAccessToken"


class Opcode(IntEnum):
    """Gateway and webhook payload opcodes (protocol.md §2.2)."""

    DISPATCH = 0
    HEARTBEAT = 1
    IDENTIFY = 2
    RESUME = 6
    RECONNECT = 7
    INVALID_SESSION = 9
    HELLO = 10
    HEARTBEAT_ACK = 11
    HTTP_CALLBACK_ACK = 12
    CALLBACK_VALIDATION = 13


class CloseCode(IntEnum):
    """WebSocket close codes sent by the gateway (protocol.md §2.4).

    4000, 4003, 4004 and 4005 come from botgo's error table, not the platform docs.
    4900-4913 form a range of internal errors; only the two ends are named here.
    """

    UNKNOWN_ERROR = 4000
    INVALID_OPCODE = 4001
    INVALID_PAYLOAD = 4002
    NOT_AUTHENTICATED = 4003
    AUTHENTICATION_FAILED = 4004
    ALREADY_AUTHENTICATED = 4005
    INVALID_SESSION = 4006
    INVALID_SEQ = 4007
    RATE_LIMITED = 4008
    SESSION_TIMED_OUT = 4009
    INVALID_SHARD = 4010
    SHARDING_REQUIRED = 4011
    INVALID_VERSION = 4012
    INVALID_INTENT = 4013
    DISALLOWED_INTENT = 4014
    INTERNAL_ERROR_FIRST = 4900
    RESET_BY_RESUME = 4902
    INTERNAL_ERROR_LAST = 4913
    BOT_DELISTED = 4914
    BOT_BANNED = 4915
