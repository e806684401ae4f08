"""The request engine of the OpenAPI client: auth headers, retries, rate limits, error mapping, hooks.

Policy (protocol.md §6; the platform documents no retry policy, these are our choices):

- **Auth.** Every call sends ``Authorization: QQBot <token>``, ``X-Union-Appid`` and a User-Agent.
  HTTP 401 or code 11244 invalidates the token and retries the call once with a fresh one.
- **Retries.** 5xx answers (without a specific platform code), timeouts and connection errors are
  retried with exponential backoff and jitter, up to ``max_retries`` times, for idempotent calls only:
  GET/PUT/DELETE/HEAD, and message sends that carry ``msg_id`` + ``msg_seq`` or ``event_id`` (the
  platform de-duplicates those, so a repeat cannot post twice; it may answer 40054005 instead).
- **Rate limits.** HTTP 429 and the short-window codes (22009, 20028, 620006) wait — ``Retry-After``
  when present (capped locally at 60 s, see :mod:`framework.protocol.ratelimit`), else backoff — and
  retry, as long as the total wait of the call stays within ``max_rate_limit_wait``; then
  :class:`RateLimitedError` is raised. Quota codes (304045/304049/304050, 40034100) are raised at once.
  A per-route limiter learns from 429s and delays later calls until the first success after the block,
  which frees the route and wakes every caller queued on it.
- **Audit.** 201/202, and a 200 whose body carries code 304023/304024 with ``data.message_audit``,
  return :class:`PendingAudit` instead of raising (protocol.md §0 "Audit").
- **Delivered, answer unreadable.** A 2xx whose body does not decode is :class:`Delivered` for message
  sends and :class:`UnexpectedResponseError` otherwise; a retried reply answered 40054005 after an earlier
  attempt of the same call got no clear answer (timeout, connection lost, 5xx) is :class:`Delivered` too.
"""

from __future__ import annotations

import inspect
import logging
import random as _random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, Self, TypeVar
from urllib.parse import quote

import anyio
import httpcore
import httpx
import msgspec

from framework.clock import Clock, SystemClock
from framework.logs import REDACTED, scrub
from framework.models import errorcodes as ec
from framework.models.api import ErrorBody
from framework.models.constants import API_BASE
from framework.protocol.backoff import Backoff, RandomSource
from framework.protocol.ratelimit import RouteLimiter, parse_retry_after, route_key
from framework.runtime.credentials import AuthProvider, LegacyToken
from framework.runtime.openapi._group import EndpointGroup
from framework.runtime.openapi._wire import CoalescingBackend
from framework.runtime.openapi.errors import (
    NetworkError,
    OpenAPIError,
    RateLimitedError,
    ServerError,
    UnexpectedResponseError,
    error_class_for,
)
from framework.runtime.openapi.results import Delivered, PendingAudit

__all__ = [
    "DEFAULT_TIMEOUT",
    "USER_AGENT",
    "Answer",
    "OpenAPICore",
    "RequestHook",
    "ResponseHook",
    "pooled_http_client",
]

logger = logging.getLogger("framework.openapi")

USER_AGENT = "qqbot-framework/0.1 (+httpx)"
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
"""The platform recommends at least 5 s for sends (protocol.md §5.3)."""

_TRANSPORT_ERRORS = (httpx.TransportError, httpx.DecodingError, OSError)
"""Mapped to :class:`NetworkError` here, the client's one transport boundary: httpx's (which already wrap the
socket, DNS and TLS errors), an undecodable compressed body, and an ``OSError`` from a custom transport."""

_MAX_RATE_LIMIT_ATTEMPTS = 16
"""Hard stop for servers that keep answering 429 with ``Retry-After: 0``."""
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_AUDIT_CODES = frozenset({ec.PUSH_AWAITING_AUDIT, ec.REPLY_AWAITING_AUDIT})
_error_decoder = msgspec.json.Decoder(ErrorBody)
_encoder = msgspec.json.Encoder()
_T = TypeVar("_T")

_URL_CACHE = 4096
"""Parsed URLs kept per client (httpx parses a string URL on every request, twice); cleared when full."""
_POOL_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30.0)


