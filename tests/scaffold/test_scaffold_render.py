"""Render the template with the defaults and with each non-default option; check what is generated."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from cookiecutter.exceptions import FailedHookException  # type: ignore[import-untyped]

from framework.config import Settings, load_settings

Render = Callable[..., Path]
REPO = Path(__file__).resolve().parents[2]

COMMON = {
    ".env.example",
    ".github/workflows/ci.yml",
    ".gitignore",
    "README.md",
    "pyproject.toml",
    "qqbot.toml",
    "tests/conftest.py",
    "tests/test_bot.py",
}


def files(project: Path) -> set[str]:
    return {path.relative_to(project).as_posix() for path in project.rglob("*") if path.is_file()}


def package_files(package: str, *, plugin: bool = True) -> set[str]:
    found = {f"src/{package}/__init__.py", f"src/{package}/bot.py", f"src/{package}/py.typed"}
    if plugin:
        found |= {f"src/{package}/plugin.py", "tests/test_plugin.py"}
    return found


def read(project: Path, relative: str) -> str:
    return (project / relative).read_text(encoding="utf-8")


def example_env(project: Path) -> dict[str, str]:
    """``.env.example`` as a mapping (comments skipped)."""
    lines = read(project, ".env.example").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def settings(project: Path) -> Settings:
    """What the framework's config loader makes of ``qqbot.toml`` plus a filled-in ``.env``."""
    env = example_env(project) | {"QQBOT_APP_ID": "102000001", "QQBOT_APP_SECRET": "not-a-real-secret"}
    return load_settings(project / "qqbot.toml", environ=env)


def check_well_formed(project: Path) -> None:
    """Every generated file parses, the framework accepts the config, ruff (lint + format) accepts the code."""
    for path in project.rglob("*.py"):
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    pyproject = tomllib.loads(read(project, "pyproject.toml"))
    assert pyproject["project"]["requires-python"] == ">=3.11"
    workflow = yaml.safe_load(read(project, ".github/workflows/ci.yml"))
    steps = [step.get("run", "") for step in workflow["jobs"]["check"]["steps"]]
    assert {"ruff check .", "ruff format --check .", "mypy", "pytest"} <= set(steps)
    env = example_env(project)
    assert env["QQBOT_APP_ID"] == "" and env["QQBOT_APP_SECRET"] == ""
    assert settings(project).bot.has_credentials
    for command in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command], cwd=project, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_defaults(render: Render) -> None:
    project = render()
    assert project.name == "my-bot"
    assert files(project) == COMMON | package_files("my_bot")
    check_well_formed(project)

    bot = read(project, "src/my_bot/bot.py")
    assert 'bot = Bot(\n    "My Bot",\n' in bot
    assert '@bot.command("ping", scenes=SCENES)' in bot and 'await ctx.reply("pong")' in bot
    assert 'SCENES: tuple[str, ...] = ("channel", "group", "c2c")' in read(project, "src/my_bot/__init__.py")
    for decorator in ("@bot.on_at_message", "@bot.on_group_at_message", "@bot.on_c2c_message"):
        assert decorator in bot
    assert "@bot.on_direct_message" not in bot

    tests = read(project, "tests/test_bot.py")
    assert "from framework.testing import connect" in tests
    assert 'chat.group("g1").user("alice").at("/ping")' in tests
    assert 'assert await chat.replies() == ["pong"]' in tests
    assert "chat.dm(" not in tests

    pyproject = tomllib.loads(read(project, "pyproject.toml"))
    assert pyproject["project"]["name"] == "my-bot"
    assert pyproject["project"]["dependencies"] == ["qqbot-framework>=0.1.0"]
    assert pyproject["project"]["entry-points"]["qqbot.plugins"] == {"my_bot": "my_bot.plugin"}
    assert pyproject["tool"]["mypy"]["strict"] is True
    assert "ruff" in pyproject["tool"]

    readme = read(project, "README.md")
    assert (
        '$ python3 -m venv .venv && .venv/bin/pip install -e ".[dev]"\n$ .venv/bin/qqbot run my_bot.bot:bot\n' in readme
    )
    assert "**now: the package index**" in readme and "vendor/" in readme
    assert settings(project).bot.transport == "websocket"
    assert 'config={"plugins": {"enabled": ["my_bot"]}}' in bot


def test_bot_name_derives_package_and_directory(render: Render) -> None:
    project = render(bot_name="Echo Bot 2", include_plugin="no")
    assert project.name == "echo-bot-2"
    assert files(project) == COMMON | package_files("echo_bot_2", plugin=False)
    assert 'bot = Bot("Echo Bot 2")' in read(project, "src/echo_bot_2/bot.py")


