"""App credentials and access tokens (protocol.md §1).

- :class:`Credentials`: app id and secret, the one object that holds the secret (registered with
  :func:`framework.logs.register_secret`, never shown in a ``repr``); build it from settings with
  :meth:`Credentials.from_settings`. Where to send it is a :class:`~framework.runtime.platform.Platform`.
- :class:`TokenManager`: fetches ``QQBot`` access tokens from the token endpoint, caches them,
  refreshes ahead of expiry (with jitter), shares one refresh among concurrent callers and spaces
  failed fetches with a capped exponential backoff.
- :class:`LegacyToken`: the old fixed ``Bot {appid}.{token}`` scheme. The platform has **disabled** it
  (REST answers HTTP 500 with code 11245); it is kept for old deployments and tests only.

Neither the secret nor a token is ever written to a log record or an exception message.
"""

from __future__ import annotations

import logging
import random as _random
from typing import TYPE_CHECKING, Protocol

import anyio
import httpx
import msgspec

from framework._deprecated import deprecated_names, warn_argument
from framework.clock import Clock, SystemClock
from framework.errors import QQBotError
from framework.interfaces import AuthProvider  # defined with the other seams; re-exported here
from framework.logs import REDACTED, register_secret, scrub
from framework.models import errorcodes as ec
from framework.models.api import TokenRequest, TokenResponse
from framework.protocol.auth import (
    DEFAULT_REFRESH_JITTER,
    DEFAULT_REFRESH_MARGIN,
    MIN_TOKEN_LIFETIME,
    TOKEN_BACKOFF,
    TokenTimes,
    parse_expires_in,
    refresh_deadline,
)
from framework.protocol.backoff import Backoff, RandomSource
from framework.runtime.platform import Platform

__all__ = ["AccessTokenError", "AuthProvider", "CredentialSettings", "Credentials", "LegacyToken", "TokenManager"]

logger = logging.getLogger("framework.credentials")

_token_decoder = msgspec.json.Decoder(TokenResponse)


