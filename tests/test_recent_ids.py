"""framework.protocol.recent_ids: the one bounded "seen lately" window (webhook redelivery, interaction acks)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework.clock import VirtualClock
from framework.protocol.recent_ids import RecentIds


def test_window_is_bounded_by_size_and_age() -> None:
    clock = VirtualClock()
    recent = RecentIds(max_size=3, ttl=10, now=clock.monotonic)
    assert all(recent.add(k) for k in "abc")
    assert not recent.add("a")
    assert recent.add("d")  # evicts the oldest ("a")
    assert len(recent) == 3 and "a" not in recent
    assert recent.add("a")
    clock.advance(10)
    assert "b" not in recent and len(recent) == 0
    recent.add("x")
    recent.discard("x")
    assert recent.add("x")


def test_size_only_window_never_reads_the_time() -> None:
    recent = RecentIds(2)
    assert [recent.seen(k) for k in ["a", "a", "b", "c", "a"]] == [False, True, False, False, False]
    assert len(recent) == 2 and recent.max_size == 2


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="max_size"):
        RecentIds(0)
    with pytest.raises(ValueError, match="now"):
        RecentIds(5, ttl=1.0)


@given(st.lists(st.integers(0, 20), max_size=200), st.integers(1, 8))
def test_matches_a_model_of_the_last_n_distinct_keys(keys: list[int], size: int) -> None:
    recent = RecentIds(size)
    model: list[int] = []  # insertion order of the remembered keys
    for key in keys:
        new = key not in model
        assert recent.add(key) is new
        if new:
            model.append(key)
            del model[:-size]
    assert len(recent) == len(model)
    assert all(k in recent for k in model)


@given(
    st.lists(st.tuples(st.sampled_from(["add", "discard", "wait"]), st.integers(0, 9)), max_size=200),
    st.integers(1, 6),
)
def test_matches_a_model_with_discards_and_ageing(ops: list[tuple[str, int]], size: int) -> None:
    clock = VirtualClock()
    recent = RecentIds(size, ttl=5.0, now=clock.monotonic)
    model: dict[int, float] = {}  # key -> when added, in insertion order
    for op, key in ops:
        now = clock.monotonic()
        model = {k: t for k, t in model.items() if now - t < 5.0}
        if op == "wait":
            clock.advance(key)
        elif op == "discard":
            recent.discard(key)
            model.pop(key, None)
        else:
            assert recent.add(key) is (key not in model)
            if key not in model:
                model[key] = now
                while len(model) > size:
                    del model[next(iter(model))]
        now = clock.monotonic()
        live = {k for k, t in model.items() if now - t < 5.0}
        assert {k for k in range(10) if k in recent} == live
