"""What to do after the gateway closes a connection: the decision table (protocol.md §2.4).

:func:`decide_close` maps a WebSocket close code to a :class:`CloseDecision`: resume the session,
identify afresh, or stop because reconnecting cannot succeed. Choices the platform documentation does
not settle are marked *assumed* below and in ``docs/gateway.md``.

"resume" means: resume when a session exists, else identify.

=============  ==========  =======  ==========================================================
code           action      backoff  why
=============  ==========  =======  ==========================================================
1000-1015      resume      yes      network-level close / drop (1006); session is still valid
4000           identify    yes      unknown error (botgo); official summary: "others: identify"
4001, 4002     identify    yes      *assumed*: docs say neither resume nor identify, the official
                                    summary says identify; we identify, but stop after
                                    ``MAX_PROTOCOL_ERRORS`` in a row without READY
4003, 4005     identify    yes      not authenticated / already authenticated (botgo)
4004           resume      yes      authentication failed: the token is invalidated and fetched
                                    again; the session (if any) is kept, since only the token was
                                    refused; a second 4004 in a row (no READY between) stops
4006, 4007     identify    no       session / seq invalid: a fresh session is required
4008           resume      yes      rate limited: reconnect and obey rate limits
4009           resume      no       session timed out (sent after op 7): resume at once
4010-4014      stop                 invalid shard / sharding required / version / intents
4900-4913      identify    yes      internal error (4902: a resume was rejected)
4914, 4915     stop                 bot delisted / banned
other 4xxx     identify    yes      *assumed*: unknown code, start a clean session
other          resume      yes      anything else (e.g. 1xxx from a proxy)
=============  ==========  =======  ==========================================================
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from framework.models.constants import CloseCode

__all__ = ["MAX_PROTOCOL_ERRORS", "CloseAction", "CloseDecision", "decide_close"]

#: Consecutive 4001/4002 closes (without a READY in between) after which the client gives up.
MAX_PROTOCOL_ERRORS = 3


class CloseAction(enum.Enum):
    """The three possible outcomes of a close."""

    RESUME = "resume"
    IDENTIFY = "identify"
    STOP = "stop"


@dataclass(frozen=True, slots=True)
class CloseDecision:
    """The decision for one close code."""

    action: CloseAction
    backoff: bool
    """Wait an exponentially growing, jittered delay before reconnecting."""
    reason: str
    refresh_token: bool = False
    """Invalidate the cached access token before identifying again (4004)."""


_FATAL: dict[int, str] = {
    CloseCode.INVALID_SHARD: "invalid shard: check shard_id/shard_count",
    CloseCode.SHARDING_REQUIRED: "too many guilds for one connection: use more shards",
    CloseCode.INVALID_VERSION: "invalid gateway version",
    CloseCode.INVALID_INTENT: "invalid intents",
    CloseCode.DISALLOWED_INTENT: "intents not permitted for this bot: request them on the open platform",
    CloseCode.BOT_DELISTED: "bot delisted (下架): only the sandbox environment may connect",
    CloseCode.BOT_BANNED: "bot banned by the platform",
}

_TABLE: dict[int, CloseDecision] = {
    CloseCode.UNKNOWN_ERROR: CloseDecision(CloseAction.IDENTIFY, True, "unknown gateway error"),
    CloseCode.INVALID_OPCODE: CloseDecision(CloseAction.IDENTIFY, True, "gateway rejected an opcode"),
    CloseCode.INVALID_PAYLOAD: CloseDecision(CloseAction.IDENTIFY, True, "gateway rejected a payload"),
    CloseCode.NOT_AUTHENTICATED: CloseDecision(CloseAction.IDENTIFY, True, "not authenticated"),
    CloseCode.AUTHENTICATION_FAILED: CloseDecision(
        CloseAction.RESUME, True, "authentication failed", refresh_token=True
    ),
    CloseCode.ALREADY_AUTHENTICATED: CloseDecision(CloseAction.IDENTIFY, True, "already authenticated"),
    CloseCode.INVALID_SESSION: CloseDecision(CloseAction.IDENTIFY, False, "invalid session id"),
    CloseCode.INVALID_SEQ: CloseDecision(CloseAction.IDENTIFY, False, "invalid seq"),
    CloseCode.RATE_LIMITED: CloseDecision(CloseAction.RESUME, True, "sending too fast"),
    CloseCode.SESSION_TIMED_OUT: CloseDecision(CloseAction.RESUME, False, "session timed out"),
    **{code: CloseDecision(CloseAction.STOP, False, text) for code, text in _FATAL.items()},
}


def decide_close(code: int) -> CloseDecision:
    """Return what to do after the connection closed with ``code`` (1006 when it dropped)."""
    decision = _TABLE.get(code)
    if decision is not None:
        return decision
    if CloseCode.INTERNAL_ERROR_FIRST <= code <= CloseCode.INTERNAL_ERROR_LAST:
        reason = "resume rejected" if code == CloseCode.RESET_BY_RESUME else "gateway internal error"
        return CloseDecision(CloseAction.IDENTIFY, True, reason)
    if 4000 <= code <= 4999:
        return CloseDecision(CloseAction.IDENTIFY, True, f"unknown close code {code}")
    if code == 1006:
        return CloseDecision(CloseAction.RESUME, True, "connection dropped")
    return CloseDecision(CloseAction.RESUME, True, f"connection closed ({code})")
