"""The fleet planner (framework.protocol.fleet) with plain values: quotas, plans, lease timing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework.protocol.fleet import LeaseTiming, holders_from, plan, quotas, spread_order


def test_quotas_split_evenly_and_agree_whatever_the_order() -> None:
    assert quotas(["b", "a"], 20) == {"a": 10, "b": 10}
    assert quotas(["c", "a", "b"], 20) == {"a": 7, "b": 7, "c": 6}
    assert quotas(["b", "c", "a"], 20) == quotas(["a", "b", "c"], 20)
    assert quotas([], 5) == {}
    assert quotas(["a", "b", "c"], 2) == {"a": 1, "b": 1, "c": 0}


@given(st.sets(st.text(min_size=1, max_size=5), min_size=1, max_size=12), st.integers(0, 64))
def test_quotas_add_up_and_differ_by_at_most_one(members: set[str], count: int) -> None:
    q = quotas(members, count)
    assert sum(q.values()) == count
    assert max(q.values()) - min(q.values()) <= 1


def test_a_newcomer_takes_free_shards_up_to_its_target() -> None:
    holders: dict[int, str | None] = dict.fromkeys(range(4))
    p = plan("a", ["a"], holders, 4)
    assert p.target == 4 and sorted(p.acquire) == [0, 1, 2, 3] and p.release == ()


def test_a_process_above_its_target_hands_over_max_moves_per_round_highest_first() -> None:
    holders: dict[int, str | None] = {s: ("a" if s < 10 else "b") for s in range(20)}
    p = plan("a", ["a", "b", "c"], holders, 20, max_moves=1)
    assert p.target == 7 and p.release == (9,) and p.acquire == ()
    p = plan("a", ["a", "b", "c"], holders, 20, max_moves=5)
    assert p.release == (9, 8, 7)


def test_only_shards_at_a_safe_point_are_handed_over() -> None:
    holders: dict[int, str | None] = {0: "a", 1: "a", 2: "a", 3: "b"}
    assert plan("a", ["a", "b", "c"], holders, 4, movable=[0]).release == (0,)
    assert plan("a", ["a", "b", "c"], holders, 4, movable=[]).release == ()


def test_a_dead_members_lease_is_left_to_expire() -> None:
    holders: dict[int, str | None] = {0: "a", 1: "dead", 2: None, 3: None}
    p = plan("a", ["a"], holders, 4)
    assert sorted(p.acquire) == [2, 3]  # not 1: its lease is still live in Redis


def test_a_balanced_fleet_does_nothing() -> None:
    holders: dict[int, str | None] = {s: "abc"[s % 3] for s in range(20)}
    for me in "abc":
        p = plan(me, "abc", holders, 20)
        assert p.acquire == () and p.release == ()


@given(st.integers(1, 6), st.integers(1, 30), st.randoms(use_true_random=False))
def test_rounds_converge_to_the_quotas_and_never_double_assign(n: int, m: int, rnd: object) -> None:
    import random

    assert isinstance(rnd, random.Random)
    members = [f"p{i}" for i in range(n)]
    holders: dict[int, str | None] = {s: rnd.choice([None, *members]) for s in range(m)}
    for _ in range(4 * m + 4):
        for me in rnd.sample(members, n):
            p = plan(me, members, holders, m, max_moves=1)
            for s in p.release:
                assert holders[s] == me
                holders[s] = None
            for s in p.acquire:
                if holders[s] is None:  # the lease is taken with SET NX: the first one wins
                    holders[s] = me
    counts = {me: sum(1 for h in holders.values() if h == me) for me in members}
    assert counts == quotas(members, m)


def test_spread_order_differs_between_members() -> None:
    assert sorted(spread_order("a", range(10))) == list(range(10))
    assert spread_order("a", range(10)) != spread_order("b", range(10))


def test_lease_timing_stops_before_the_lease_can_expire_elsewhere() -> None:
    t = LeaseTiming(ttl=10.0, renew_every=2.0, drift=0.01, margin=2.0)
    assert t.serve_window() == pytest.approx(7.9)
    assert t.serve_until(100.0) == pytest.approx(107.9)
    # the renewal reached Redis 0.3 s after it was sent and the holder's clock runs 1 % slow:
    # the holder stops (plus the margin to close) before Redis lets the lease go
    redis_expiry = 100.3 + 10.0
    holder_stop_in_redis_time = 100.0 + (t.serve_until(100.0) - 100.0) / 0.99 + t.margin
    assert holder_stop_in_redis_time < redis_expiry
    assert t.ttl_ms == 10_000


def test_lease_timing_refuses_a_ttl_that_buys_no_service() -> None:
    with pytest.raises(ValueError, match="raise the ttl"):
        LeaseTiming(ttl=3.0, renew_every=1.0, margin=2.5)
    with pytest.raises(ValueError, match="positive"):
        LeaseTiming(ttl=0.0)
    t = LeaseTiming.for_ttl(4.0)
    assert t.renew_every == pytest.approx(0.8) and t.margin == pytest.approx(1.0)


def test_holders_from_lease_values() -> None:
    assert holders_from(["p1 3", None, "host:9 12", ""]) == {0: "p1", 1: None, 2: "host:9", 3: None}


def test_a_machine_restores_a_handed_over_session_and_resumes_it() -> None:
    from framework.protocol.gateway import Authenticate, GatewayMachine, SendFrame

    m = GatewayMachine(3, 8, 1)
    assert m.restore_session("sess-1", 41)
    m.connection_opened(0.0)
    actions = m.receive('{"op": 10, "d": {"heartbeat_interval": 40000}}', 0.0)
    assert actions == [Authenticate(resume=True)]
    (frame,) = m.resume("tok", 0.0)
    assert isinstance(frame, SendFrame) and '"session_id":"sess-1"' in frame.data and '"seq":41' in frame.data
    assert not m.restore_session("other", 1)  # not while a connection is authenticating
    assert not GatewayMachine().restore_session("", 1)