def test_explicit_package_and_slug(render: Render) -> None:
    project = render(package_name="helper", project_slug="qq-helper-bot")
    assert project.name == "qq-helper-bot"
    assert files(project) == COMMON | package_files("helper")
    assert tomllib.loads(read(project, "pyproject.toml"))["project"]["name"] == "qq-helper-bot"


SCENES: dict[str, tuple[str, str]] = {
    "scene_guild": ("@bot.on_at_message", 'chat.channel("c1").user("bob").at("/ping")'),
    "scene_group": ("@bot.on_group_at_message", 'chat.group("g1").user("alice").at("/ping")'),
    "scene_c2c": ("@bot.on_c2c_message", 'chat.c2c("u1").say("/ping")'),
    "scene_dm": ("@bot.on_direct_message", 'chat.dm("u2").say("/ping")'),
}
# the framework's Scene value and the intent each option adds
SCENE_VALUES = {"scene_guild": "channel", "scene_group": "group", "scene_c2c": "c2c", "scene_dm": "dm"}
SCENE_INTENTS = {
    "scene_guild": "Intents.PUBLIC_GUILD_MESSAGES",
    "scene_group": "Intents.GROUP_AND_C2C_EVENT",
    "scene_c2c": "Intents.GROUP_AND_C2C_EVENT",
    "scene_dm": "Intents.DIRECT_MESSAGE",
}


@pytest.mark.parametrize("scene", sorted(SCENES))
def test_single_scene(render: Render, scene: str) -> None:
    options: dict[str, Any] = dict.fromkeys(SCENES, "no")
    options[scene] = "yes"
    project = render(**options)
    assert files(project) == COMMON | package_files("my_bot")
    check_well_formed(project)
    bot, tests = read(project, "src/my_bot/bot.py"), read(project, "tests/test_bot.py")
    for other, (decorator, ping) in SCENES.items():
        assert (decorator in bot) == (other == scene)
        assert (ping in tests) == (other == scene)
    # commands answer only in the chosen scene, so the bot asks for that scene's intent only
    package = read(project, "src/my_bot/__init__.py")
    assert f'SCENES: tuple[str, ...] = ("{SCENE_VALUES[scene]}",)' in package
    assert f"assert bot.intents == {SCENE_INTENTS[scene]}\n" in tests
    # the plugin test talks to the bot in the one scene it handles
    about = SCENES[scene][1].replace("/ping", "/about")
    assert about in read(project, "tests/test_plugin.py")


@pytest.mark.parametrize("scene", ["scene_guild", "scene_group", "scene_c2c"])
def test_default_scene_switched_off(render: Render, scene: str) -> None:
    project = render(**{scene: "no"})
    decorator, ping = SCENES[scene]
    assert decorator not in read(project, "src/my_bot/bot.py")
    assert ping not in read(project, "tests/test_bot.py")
    check_well_formed(project)


def test_dm_switched_on(render: Render) -> None:
    project = render(scene_dm="yes")
    assert "@bot.on_direct_message" in read(project, "src/my_bot/bot.py")
    assert "from framework.models import C2CMessage, DirectMessage, GroupMessage, Message" in read(
        project, "src/my_bot/bot.py"
    )
    check_well_formed(project)


def test_webhook_transport(render: Render) -> None:
    project = render(transport="webhook", webhook_port="9000")
    assert files(project) == COMMON | package_files("my_bot")
    check_well_formed(project)
    pyproject = tomllib.loads(read(project, "pyproject.toml"))
    assert pyproject["project"]["dependencies"] == ["qqbot-framework[webhook]>=0.1.0"]
    assert "$ qqbot run my_bot.bot:bot --transport webhook --port 9000\n" in read(project, "README.md")
    assert example_env(project)["QQBOT_WEBHOOK_PORT"] == "9000"
    loaded = settings(project)
    assert loaded.bot.transport == "webhook" and loaded.webhook.port == 9000


def test_without_plugin(render: Render) -> None:
    project = render(include_plugin="no")
    assert files(project) == COMMON | package_files("my_bot", plugin=False)
    check_well_formed(project)
    assert "entry-points" not in tomllib.loads(read(project, "pyproject.toml"))["project"]
    assert "plugin.py" not in read(project, "README.md")
    assert "config=" not in read(project, "src/my_bot/bot.py")


