"""Install generated projects into fresh virtual environments and run their own checks (slow: ~1 min).

A fresh venv (``--system-site-packages``, so the framework's dependencies come from this interpreter,
offline) gets the framework from this checkout (``pip install --no-deps -e``) and each generated
project (``pip install --no-deps -e``); then each project's pytest, ruff and mypy must pass.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

Render = Callable[..., Path]

REPO = Path(__file__).resolve().parents[2]

# Together these switch every option away from its default at least once, and test each scene alone.
VARIANTS: dict[str, dict[str, str]] = {
    "defaults": {},
    "dm-webhook-redis": {
        "bot_name": "Dm Bot",
        "scene_guild": "no",
        "scene_group": "no",
        "scene_c2c": "no",
        "scene_dm": "yes",
        "transport": "webhook",
        "event_bus": "redis",
        "include_plugin": "no",
    },
    "guild-local-framework": {
        "bot_name": "Guild Bot",
        "scene_group": "no",
        "scene_c2c": "no",
        "framework_path": str(REPO),
    },
    "group-webhook-plugin": {
        "bot_name": "Group Bot",
        "package_name": "groupie",
        "project_slug": "groupie-bot",
        "scene_guild": "no",
        "scene_c2c": "no",
        "transport": "webhook",
        "webhook_port": "9090",
    },
    "c2c-redis": {"bot_name": "C2C Bot", "scene_guild": "no", "scene_group": "no", "event_bus": "redis"},
}


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=600)
    assert result.returncode == 0, f"{' '.join(command)} failed in {cwd}:\n{result.stdout}\n{result.stderr}"
    return result


def _clean_env() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "PYTEST_ADDOPTS"} and not key.startswith("QQBOT_")
    }
    env["PIP_NO_INPUT"] = "1"
    return env


@dataclass(frozen=True)
class Venv:
    python: str
    env: dict[str, str]


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """One fresh venv with the framework from this checkout, shared by the variants of this module.

    Each variant has its own package and entry-point names, so installing them side by side cannot
    make one project's tests see another's plugin (plugins load only when a bot enables them by name).
    The mypy cache is shared too, so the framework is analysed once.
    """
    root = tmp_path_factory.mktemp("scaffold-venv")
    env = _clean_env()
    path = root / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", str(path)], root, env)
    env["VIRTUAL_ENV"] = str(path)
    env["PATH"] = f"{path / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["MYPY_CACHE_DIR"] = str(root / "mypy-cache")
    python = str(path / "bin" / "python")
    _run([python, "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(REPO)], root, env)
    return Venv(python, env)


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_generated_project_passes_its_own_checks(render: Render, venv: Venv, variant: str) -> None:
    project = render(**VARIANTS[variant])
    python, env = venv.python, venv.env
    _run([python, "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(project)], project.parent, env)

    tests = _run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project, env)
    assert " passed" in tests.stdout and "failed" not in tests.stdout
    assert "skipped" not in tests.stdout, tests.stdout
    _run([python, "-m", "ruff", "check", "--no-cache", "."], project, env)
    _run([python, "-m", "ruff", "format", "--check", "--no-cache", "."], project, env)
    _run([python, "-m", "mypy"], project, env)
    # the framework's own view: qqbot.toml is valid, the bot loads, the local plugin is enabled
    (package,) = (path.parent.name for path in (project / "src").glob("*/__init__.py"))
    check = _run([python, "-m", "framework", "check", f"{package}.bot:bot"], project, env)
    plugin_line = next(line for line in check.stdout.splitlines() if line.startswith("plugins:"))
    assert (package in plugin_line) == (VARIANTS[variant].get("include_plugin") != "no"), check.stdout


@pytest.mark.slow
def test_wheel_ships_the_template(tmp_path: Path, cookiecutter_config: Path) -> None:
    """``qqbot new`` works from an installed wheel: the template is packaged as ``framework/_scaffold``."""
    if "framework/_scaffold" not in (REPO / "pyproject.toml").read_text(encoding="utf-8"):
        pytest.skip("pyproject.toml does not force-include cookiecutter-template as framework/_scaffold yet")
    env = _clean_env()
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), str(REPO)], tmp_path, env)
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], tmp_path, env)
    python = str(venv / "bin" / "python")
    (wheel,) = wheels.glob("qqbot_framework-*.whl")
    _run([python, "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)], tmp_path, env)
    script = (
        "import argparse, sys\n"
        "from framework.cli import new\n"
        "print(new.template_dir())\n"
        "parser = argparse.ArgumentParser()\n"
        "new.add_parser(parser.add_subparsers())\n"
        "sys.exit(new.run(parser.parse_args(sys.argv[1:])))\n"
    )
    out = tmp_path / "out"
    result = _run([python, "-c", script, "new", "--no-input", "-o", str(out), "bot_name=Wheel Bot"], tmp_path, env)
    assert result.stdout.splitlines()[0].endswith("site-packages/framework/_scaffold")
    assert (out / "wheel-bot" / "src" / "wheel_bot" / "bot.py").is_file()
    assert (out / "wheel-bot" / ".github" / "workflows" / "ci.yml").is_file()