class _NoCookies(httpx.Cookies):
    """A cookie store that keeps nothing. The platform API uses no cookies (protocol.md documents none), and
    httpx otherwise wraps every answer in urllib objects to look for ``Set-Cookie`` (≈8 % of a call's CPU)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        """Ignore the answer's cookies."""


def pooled_http_client(
    *, timeout: float | httpx.Timeout = DEFAULT_TIMEOUT, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The HTTP client the OpenAPI client builds for itself: keep-alive pool (100 connections, 20 kept idle for
    30 s), ``timeout``, no cookie store, and each request sent in one write. Pass it as ``OpenAPI(http=...)``
    to share it (e.g. with a :class:`~framework.runtime.credentials.TokenManager`); the caller closes it."""
    http = httpx.AsyncClient(timeout=timeout, limits=_POOL_LIMITS, transport=transport)
    http._cookies = _NoCookies()  # httpx's setter would copy the jar into a plain Cookies
    pool = getattr(http._transport, "_pool", None)  # httpx's own transport: its httpcore pool
    backend = getattr(pool, "_network_backend", None)
    if isinstance(backend, httpcore.AsyncNetworkBackend):
        pool._network_backend = CoalescingBackend(backend)  # type: ignore[union-attr]
    return http


def _pool_keepalive(http: httpx.AsyncClient) -> int | None:
    """How many connections ``http``'s pool keeps alive, when it is httpx's own pool (else None)."""
    pool = getattr(getattr(http, "_transport", None), "_pool", None)
    keep = getattr(pool, "_max_keepalive_connections", None)
    return keep if isinstance(keep, int) and keep > 0 else None


class RequestHook(Protocol):
    """Called before each attempt; ``headers`` has the Authorization value redacted."""

    def __call__(self, method: str, url: str, headers: Mapping[str, str], /) -> Awaitable[None] | None: ...


class ResponseHook(Protocol):
    """Called after each attempt; ``status`` is 0 when no answer arrived (timeout, connection error)."""

    def __call__(
        self, method: str, url: str, status: int, elapsed: float, trace_id: str, /
    ) -> Awaitable[None] | None: ...


@dataclass(frozen=True, slots=True)
class Answer:
    """A successful answer: HTTP status and raw body, the audit notice of a held message, or the
    :class:`Delivered` notice of a message the platform took without a readable answer."""

    status: int
    content: bytes
    pending: PendingAudit | None = None
    trace_id: str = ""
    method: str = ""
    path: str = ""
    delivered: Delivered | None = None

    def decode(self, decoder: msgspec.json.Decoder[_T]) -> _T:
        """Decode the body; an audit or delivery notice here (not a message send) is reported as an error,
        an undecodable body as :class:`UnexpectedResponseError`."""
        if self.pending is not None or self.delivered is not None:
            what = f"audit answer (audit_id={self.pending.audit_id})" if self.pending is not None else "delivery notice"
            raise OpenAPIError(
                f"unexpected {what}",
                status=self.status,
                code=self.pending.code if self.pending is not None else 0,
                trace_id=self.trace_id,
                method=self.method,
                path=self.path,
            )
        try:
            return decoder.decode(self.content or b"{}")
        except msgspec.DecodeError as exc:
            raise self.unexpected(exc) from exc

    def decode_or_pending(self, decoder: msgspec.json.Decoder[_T]) -> _T | PendingAudit:
        """Decode the body, or return the :class:`PendingAudit` of a held message."""
        if self.pending is not None:
            return self.pending
        return self.decode(decoder)

    def decode_sent(self, decoder: msgspec.json.Decoder[_T]) -> _T | PendingAudit | Delivered:
        """The answer to a message send: the decoded body, a :class:`PendingAudit`, or :class:`Delivered`
        when the platform took the message but its answer does not decode (never an exception: it was sent)."""
        if self.pending is not None:
            return self.pending
        if self.delivered is not None:
            return self.delivered
        try:
            return decoder.decode(self.content or b"{}")
        except msgspec.DecodeError as exc:
            logger.warning(
                "%s %s answered HTTP %d with an unreadable body (%s); the message was delivered (trace_id=%s)",
                self.method,
                self.path,
                self.status,
                exc,
                self.trace_id or "-",
            )
            known = _lenient_fields(self.content)
            return Delivered(
                id=known.get("id", ""),
                timestamp=known.get("timestamp", ""),
                status=self.status,
                trace_id=self.trace_id,
                reason=f"unreadable answer: {exc}",
            )

    def json(self) -> Any:
        """The body as builtins (``None`` when empty); invalid JSON is :class:`UnexpectedResponseError`."""
        if not self.content.strip():
            return None
        try:
            return msgspec.json.decode(self.content)
        except msgspec.DecodeError as exc:
            raise self.unexpected(exc) from exc

    def unexpected(self, exc: Exception) -> UnexpectedResponseError:
        """The error for a body that does not have the documented shape."""
        return UnexpectedResponseError(
            f"answer body does not decode: {exc}",
            status=self.status,
            trace_id=self.trace_id,
            method=self.method,
            path=self.path,
        )


def _lenient_fields(content: bytes) -> dict[str, str]:
    """``id`` and ``timestamp`` of a body that failed strict decoding, when they are readable strings."""
    try:
        raw = msgspec.json.decode(content)
    except msgspec.DecodeError:
        return {}
    if not isinstance(raw, dict):
        return {}
    return {k: v for k in ("id", "timestamp") if isinstance(v := raw.get(k), str)}


def _is_idempotent_message(body: Any) -> bool:
    msg_id = getattr(body, "msg_id", None)
    msg_seq = getattr(body, "msg_seq", None)
    event_id = getattr(body, "event_id", None)
    return bool((msg_id and msg_seq is not None) or event_id)


class OpenAPICore(EndpointGroup):
    """Connection pool, authentication and the request loop shared by every endpoint group.

    ``auth`` supplies the Authorization header (``TokenManager`` or ``LegacyToken``); ``app_id`` defaults
    to ``auth.app_id``. ``http`` is borrowed (not closed) when given, else a pooled keep-alive client is
    created with ``timeout`` and closed by :meth:`aclose`. ``max_retries`` bounds retries of idempotent
    calls; ``max_rate_limit_wait`` bounds the total seconds one call may spend waiting on rate limits.
    ``on_request``/``on_response`` are optional hooks (plain or async callables).
    """

    def __init__(
        self,
        auth: AuthProvider,
        *,
        base_url: str = API_BASE,
        app_id: str | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = 3,
        max_rate_limit_wait: float = 60.0,
        retry_backoff: Backoff | None = None,
        limiter: RouteLimiter | None = None,
        on_request: RequestHook | None = None,
        on_response: ResponseHook | None = None,
        user_agent: str = USER_AGENT,
        rand: RandomSource = _random.random,
        max_in_flight: int | None = None,
    ) -> None:
        self._auth = auth
        self.base_url = base_url.rstrip("/")
        self.app_id = app_id if app_id is not None else auth.app_id
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._own_http = http is None
        self._http = http if http is not None else pooled_http_client(timeout=timeout)
        if max_in_flight is None:
            max_in_flight = _pool_keepalive(self._http) or 0
        self.max_in_flight = max_in_flight
        """Requests this client has on the wire at once (0: no bound); more callers queue in front of the pool."""
        self._slots: anyio.Semaphore | None = None
        self._urls: dict[str, httpx.URL] = {}
        self.max_retries = max_retries
        self.max_rate_limit_wait = max_rate_limit_wait
        self._retry_backoff = retry_backoff or Backoff(base=0.5, factor=2.0, cap=8.0, jitter=0.5)
        self.limiter = limiter if limiter is not None else RouteLimiter(rand=rand)
        self.on_request = on_request
        self.on_response = on_response
        self.on_rate_limit_wait: Callable[[str, str, float], None] | None = None
        """Called with ``(method, route template, seconds)`` after a call waited for its route's rate limit
        (the limiter's booking, after a 429 or ahead of one); a plain callable, run on the request path."""
        self.user_agent = user_agent
        self._rand = rand
        self._closed = False
        self._freed: anyio.Event | None = None
        self._waiters = 0
        """Set (and replaced) whenever a success frees a rate-limited route; created by the first waiter."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, app_id={self.app_id!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (only if this client created it)."""
        if self._closed:
            return
        self._closed = True
        if self._own_http:
            await self._http.aclose()

    # ---- public escape hatch -------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Call any endpoint; returns the decoded JSON (``None`` for an empty body), a :class:`PendingAudit`
        or a :class:`Delivered`.

        ``path`` is the concrete path (``/guilds/123``); the same retry, rate-limit and error rules apply.
        """
        answer = await self._call(method, path, json=json, params=params, idempotent=idempotent)
        if answer.pending is not None:
            return answer.pending
        if answer.delivered is not None:
            return answer.delivered
        return answer.json()

    # ---- the request loop ------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        template: str,
        /,
        *,
        path: Mapping[str, str] | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
        headers: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> Answer:
        """Send one logical request (with retries) to ``template`` filled with ``path``.

        ``form`` + ``files`` (``name -> (filename, bytes, content type)``) send ``multipart/form-data``
        instead of ``json``.
        """
        method = method.upper()
        url_path = template.format_map({k: quote(str(v), safe="") for k, v in (path or {}).items()})
        url = self.base_url + url_path
        target = self._urls.get(url)
        if target is None:
            if len(self._urls) >= _URL_CACHE:
                self._urls.clear()
            target = self._urls[url] = httpx.URL(url)
        major = next(iter(path.values()), None) if path else None
        key = route_key(method, template, str(major) if major is not None else None)
        if idempotent is None:
            idempotent = method in _IDEMPOTENT_METHODS or (method == "POST" and _is_idempotent_message(json))
        content = None if json is None else _encoder.encode(json)
        query = _clean_params(params)

        waited = 0.0
        failures = 0
        reauthed = False
        limited = 0
        unclear = False  # an earlier attempt of this call may have been executed (no clear answer)
        while True:
            wait = await self._wait_for_route(key, method, template, self.max_rate_limit_wait - waited)
            if wait > 0:
                waited += wait
                if self.on_rate_limit_wait is not None:
                    try:
                        self.on_rate_limit_wait(method, template, wait)
                    except Exception:
                        logger.exception("OpenAPI hook %r failed", self.on_rate_limit_wait)

            auth_value = await self._auth.auth_header()
            req_headers = {
                "Authorization": auth_value,
                "X-Union-Appid": self.app_id,
                "User-Agent": self.user_agent,
                "Accept": "application/json",
            }
            if content is not None and files is None:
                req_headers["Content-Type"] = "application/json"
            if headers:
                req_headers.update(headers)
            if self.on_request is not None:
                await self._run_hook(self.on_request, method, url, _redact(req_headers))
            logger.debug("→ %s %s", method, url)

            started = self._clock.monotonic()
            try:
                if files is not None:
                    response = await self._send(
                        method, target, data=dict(form or {}), files=dict(files), params=query, headers=req_headers
                    )
                else:
                    response = await self._send(method, target, content=content, params=query, headers=req_headers)
            except _TRANSPORT_ERRORS as exc:
                unclear = True
                elapsed = self._clock.monotonic() - started
                await self._run_hook(self.on_response, method, url, 0, elapsed, "")
                if isinstance(exc, httpx.TimeoutException | TimeoutError):
                    kind = "timed out"
                elif isinstance(exc, httpx.DecodingError):
                    kind = "answer body could not be decoded"
                else:
                    kind = "connection failed"
                error = NetworkError(f"{kind} ({type(exc).__name__})", method=method, path=template)
                if idempotent and failures < self.max_retries:
                    failures += 1
                    backoff = self._retry_backoff.delay(failures, self._rand)
                    logger.warning("%s; retry %d/%d in %.2fs", error, failures, self.max_retries, backoff)
                    await self._clock.sleep(backoff)
                    continue
                raise error from exc

            elapsed = self._clock.monotonic() - started
            status = response.status_code
            trace_id = response.headers.get("x-tps-trace-id", "")
            await self._run_hook(self.on_response, method, url, status, elapsed, trace_id)
            logger.debug("← %d %s %s %.3fs trace_id=%s", status, method, url, elapsed, trace_id or "-")

            if status in (200, 204):
                self._route_ok(key)
                held = _audit_notice(status, response.content, trace_id)
                return Answer(status, response.content, held, trace_id, method, template)

            body = _parse_error(response.content)
            code = body.effective_code if body is not None else 0
            message = body.message if body is not None else _short_text(response)
            if body is not None and not trace_id:
                trace_id = body.trace_id
            message = scrub(message, auth_value.split(" ", 1)[-1])

            if status in (201, 202) or code in _AUDIT_CODES:
                self._route_ok(key)
                audit = PendingAudit(
                    audit_id=body.audit_id if body is not None else "",
                    status=status,
                    code=code,
                    message=message,
                    trace_id=trace_id,
                )
                return Answer(status, response.content, audit, trace_id, method, template)

            if code in ec.DUPLICATE_CODES and unclear:
                # our own earlier attempt landed: the platform de-duplicated the retry (protocol.md §6.3)
                self._route_ok(key)
                logger.warning(
                    "%s %s: retry answered %d (already sent) after an attempt without a clear answer; "
                    "reporting the message as delivered (trace_id=%s)",
                    method,
                    template,
                    code,
                    trace_id or "-",
                )
                notice = Delivered(
                    status=status,
                    code=code,
                    trace_id=trace_id,
                    reason="a retry found the first attempt already delivered",
                )
                return Answer(status, response.content, None, trace_id, method, template, notice)

            if (status == 401 or code == ec.TOKEN_EXPIRED) and not reauthed and not isinstance(self._auth, LegacyToken):
                reauthed = True
                logger.info("%s %s answered %d/code %d: refreshing the access token", method, template, status, code)
                self._auth.invalidate(auth_value)
                continue

            cls = error_class_for(status, code)
            if status == 429 or code in ec.RATE_LIMIT_RETRYABLE_CODES:
                retry_after = parse_retry_after(response.headers.get("retry-after"), self._clock.time())
                wait = self.limiter.on_rate_limited(key, self._clock.monotonic(), retry_after)
                limited += 1
                # the caller is told what the server asked for; the route is blocked only ``wait`` (capped)
                needed = max(wait, retry_after or 0.0)
                if waited + needed > self.max_rate_limit_wait or limited > _MAX_RATE_LIMIT_ATTEMPTS:
                    raise RateLimitedError(
                        message,
                        retry_after=needed,
                        status=status,
                        code=code,
                        trace_id=trace_id,
                        method=method,
                        path=template,
                    )
                logger.warning(
                    "%s %s rate limited (HTTP %d, code %d); waiting %.2fs", method, template, status, code, wait
                )
                continue  # the limiter now holds the route for ``wait``; acquire() sleeps it

            if cls is ServerError and idempotent and failures < self.max_retries:
                unclear = True
                failures += 1
                backoff = self._retry_backoff.delay(failures, self._rand)
                logger.warning(
                    "%s %s answered HTTP %d (trace_id=%s); retry %d/%d in %.2fs",
                    method,
                    template,
                    status,
                    trace_id or "-",
                    failures,
                    self.max_retries,
                    backoff,
                )
                await self._clock.sleep(backoff)
                continue

            raise cls(message, status=status, code=code, trace_id=trace_id, method=method, path=template)

    async def _send(self, method: str, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """One HTTP exchange, at most :attr:`max_in_flight` at once: callers beyond the pool's kept-alive
        connections wait here instead of opening connections the pool closes again after one answer (and
        its per-request bookkeeping grows with every connection)."""
        if self.max_in_flight <= 0:
            return await self._http.request(method, url, **kwargs)
        if self._slots is None:
            self._slots = anyio.Semaphore(self.max_in_flight)
        async with self._slots:
            return await self._http.request(method, url, **kwargs)

    async def _wait_for_route(self, key: str, method: str, template: str, budget: float) -> float:
        """Wait for a slot on ``key`` within ``budget`` seconds; returns the seconds waited.

        A route freed while we wait (another call succeeded after the block) wakes us at once; a slot
        further ahead than the budget raises :class:`RateLimitedError` without booking anything.
        """
        started = now = self._clock.monotonic()  # a call the limiter does not delay returns exactly 0.0
        while True:
            limit = max(0.0, budget - (now - started))
            epoch = self.limiter.epoch(key)
            delay = self.limiter.acquire(key, now, max_wait=limit)
            if delay <= 0:
                return now - started
            if delay > min(limit, self.limiter.max_reservation):  # refused: nothing was booked
                raise RateLimitedError(
                    f"route is rate limited for {delay:.1f}s more, beyond max_rate_limit_wait ({budget:.1f}s left) "
                    f"or the limiter's max_reservation; retry later",
                    retry_after=delay,
                    status=429,
                    method=method,
                    path=template,
                )
            logger.debug("rate limiter delays %s by %.3fs", key, delay)
            slot, left = now + delay, delay
            # a wake-up by another route's freeing sends us back to sleep for the rest of our wait
            while not await self._sleep_unless_freed(left) and self.limiter.epoch(key) == epoch:
                left = slot - self._clock.monotonic()
                if left <= 0:
                    break
            if self.limiter.epoch(key) == epoch:
                return self._clock.monotonic() - started  # our booking stands and its time has come
            # the route was freed (or re-learned) while we slept: the booking is void, ask again
            now = self._clock.monotonic()

    async def _sleep_unless_freed(self, delay: float) -> bool:
        """Sleep ``delay`` on the clock, or until some route is freed; ``True`` when the full delay passed."""
        if self._freed is None:
            self._freed = anyio.Event()
        freed = self._freed
        slept = False
        self._waiters += 1
        try:
            async with anyio.create_task_group() as tg:

                async def ring() -> None:
                    await freed.wait()
                    tg.cancel_scope.cancel()

                tg.start_soon(ring)
                await self._clock.sleep(delay)
                slept = True
                tg.cancel_scope.cancel()
        finally:
            self._waiters -= 1
            if self._waiters == 0:
                self._freed = None  # no event outlives its waiters (nor the event loop that made it)
        return slept

    def _route_ok(self, key: str) -> None:
        """Tell the limiter a call to ``key`` succeeded; wake the waiters if that freed the route."""
        if self.limiter.on_success(key, self._clock.monotonic()) and self._freed is not None:
            self._freed.set()
            self._freed = None

    async def _put_raw(self, url: str, content: bytes) -> None:
        """PUT one chunk to a presigned upload URL (no Authorization: the URL carries its own grant)."""
        try:
            response = await self._send("PUT", url, content=content, headers={"User-Agent": self.user_agent})
        except _TRANSPORT_ERRORS as exc:
            raise NetworkError(f"upload part failed ({type(exc).__name__})", method="PUT", path="<presigned>") from exc
        if response.status_code >= 300:
            body = _parse_error(response.content)
            raise error_class_for(response.status_code, body.effective_code if body else 0)(
                body.message if body else _short_text(response),
                status=response.status_code,
                code=body.effective_code if body else 0,
                method="PUT",
                path="<presigned>",
            )

    async def _run_hook(self, hook: Callable[..., Awaitable[None] | None] | None, *args: Any) -> None:
        if hook is None:
            return
        try:
            result = hook(*args)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("OpenAPI hook %r failed", hook)


def _clean_params(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not params:
        return None
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out or None


def _redact(headers: Mapping[str, str]) -> dict[str, str]:
    out = dict(headers)
    value = out.get("Authorization")
    if value is not None:
        scheme = value.split(" ", 1)[0]
        out["Authorization"] = f"{scheme} {REDACTED}"
    return out


def _audit_notice(status: int, content: bytes, trace_id: str) -> PendingAudit | None:
    """A 200 answer that is really an audit notice (``{"code": 304023, "data": {"message_audit": ...}}``)."""
    if b"message_audit" not in content:  # cheap test first: success bodies almost never hold it
        return None
    body = _parse_error(content)
    if body is None or body.effective_code not in _AUDIT_CODES or not body.audit_id:
        return None
    return PendingAudit(
        audit_id=body.audit_id, status=status, code=body.effective_code, message=body.message, trace_id=trace_id
    )


def _parse_error(content: bytes) -> ErrorBody | None:
    if not content.strip():
        return None
    try:
        return _error_decoder.decode(content)
    except msgspec.DecodeError:
        return None


def _short_text(response: httpx.Response) -> str:
    text = response.text.strip()
    if not text:
        return response.reason_phrase
    return text[:200]
