"""The three example plugin packages: discovered through entry points, working together, own tests green."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from framework.app import Bot
from framework.clock import VirtualClock
from framework.models import Intents
from framework.plugins import ENTRY_POINT_GROUP
from framework.testing.recording import RecordingApi, c2c, group_at

ROOT = Path(__file__).parents[2]
PACKAGES = sorted(p for p in (ROOT / "plugins_example").iterdir() if (p / "pyproject.toml").exists())
EXPECTED = {"ping": "qqbot_ping", "antispam": "qqbot_antispam", "keyword_reply": "qqbot_keyword_reply"}


@pytest.fixture(scope="module", autouse=True)
def example_plugins_installed() -> None:
    """The CI script pip-installs plugins_example/*; install them here when a developer has not."""
    found = {ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    missing = []
    for package in PACKAGES:
        declared = tomllib.loads((package / "pyproject.toml").read_text())["project"]["entry-points"][ENTRY_POINT_GROUP]
        if set(declared) - found:
            missing.append(package)
    for package in missing:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(package)],
            check=True,
        )
        # the editable install's .pth file is only read by new interpreters
        sys.path.insert(0, str(package))
    importlib.invalidate_caches()


def test_each_package_is_complete() -> None:
    assert [p.name for p in PACKAGES] == ["qqbot-antispam", "qqbot-keyword-reply", "qqbot-ping"]
    for package in PACKAGES:
        meta = tomllib.loads((package / "pyproject.toml").read_text())
        assert (package / "README.md").exists() and list((package / "tests").glob("test_*.py"))
        assert "qqbot-framework" in meta["project"]["dependencies"]


def test_discovered_through_the_entry_point_group() -> None:
    eps = {ep.name: ep.value for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    assert {name: eps.get(name) for name in EXPECTED} == EXPECTED


CONFIG = """
[plugins]
enabled = ["ping", "antispam", "keyword_reply"]

[plugins.antispam]
max_messages = 3
per_seconds = 60

[plugins.keyword_reply]
scenes = ["group"]
[[plugins.keyword_reply.rules]]
keyword = "hello"
reply = "hi!"
"""


@pytest.mark.anyio
async def test_the_three_plugins_together_from_a_toml_config() -> None:
    clock = VirtualClock()
    bot = Bot(config=tomllib.loads(CONFIG), clock=clock)
    api = RecordingApi()
    async with bot.running(api):
        assert sorted(bot.plugins.names) == ["antispam", "keyword_reply", "ping"]
        assert bot.plugins.failures == []
        # ping's commands serve every scene; keyword_reply listens in groups
        assert bot.intents == Intents.PUBLIC_GUILD_MESSAGES | Intents.DIRECT_MESSAGE | Intents.GROUP_AND_C2C_EVENT
        await bot.dispatch(group_at("/ping", msg_id="m1", member="A"))
        await bot.dispatch(group_at("hello bot", msg_id="m2", member="A"))
        await bot.dispatch(c2c("/echo hey", msg_id="c1", user="A"))
        await bot.dispatch(c2c("/ping", msg_id="c2", user="A"))  # 4th message from A in the window: dropped
        await bot.dispatch(c2c("/ping", msg_id="c3", user="B"))
    assert api.texts() == ["pong", "hi!", "hey", "Slow down, please.", "pong"]


@pytest.mark.parametrize("package", PACKAGES, ids=[p.name for p in PACKAGES])
def test_the_package_own_tests_pass(package: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:benchmark", str(package / "tests")],
        capture_output=True,
        text=True,
        cwd=package,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
