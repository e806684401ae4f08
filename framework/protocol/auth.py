"""Sans-IO access-token arithmetic (protocol.md §1.1, §1.2).

- :func:`parse_expires_in`: the token endpoint sends ``expires_in`` as a string (``"7200"``); the
  field table says number. Both are accepted.
- :func:`refresh_deadline`: when to fetch the next token. The platform hands out a *new* token only
  in the last 60 s of the old one's life (the old one stays valid 60 s more); asking earlier returns
  the same token with a shorter ``expires_in``. The default margin of 50 s plus up to 5 s of jitter
  therefore lands inside that window, and the lead is capped at half the lifetime so a short
  ``expires_in`` can never cause a refresh loop.
- :data:`MIN_TOKEN_LIFETIME`: a token is used for at least this long, whatever ``expires_in`` says
  (``"0"`` would otherwise mean a fetch before every call); a server that rejects it earlier gets it
  replaced on the first 401.
- :data:`TOKEN_BACKOFF`: spacing of failed token fetches (1 s doubling to 60 s, with jitter).
"""

from __future__ import annotations

import random as _random
from dataclasses import dataclass

from framework.protocol.backoff import Backoff, RandomSource

__all__ = [
    "DEFAULT_REFRESH_JITTER",
    "DEFAULT_REFRESH_MARGIN",
    "MIN_TOKEN_LIFETIME",
    "TOKEN_BACKOFF",
    "TokenTimes",
    "parse_expires_in",
    "refresh_deadline",
]

DEFAULT_REFRESH_MARGIN = 50.0
"""Seconds before expiry at which a token is refreshed (before jitter)."""
DEFAULT_REFRESH_JITTER = 5.0
"""Up to this many extra seconds earlier, so that many processes do not refresh in lockstep."""
MIN_TOKEN_LIFETIME = 30.0
"""Seconds a token is kept at least, even when the answer says it expires sooner."""
TOKEN_BACKOFF = Backoff(base=1.0, factor=2.0, cap=60.0, jitter=0.5)
"""Delay between failed token fetches."""


def parse_expires_in(value: object) -> int:
    """Seconds of validity from the token answer; accepts ``"7200"`` and ``7200``.

    Raises ``ValueError`` for anything else (including negative or non-integral values).
    """
    if isinstance(value, bool):
        raise ValueError("expires_in must be a number or a numeric string")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, float) and value.is_integer():
        seconds = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        seconds = int(value.strip())
    else:
        raise ValueError(f"expires_in must be a number or a numeric string, got {type(value).__name__}")
    if seconds < 0:
        raise ValueError("expires_in must not be negative")
    return seconds


@dataclass(frozen=True, slots=True)
class TokenTimes:
    """Monotonic times of one token: when it was obtained, when to refresh, when it expires."""

    obtained_at: float
    refresh_at: float
    expires_at: float

    def fresh(self, now: float) -> bool:
        """True until the refresh deadline."""
        return now < self.refresh_at

    def valid(self, now: float) -> bool:
        """True until expiry (the token can still be used, even if a refresh is due)."""
        return now < self.expires_at


def refresh_deadline(
    now: float,
    expires_in: float,
    *,
    margin: float = DEFAULT_REFRESH_MARGIN,
    jitter: float = DEFAULT_REFRESH_JITTER,
    rand: RandomSource = _random.random,
) -> TokenTimes:
    """Compute the refresh and expiry times of a token obtained at ``now`` with ``expires_in`` seconds.

    ``expires_in`` below :data:`MIN_TOKEN_LIFETIME` counts as that minimum.
    """
    expires_in = max(float(expires_in), MIN_TOKEN_LIFETIME)
    lead = margin + jitter * min(max(rand(), 0.0), 1.0)
    lead = min(lead, expires_in / 2.0)
    return TokenTimes(obtained_at=now, refresh_at=now + expires_in - lead, expires_at=now + expires_in)
