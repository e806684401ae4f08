"""Gateway knobs that are not part of :class:`EmulatorConfig` (timeouts, limits, fault policies)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from framework.clock import Clock, VirtualClock
from framework.models.constants import CloseCode

__all__ = ["GatewaySettings"]


@dataclass
class GatewaySettings:
    """How the emulated gateway polices its clients.

    Timer values are seconds on the emulator's clock, except ``close_timeout`` (real seconds).
    """

    heartbeat_timeout_factor: float | Literal["auto"] | None = "auto"
    """Close a connection that sent no heartbeat for ``factor × heartbeat_interval`` (None = never).
    The close code is 4009 (UNCONFIRMED: the platform's behaviour is not documented). ``"auto"`` means
    1.5, except with a :class:`~framework.clock.VirtualClock`, where time jumps whenever any task sleeps,
    so a watchdog would fire at once: there it is off unless a number is given."""
    replay_buffer: int = 10_000
    """Dispatch frames kept per session for resume; older ones are forgotten (a resume from before
    them is refused with ``resume_reject_code``)."""
    client_rate_limit: tuple[int, float] | None = (120, 60.0)
    """At most N client frames per window seconds, else close 4008 (UNCONFIRMED numbers; None = off)."""
    identify_window: float = 5.0
    """``session_start_limit.max_concurrency`` identifies are allowed per this many seconds (protocol.md §2.5);
    0 turns the pacing off (benchmarks that start many shards at once)."""
    identify_refusal: Literal["close", "op9"] = "close"
    """Too many identifies in a window: close 4008 (default) or send op 9 then close."""
    disallowed_intent_response: Literal["close", "op9"] = "close"
    """Identify with an intent the app may not use: close 4014 (documented) or op 9 (observed live)."""
    resume_reject_code: int = int(CloseCode.INVALID_SESSION)
    """Close code for a resume of an unknown/expired session: 4006, or 4902 "reset by resume" (observed)."""
    close_timeout: float = 2.0
    """Real seconds to wait for the client's close frame before closing the TCP connection."""
    gateway_version: int = 1
    """``d.version`` of READY."""

    def heartbeat_timeout(self, interval_ms: int, clock: Clock) -> float | None:
        """Seconds without a heartbeat after which a connection is closed, or None for never."""
        factor = self.heartbeat_timeout_factor
        if factor == "auto":
            factor = None if isinstance(clock, VirtualClock) else 1.5
        return None if factor is None else interval_ms / 1000 * factor
