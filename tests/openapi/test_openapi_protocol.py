"""Sans-IO token arithmetic and rate-limit bookkeeping (framework.protocol.auth / .ratelimit)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework.protocol.auth import TOKEN_BACKOFF, parse_expires_in, refresh_deadline
from framework.protocol.backoff import Backoff, BackoffCounter
from framework.protocol.ratelimit import MAX_RETRY_AFTER, RouteLimiter, parse_retry_after, route_key


@pytest.mark.parametrize(("value", "seconds"), [("7200", 7200), (7200, 7200), (" 60 ", 60), (0, 0), (30.0, 30)])
def test_parse_expires_in(value: object, seconds: int) -> None:
    assert parse_expires_in(value) == seconds


@pytest.mark.parametrize("value", ["", "soon", "-1", -5, None, True, 1.5, [7200]])
def test_parse_expires_in_rejects(value: object) -> None:
    with pytest.raises(ValueError):
        parse_expires_in(value)


def test_refresh_deadline_margin_and_jitter() -> None:
    t = refresh_deadline(100.0, 7200, margin=50, jitter=5, rand=lambda: 0.5)
    assert t.obtained_at == 100.0
    assert t.expires_at == 7300.0
    assert t.refresh_at == pytest.approx(7300.0 - 52.5)
    assert t.fresh(t.refresh_at - 0.001)
    assert not t.fresh(t.refresh_at)
    assert t.valid(t.refresh_at)
    assert not t.valid(t.expires_at)


@given(st.floats(0, 1e6), st.integers(0, 10**6), st.floats(0, 1))
def test_refresh_deadline_bounds(now: float, expires_in: int, r: float) -> None:
    t = refresh_deadline(now, expires_in, rand=lambda: r)
    assert now + expires_in / 2 <= t.refresh_at + 1e-6
    assert t.refresh_at <= t.expires_at


def test_backoff_schedule() -> None:
    b = Backoff(base=1.0, factor=2.0, cap=10.0, jitter=0.5)
    assert [b.ceiling(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert b.delay(3, lambda: 0.0) == 4.0
    assert b.delay(3, lambda: 1.0) == 2.0
    assert b.ceiling(10_000) == 10.0
    assert TOKEN_BACKOFF.ceiling(100) == 60.0


def test_backoff_counter_counts_failures_and_resets() -> None:
    counter = BackoffCounter(Backoff(base=1.0, factor=2.0, cap=4.0, jitter=0.5), lambda: 0.0)
    assert [counter.next_delay() for _ in range(4)] == [1.0, 2.0, 4.0, 4.0]
    assert counter.failures == 4
    counter.reset()
    assert (counter.next_delay(), counter.failures) == (1.0, 1)


@given(st.integers(1, 500), st.floats(0, 1))
def test_backoff_within_bounds(attempt: int, r: float) -> None:
    b = Backoff(base=0.5, factor=2.0, cap=30.0, jitter=0.5)
    d = b.delay(attempt, lambda: r)
    assert b.ceiling(attempt) / 2 - 1e-9 <= d <= b.ceiling(attempt) <= 30.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("3", 3.0),
        ("0.25", 0.25),
        ("-1", None),
        ("nan", None),
        ("soon", None),
        ("Thu, 01 Jan 1970 00:00:10 GMT", 5.0),
        ("Thu, 01 Jan 1970 00:00:01 GMT", 0.0),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now_unix=5.0) == expected


def test_route_key() -> None:
    assert (
        route_key("post", "/v2/groups/{group_openid}/messages", "G1") == "POST /v2/groups/{group_openid}/messages [G1]"
    )
    assert route_key("GET", "/users/@me") == "GET /users/@me"


def test_limiter_unknown_route_is_free() -> None:
    lim = RouteLimiter(rand=lambda: 0.0)
    assert lim.acquire("k", 0.0) == 0.0
    assert lim.peek("k", 0.0) == 0.0
    assert lim.on_success("k", 0.0) is False
    assert lim.state("k") is None


def test_limiter_learns_from_429() -> None:
    lim = RouteLimiter(rand=lambda: 0.0, initial_interval=0.2)
    assert lim.on_rate_limited("k", 10.0, retry_after=3.0) == 3.0
    assert lim.peek("k", 10.0) == pytest.approx(3.0)
    assert lim.peek("other", 10.0) == 0.0
    # two callers: first waits out the block, the second is spaced by the learned interval
    assert lim.acquire("k", 10.0) == pytest.approx(3.0)
    assert lim.acquire("k", 10.0) == pytest.approx(3.2)
    # without Retry-After the strike count drives the backoff: 1 s, then 2 s
    lim2 = RouteLimiter(rand=lambda: 0.0)
    assert lim2.on_rate_limited("k", 0.0) == 1.0
    assert lim2.on_rate_limited("k", 1.0) == 2.0
    state = lim2.state("k")
    assert state is not None and state.strikes == 2 and state.interval == pytest.approx(0.4)


def test_limiter_forgets_on_first_success_after_the_block() -> None:
    """Five 429s, then the platform answers normally: the route is free again at once (was: ~40 s of
    spacing shrinking by 20 % per success)."""
    lim = RouteLimiter(rand=lambda: 0.0)
    now = 0.0
    for _ in range(5):
        now += lim.on_rate_limited("k", now)
    state = lim.state("k")
    assert state is not None and state.interval == pytest.approx(3.2)
    # a success that started before the block ended changes nothing
    assert lim.on_success("k", now - 1.0) is False
    assert lim.peek("k", now - 1.0) > 0
    epoch = lim.epoch("k")
    assert epoch != 0
    # queued callers had booked slots far ahead; one success after the block frees the route
    assert lim.acquire("k", now) == 0.0
    for _ in range(10):
        lim.acquire("k", now)
    assert lim.peek("k", now) > 30
    assert lim.on_success("k", now) is True
    assert lim.state("k") is None and lim.epoch("k") == 0
    assert lim.peek("k", now) == 0.0 and lim.acquire("k", now) == 0.0
    # a new episode is a new epoch: waiters can tell their booking is void
    lim.on_rate_limited("k", now, retry_after=1.0)
    assert lim.epoch("k") not in (0, epoch)


def test_retry_after_is_capped() -> None:
    lim = RouteLimiter(rand=lambda: 0.0)
    assert lim.on_rate_limited("k", 0.0, retry_after=3600.0) == MAX_RETRY_AFTER == 60.0
    assert lim.peek("k", 0.0) == pytest.approx(60.0)
    assert lim.peek("k", 60.0) == 0.0
    assert RouteLimiter(max_retry_after=5.0).on_rate_limited("k", 0.0, retry_after=30.0) == 5.0


def test_reservations_are_bounded() -> None:
    """Callers that would wait longer than their limit book nothing; nobody is booked past max_reservation."""
    lim = RouteLimiter(rand=lambda: 0.0, initial_interval=1.0)
    lim.on_rate_limited("k", 0.0, retry_after=5.0)
    assert lim.acquire("k", 0.0, max_wait=5.0) == pytest.approx(5.0)  # booked: next at 6
    for _ in range(1000):  # impatient callers give up without pushing anyone back
        assert lim.acquire("k", 0.0, max_wait=2.0) > 2.0
    assert lim.peek("k", 0.0) == pytest.approx(6.0)
    for _ in range(1000):  # patient callers queue, but never past max_reservation
        lim.acquire("k", 0.0)
    assert lim.peek("k", 0.0) <= lim.max_reservation + 1.0


def test_limiter_interval_is_capped() -> None:
    lim = RouteLimiter(rand=lambda: 0.0, max_interval=1.0)
    for i in range(20):
        lim.on_rate_limited("k", float(i), retry_after=0.0)
    state = lim.state("k")
    assert state is not None and state.interval == 1.0


def test_limiter_table_is_bounded() -> None:
    lim = RouteLimiter(rand=lambda: 0.0, max_routes=8)
    for i in range(100):
        lim.on_rate_limited(f"k{i}", 0.0, retry_after=1000.0)
    assert sum(1 for i in range(100) if lim.state(f"k{i}") is not None) <= 8
    assert lim.state("k99") is not None
