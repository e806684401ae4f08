"""docs/event-bus.md: every ``qqbot`` command it shows parses, with a valid ``--bus`` URL (the Python blocks run in
tests/test_docs.py; the commands themselves run as processes in test_bus_processes.py)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from framework.bus import check_bus_url
from framework.bus.nats_url import parse_nats_bus_url
from framework.bus.redis import parse_redis_bus_url
from framework.cli import build_parser
from framework.runtime.gateway.sessions.select import check_sessions

PAGE = Path(__file__).resolve().parents[2] / "docs" / "event-bus.md"
_BASH = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)


def _commands() -> list[str]:
    text = PAGE.read_text(encoding="utf-8")
    lines = [line.strip() for block in _BASH.findall(text) for line in block.splitlines()]
    return [line for line in lines if line.startswith("qqbot ")]


def test_the_page_shows_both_commands() -> None:
    assert {c.split()[1] for c in _commands()} == {"gateway", "worker"}


@pytest.mark.parametrize("command", _commands())
def test_a_documented_command_parses(command: str) -> None:
    args = build_parser(emulator_options=False).parse_args(shlex.split(command)[1:])
    backend = check_bus_url(args.bus)
    config = parse_redis_bus_url(args.bus) if backend == "redis" else parse_nats_bus_url(args.bus)
    if "maxlen=" in args.bus:
        assert config.partitions == 32 and config.maxlen == 200_000
    if getattr(args, "sessions", None):
        assert check_sessions(args.sessions)


def test_bus_urls_are_checked_with_the_fix() -> None:
    assert check_bus_url("nats://127.0.0.1:4222?partitions=4") == "nats"
    with pytest.raises(ValueError, match="expected redis://HOST:PORT/DB or nats://HOST:PORT"):
        check_bus_url("kafka://127.0.0.1:9092")
    with pytest.raises(ValueError, match=r"lease_ttl=0: expected seconds in 1\.\.300"):
        check_bus_url("nats://127.0.0.1:4222?lease_ttl=0")
