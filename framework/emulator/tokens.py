"""Access tokens as the platform issues them (protocol.md §1).

- ``expires_in`` is a string of whole seconds (the real server's form).
- Asking again while a token is valid returns the same token with the remaining lifetime.
- In the last ``token_overlap`` (60) seconds a request mints a NEW token; the old one stays valid
  until its own expiry, so both work during that window.
- Unknown app: code 100007 "appid invalid"; wrong secret: 100016 "invalid appid or secret"; both are
  answered with HTTP 200 by the endpoint.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

from framework.clock import Clock
from framework.emulator.config import EmulatorConfig

__all__ = ["TOKEN_PREFIX", "TokenError", "TokenService"]

TOKEN_PREFIX = "QQBot "


class TokenError(Exception):
    """A refused token request; ``code``/``message`` go into the HTTP 200 error body."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


@dataclass
class _Token:
    app_id: str
    expires_at: float  # on the clock's monotonic scale


class TokenService:
    """Issues and validates access tokens against an injected clock."""

    def __init__(self, config: EmulatorConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._tokens: dict[str, _Token] = {}
        self._current: dict[str, str] = {}  # app_id -> newest token
        self.issued = 0
        """How many distinct tokens were minted (tests read it)."""

    def issue(self, app_id: str, secret: str) -> dict[str, str]:
        """The endpoint's success body ``{"access_token", "expires_in": "<seconds>"}``; raises :class:`TokenError`."""
        expected = self._config.secret_for(app_id)
        if expected is None:
            raise TokenError(100007, "appid invalid")
        if not secrets.compare_digest(expected.encode(), secret.encode()):
            raise TokenError(100016, "invalid appid or secret")
        now = self._clock.monotonic()
        current = self._current.get(app_id)
        tok = self._tokens.get(current) if current else None
        if current is not None and tok is not None and now < tok.expires_at - self._config.token_overlap:
            return {"access_token": current, "expires_in": str(max(0, math.floor(tok.expires_at - now)))}
        return self._mint(app_id, now)

    def _mint(self, app_id: str, now: float) -> dict[str, str]:
        self._purge(now)
        token = secrets.token_urlsafe(32)
        self._tokens[token] = _Token(app_id, now + self._config.token_ttl)
        self._current[app_id] = token
        self.issued += 1
        return {"access_token": token, "expires_in": str(self._config.token_ttl)}

    def _purge(self, now: float) -> None:
        for tok in [t for t, v in self._tokens.items() if v.expires_at <= now]:
            del self._tokens[tok]

    def validate(self, token: str) -> str | None:
        """The app id of a valid token (bare or ``"QQBot "``-prefixed), None if unknown or expired."""
        token = token.strip()
        if token.startswith(TOKEN_PREFIX):
            token = token[len(TOKEN_PREFIX) :].strip()
        tok = self._tokens.get(token)
        if tok is None or self._clock.monotonic() >= tok.expires_at:
            return None
        return tok.app_id

    def expire_all(self) -> None:
        """Fault: every issued token stops working now; the next request mints a fresh one."""
        self._tokens.clear()
        self._current.clear()

    def __repr__(self) -> str:
        return f"TokenService(apps={len(self._current)}, tokens={len(self._tokens)})"
