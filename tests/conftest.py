from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from _redis import RedisServer, redis_binary


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every ``@pytest.mark.anyio`` test on asyncio and on trio unless a module overrides it."""
    return str(request.param)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A ``redis-server`` of the test's own (tests/_redis.py), stopped after the test; a missing binary fails
    with the fix (never a skip)."""
    directory = tmp_path / "redis"
    directory.mkdir()
    try:
        binary = redis_binary()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    server = RedisServer(binary, directory)
    server.start()
    try:
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.proc.send_signal(signal.SIGCONT)  # a test may have left it stopped (SIGSTOP: a paused bus)
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of :func:`redis_server`."""
    return redis_server.url