class AccessTokenError(QQBotError):
    """The access token could not be obtained from the token endpoint (formerly ``AuthError``, a deprecated alias).

    Not an ``OpenAPIError``: an API call the platform refused for its token raises
    ``AuthenticationError`` (HTTP 401) instead.

    ``code`` is the token endpoint's code (e.g. 100016 wrong secret) or 0 for transport/HTTP
    failures; ``status`` the HTTP status (0 when no answer arrived); ``retryable`` says whether a
    later attempt may succeed. The message never contains the secret or a token.
    """

    def __init__(self, message: str, *, code: int = 0, status: int = 0, retryable: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.retryable = retryable


class CredentialSettings(Protocol):
    """What :meth:`Credentials.from_settings` reads (``framework.config.BotSettings`` has it)."""

    @property
    def app_id(self) -> str | None:
        """The AppID."""
        ...

    @property
    def app_secret(self) -> str | None:
        """The AppSecret."""
        ...


class Credentials:
    """An app id and its secret (from the QQ open-platform console).

    This is the one object that holds the secret: it is registered with
    :func:`framework.logs.register_secret` (so no log line shows it) and the ``repr`` hides it.
    """

    __slots__ = ("_secret", "app_id")

    def __init__(self, app_id: str, app_secret: str) -> None:
        if not app_id:
            raise ValueError("app_id must not be empty")
        if not app_secret:
            raise ValueError("app_secret must not be empty")
        self.app_id = str(app_id)
        self._secret = app_secret
        register_secret(app_secret)

    @property
    def app_secret(self) -> str:
        """The secret (read it only to sign or to request a token; never log it)."""
        return self._secret

    @classmethod
    def from_settings(cls, settings: CredentialSettings) -> Credentials:
        """From ``settings.bot`` (``bot.app_id``/``bot.app_secret``, ``QQBOT_APP_ID``/``QQBOT_APP_SECRET``).

        Raises ValueError naming the missing setting.
        """
        missing = [
            f"bot.{key} ({env})"
            for key, env, value in (
                ("app_id", "QQBOT_APP_ID", settings.app_id),
                ("app_secret", "QQBOT_APP_SECRET", settings.app_secret),
            )
            if not value
        ]
        if missing:
            raise ValueError(
                f"{' and '.join(missing)} not set: copy the value from the open-platform console into the "
                "settings or the environment"
            )
        return cls(str(settings.app_id), str(settings.app_secret))

    def __repr__(self) -> str:
        return f"Credentials(app_id={self.app_id!r}, app_secret={REDACTED})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Credentials):
            return NotImplemented
        return self.app_id == other.app_id and self._secret == other._secret

    def __hash__(self) -> int:
        return hash((self.app_id, self._secret))


class LegacyToken:
    """The fixed ``Bot {appid}.{token}`` scheme.

    Disabled by the platform: REST calls answer HTTP 500 code 11245 ("固定Token已禁用") and the client
    raises ``LegacyTokenDisabledError``. Use :class:`TokenManager` for real bots.
    """

    __slots__ = ("_token", "app_id")

    def __init__(self, app_id: str, token: str) -> None:
        self.app_id = str(app_id)
        self._token = token
        register_secret(token)

    async def get_token(self) -> str:
        """The fixed token."""
        return self._token

    async def auth_header(self) -> str:
        """``Bot {appid}.{token}``."""
        return f"Bot {self.app_id}.{self._token}"

    def invalidate(self, rejected: str | None = None) -> None:
        """A fixed token cannot be refreshed: nothing to do."""

    def __repr__(self) -> str:
        return f"LegacyToken(app_id={self.app_id!r}, token={REDACTED})"


class TokenManager:
    """Fetches and caches access tokens for one app.

    ``get_token`` returns the cached token until its refresh deadline (``refresh_margin`` seconds plus
    up to ``refresh_jitter`` seconds before expiry), then fetches a new one; concurrent callers share
    one fetch. When a refresh fails while the old token is still valid, the old token is returned and
    the refresh is tried again after a backoff. When no valid token is left, the failure is raised as
    :class:`AccessTokenError`, and the next attempt waits out the backoff (1 s doubling to 60 s, jittered), so
    a caller that loops on errors cannot hammer the endpoint.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        platform: Platform | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        refresh_jitter: float = DEFAULT_REFRESH_JITTER,
        backoff: Backoff = TOKEN_BACKOFF,
        timeout: float = 10.0,
        rand: RandomSource = _random.random,
        token_url: str | None = None,
    ) -> None:
        if token_url is not None:
            if platform is not None:
                raise TypeError("TokenManager: pass platform= or the deprecated token_url=, not both")
            warn_argument("TokenManager", "token_url", "platform=Platform(token_url=...)")
            platform = Platform(token_url=token_url)
        self.platform = platform if platform is not None else Platform.production()
        """Where tokens come from (``platform.token_url``; its ``http_transport`` when ``http`` is not given)."""
        self.credentials = credentials
        self.app_id = credentials.app_id
        self.token_url = self.platform.token_url
        self._http = http
        self._own_http = http is None
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._margin = refresh_margin
        self._jitter = refresh_jitter
        self._backoff = backoff
        self._timeout = timeout
        self._rand = rand
        self._token: str | None = None
        self._times: TokenTimes | None = None
        self._lock = anyio.Lock()
        self._failures = 0
        self._retry_at = 0.0
        self._completed = 0
        """Finished fetch attempts; callers that waited on the lock across one share its failure."""
        self._last_error: AccessTokenError | None = None
        self.fetch_count = 0
        """How many token requests were sent (for tests and metrics)."""

    def __repr__(self) -> str:
        state = "none" if self._times is None else f"expires_at={self._times.expires_at:.1f}"
        return f"TokenManager(app_id={self.app_id!r}, token_url={self.token_url!r}, token={REDACTED}, {state})"

    @property
    def times(self) -> TokenTimes | None:
        """Obtained/refresh/expiry times of the cached token (monotonic seconds), if any."""
        return self._times

    async def get_token(self) -> str:
        """A valid access token, fetching or refreshing it when needed."""
        token = self._cached(fresh_only=True)
        if token is not None:
            return token
        seen = self._completed
        async with self._lock:
            # another caller may have refreshed (or failed to) while we waited for the lock
            token = self._cached(fresh_only=True)
            if token is not None:
                return token
            if self._completed != seen and self._last_error is not None:
                raise self._last_error  # the fetch we waited on failed: share its error, do not hammer
            now = self._clock.monotonic()
            stale = self._cached(fresh_only=False)
            if stale is not None and now < self._retry_at:
                return stale  # refresh failed recently; keep using the valid token until the backoff ends
            if now < self._retry_at:
                await self._clock.sleep(self._retry_at - now)
            self._last_error = None
            try:
                token = await self._fetch()
            except AccessTokenError as exc:
                self._completed += 1
                self._last_error = exc
                self._failures += 1
                delay = self._backoff.delay(self._failures, self._rand)
                self._retry_at = self._clock.monotonic() + delay
                stale = self._cached(fresh_only=False)
                if stale is not None:
                    logger.warning(
                        "access token refresh failed (%s); keeping the current token, next try in %.1fs", exc, delay
                    )
                    return stale
                logger.error("access token fetch failed (%s); next try in %.1fs", exc, delay)
                raise
            finally:
                if self._last_error is None:
                    self._completed += 1
            return token

    async def auth_header(self) -> str:
        """``QQBot {access_token}``."""
        return f"QQBot {await self.get_token()}"

    def invalidate(self, rejected: str | None = None) -> None:
        """Drop the cached token (e.g. after HTTP 401 or code 11244); the next call fetches a new one.

        With ``rejected`` (the token, or the ``QQBot …`` header value, that the server refused), a token
        fetched since that request was sent is kept: concurrent 401s of one expiry cause one refresh.
        """
        if rejected is not None and self._token is not None and rejected.removeprefix("QQBot ") != self._token:
            return  # another caller already replaced the token the server refused
        if self._token is not None:
            logger.info("access token invalidated")
        self._token = None
        self._times = None

    async def aclose(self) -> None:
        """Close the HTTP client if this manager created it."""
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    def _cached(self, *, fresh_only: bool) -> str | None:
        if self._token is None or self._times is None:
            return None
        now = self._clock.monotonic()
        ok = self._times.fresh(now) if fresh_only else self._times.valid(now)
        return self._token if ok else None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._timeout, transport=self.platform.http_transport)
            self._own_http = True
        return self._http

    async def _fetch(self) -> str:
        body = msgspec.json.encode(
            TokenRequest(appId=self.credentials.app_id, clientSecret=self.credentials.app_secret)
        )
        self.fetch_count += 1
        logger.debug("requesting access token for app %s from %s", self.app_id, self.token_url)
        try:
            response = await self._client().post(
                self.token_url, content=body, headers={"Content-Type": "application/json"}
            )
        except httpx.TimeoutException as exc:
            raise AccessTokenError(f"token request to {self.token_url} timed out ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise AccessTokenError(f"token request to {self.token_url} failed ({type(exc).__name__})") from None
        status = response.status_code
        try:
            answer = _token_decoder.decode(response.content)
        except msgspec.DecodeError:
            raise AccessTokenError(
                f"token endpoint answered HTTP {status} with a body that is not a token answer",
                status=status,
                retryable=status >= 500 or status == 429,
            ) from None
        if answer.code != 0 or not answer.access_token:
            code = answer.code
            retryable = code not in ec.TOKEN_CREDENTIAL_CODES
            message = scrub(answer.message, self.credentials.app_secret)
            what = "invalid app id or secret" if code in ec.TOKEN_CREDENTIAL_CODES else "token request failed"
            raise AccessTokenError(
                f"{what}: HTTP {status}, code {code}: {message!r} (app {self.app_id})",
                code=code,
                status=status,
                retryable=retryable,
            )
        try:
            expires_in = parse_expires_in(answer.expires_in)
        except ValueError as exc:
            raise AccessTokenError(f"token answer has an unusable expires_in: {exc}", status=status) from None
        if expires_in < MIN_TOKEN_LIFETIME:
            logger.warning(
                "token endpoint says the new token expires in %ss; using it for %ss unless the API rejects it",
                expires_in,
                int(MIN_TOKEN_LIFETIME),
            )
        now = self._clock.monotonic()
        self._token = answer.access_token
        register_secret(answer.access_token, temporary=True)
        self._times = refresh_deadline(now, expires_in, margin=self._margin, jitter=self._jitter, rand=self._rand)
        self._failures = 0
        self._retry_at = 0.0
        logger.debug(
            "access token obtained for app %s: expires in %ss, refresh in %.1fs",
            self.app_id,
            expires_in,
            self._times.refresh_at - now,
        )
        return self._token


if TYPE_CHECKING:
    AuthError = AccessTokenError
    """Deprecated: the old name of :class:`AccessTokenError` (goes in the next release)."""
else:
    __getattr__ = deprecated_names(__name__, {"AuthError": "AccessTokenError"})
