"""docs/event-bus.md: every ``qqbot`` command it shows parses, with a valid ``--bus`` URL (the Python blocks run in
tests/test_docs.py; the commands themselves run as processes in test_bus_processes.py)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from framework.bus import check_bus_url
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
    assert check_bus_url(args.bus) == "redis"
    config = parse_redis_bus_url(args.bus)
    if "?" in args.bus:
        assert config.partitions == 32 and config.maxlen == 200_000
    if getattr(args, "sessions", None):
        assert check_sessions(args.sessions)


def test_a_nats_url_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="not available yet; use redis://"):
        check_bus_url("nats://127.0.0.1:4222")