def test_redis_event_bus(render: Render) -> None:
    project = render(event_bus="redis", redis_url="redis://cache:6380/1")
    assert files(project) == COMMON | package_files("my_bot") | {"docker-compose.yml"}
    check_well_formed(project)
    env = example_env(project)
    assert env["QQBOT_EVENT_BUS"] == "redis" and env["QQBOT_REDIS_URL"] == "redis://cache:6380/1"
    assert '# url = "redis://cache:6380/1"' in read(project, "qqbot.toml")
    assert "not released yet" in read(project, "README.md")
    compose = yaml.safe_load(read(project, "docker-compose.yml"))
    assert compose["services"]["redis"]["image"].startswith("redis:")


def test_framework_from_local_path(render: Render) -> None:
    project = render(framework_path=str(REPO))
    check_well_formed(project)
    pyproject = tomllib.loads(read(project, "pyproject.toml"))
    assert pyproject["project"]["dependencies"] == [f"qqbot-framework @ {REPO.as_uri()}"]
    assert pyproject["tool"]["hatch"]["metadata"]["allow-direct-references"] is True


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"package_name": "my-bot"}, "package_name 'my-bot' is not a valid Python package name"),
        ({"package_name": "2fast"}, "package_name=bot_2fast"),
        ({"package_name": "class"}, "is a Python keyword"),
        ({"package_name": "json"}, "would shadow an existing module"),
        ({"project_slug": "-bad-"}, "project_slug '-bad-' is not a valid distribution name"),
        ({"bot_name": 'say "hi"'}, "without double quotes or backslashes"),
        (dict.fromkeys(SCENES, "no"), "choose at least one scene"),
        ({"transport": "webhook", "webhook_port": "http"}, "webhook_port 'http' must be a port number"),
        ({"event_bus": "redis", "redis_url": "localhost:6379"}, "must be a redis://, rediss:// or unix:// URL"),
        ({"framework_path": "relative/path"}, "must be an absolute path"),
        ({"framework_path": "/nonexistent/qqbot"}, "is neither a qqbot-framework checkout"),
        ({"framework_path": "/nonexistent/qqbot_framework-0.1.0-py3-none-any.whl"}, "is not a qqbot-framework wheel"),
        ({"framework_path": "/tmp/other-1.0-py3-none-any.whl"}, "is not a qqbot-framework wheel"),
    ],
)
def test_pre_gen_hook_rejects_bad_options(
    render: Render, tmp_path: Path, capfd: pytest.CaptureFixture[str], options: dict[str, str], message: str
) -> None:
    with pytest.raises(FailedHookException):
        render(**options)
    err = capfd.readouterr().err
    assert "qqbot new: error:" in err and message in err
    assert not any((tmp_path / "out").glob("*/pyproject.toml")), "a rejected project must not be left behind"


def test_bad_package_name_message_is_exact(render: Render, capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(FailedHookException):
        render(package_name="my bot")
    assert capfd.readouterr().err.splitlines()[0] == (
        "qqbot new: error: package_name 'my bot' is not a valid Python package name: use lowercase letters, "
        "digits and underscores, not starting with a digit (for example package_name=my_bot)."
    )


def test_framework_from_a_wheel_is_vendored(render: Render, tmp_path: Path) -> None:
    wheel = tmp_path / "dist" / "qqbot_framework-0.1.0-py3-none-any.whl"
    wheel.parent.mkdir()
    wheel.write_bytes(b"PK\x05\x06" + bytes(18))  # the hook copies the file; what is inside is not its concern
    project = render(framework_path=str(wheel), transport="webhook")
    assert files(project) == COMMON | package_files("my_bot") | {f"vendor/{wheel.name}"}
    assert (project / "vendor" / wheel.name).read_bytes() == wheel.read_bytes()
    check_well_formed(project)  # ruff accepts the "{root:uri}" reference in pyproject.toml
    pyproject = tomllib.loads(read(project, "pyproject.toml"))
    assert pyproject["project"]["dependencies"] == [f"qqbot-framework[webhook] @ {{root:uri}}/vendor/{wheel.name}"]
    assert pyproject["tool"]["hatch"]["metadata"]["allow-direct-references"] is True
    assert "**now: a wheel in `vendor/`**" in read(project, "README.md")
    assert "commit that directory" in read(project, ".github/workflows/ci.yml")


def test_framework_from_a_checkout_is_explained(render: Render) -> None:
    project = render(framework_path=str(REPO))
    assert not (project / "vendor").exists()
    readme = read(project, "README.md")
    assert f"**now: a local checkout** (`{REPO}`)" in readme
    assert f"pip wheel --no-deps -w vendor {REPO}" in readme
    assert "RUF200" not in read(project, "pyproject.toml")
