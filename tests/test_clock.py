"""framework.clock.fail_after: bounding an operation by an injected clock's time."""

from __future__ import annotations

import anyio
import pytest

from framework.clock import SystemClock, VirtualClock, fail_after

pytestmark = pytest.mark.anyio


async def test_returns_the_result_in_time() -> None:
    clock = VirtualClock()

    async def quick() -> str:
        await clock.sleep(1)
        return "done"

    assert await fail_after(clock, 5, quick) == "done"


async def test_times_out_on_the_clock_not_in_real_time() -> None:
    clock = VirtualClock()

    async def forever() -> None:
        await anyio.sleep_forever()

    with anyio.fail_after(5):  # real seconds: the virtual deadline must come first
        with pytest.raises(TimeoutError, match="after 30"):
            await fail_after(clock, 30, forever)
    assert clock.monotonic() == 30


async def test_errors_propagate_unwrapped() -> None:
    async def broken() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        await fail_after(VirtualClock(), 5, broken)
    with pytest.raises(KeyError, match="boom"):
        await fail_after(SystemClock(), 5, broken)


async def test_system_clock_uses_real_time() -> None:
    async def forever() -> None:
        await anyio.sleep_forever()

    with pytest.raises(TimeoutError):
        await fail_after(SystemClock(), 0.01, forever)
