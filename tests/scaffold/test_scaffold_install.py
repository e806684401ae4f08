"""Install generated projects into fresh, isolated virtual environments and run their own checks (slow).

Every venv here is created without system site packages, so nothing installed outside this
project's environment (the base interpreter's packages) can make a test pass: what a venv needs is
installed explicitly, from the package index or from this checkout. Each venv is checked for that
isolation before it is used.

- The template variants share one venv with the framework installed from this checkout; each
  project's pytest, ruff, mypy and ``qqbot check`` must pass.
- ``qqbot new`` run from the checkout, and ``qqbot new`` run from an installed wheel of the
  framework, each produce a project that installs, with its dependencies, into a fresh venv and
  passes the same checks its generated CI runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from framework.cli import new

Render = Callable[..., Path]

REPO = Path(__file__).resolve().parents[2]
DEV_TOOLS = ["pytest>=8", "ruff>=0.6", "mypy>=1.11"]

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
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=900)
    assert result.returncode == 0, f"{' '.join(command)} failed in {cwd}:\n{result.stdout}\n{result.stderr}"
    return result


def _clean_env() -> dict[str, str]:
    """This process's environment without what would leak this venv or the user's settings into a child."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "PYTEST_ADDOPTS", "VIRTUAL_ENV", "PYTHONHOME", "PIP_USER"}
        and not key.startswith("QQBOT_")
    }
    env["PIP_NO_INPUT"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PYTHONNOUSERSITE"] = "1"
    return env


@dataclass(frozen=True)
class Venv:
    path: Path
    env: dict[str, str]

    @property
    def python(self) -> str:
        return str(self.path / "bin" / "python")

    def run(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return _run([self.python, *args], cwd, self.env)

    def pip_install(self, *args: str, cwd: Path) -> None:
        self.run("-m", "pip", "install", "--quiet", *args, cwd=cwd)


def _base_site_packages() -> set[str]:
    """The base interpreter's site-packages directories (what system site packages would add)."""
    paths = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_exec_prefix})
    return {str(Path(paths["purelib"]).resolve()), str(Path(paths["platlib"]).resolve())}


def isolated_venv(path: Path) -> Venv:
    """A new venv at ``path`` that cannot import the base interpreter's packages (checked, not assumed)."""
    env = _clean_env()
    _run([sys.executable, "-m", "venv", str(path)], path.parent, env)
    config = (path / "pyvenv.cfg").read_text(encoding="utf-8")
    assert "include-system-site-packages = false" in config, config
    venv = Venv(path, env | {"VIRTUAL_ENV": str(path), "PATH": f"{path / 'bin'}{os.pathsep}{env.get('PATH', '')}"})
    probe = venv.run("-c", "import json, sys; print(json.dumps(sys.path))", cwd=path.parent)
    seen = {str(Path(entry).resolve()) for entry in json.loads(probe.stdout) if entry}
    assert not seen & _base_site_packages(), f"{path} sees the base interpreter's packages: {sorted(seen)}"
    return venv


def check_project(venv: Venv, project: Path, *, plugin: bool = True) -> None:
    """What the generated CI runs (ruff, ruff format, mypy, pytest), then ``qqbot check`` on the bot."""
    tests = venv.run("-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)
    assert " passed" in tests.stdout and "failed" not in tests.stdout
    assert "skipped" not in tests.stdout, tests.stdout
    venv.run("-m", "ruff", "check", "--no-cache", ".", cwd=project)
    venv.run("-m", "ruff", "format", "--check", "--no-cache", ".", cwd=project)
    venv.run("-m", "mypy", cwd=project)
    # the framework's own view: qqbot.toml is valid, the bot loads, the local plugin is enabled
    (package,) = (path.parent.name for path in (project / "src").glob("*/__init__.py"))
    check = venv.run("-m", "framework", "check", f"{package}.bot:bot", cwd=project)
    plugin_line = next(line for line in check.stdout.splitlines() if line.startswith("plugins:"))
    assert (package in plugin_line) == plugin, check.stdout


def framework_origin(venv: Venv, cwd: Path) -> str:
    """Where pip installed qqbot-framework from in ``venv`` (the ``direct_url.json`` URL)."""
    script = (
        "import importlib.metadata as m, json\n"
        "print(json.loads(m.distribution('qqbot-framework').read_text('direct_url.json') or '{}').get('url', ''))"
    )
    return venv.run("-c", script, cwd=cwd).stdout.strip()


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """One isolated venv with the framework from this checkout, shared by the variants of this module.

    Each variant has its own package and entry-point names, so installing them side by side cannot
    make one project's tests see another's plugin (plugins load only when a bot enables them by name).
    The mypy cache is shared too, so the framework is analysed once.
    """
    root = tmp_path_factory.mktemp("scaffold-venv")
    shared = isolated_venv(root / "venv")
    shared.env["MYPY_CACHE_DIR"] = str(root / "mypy-cache")
    shared.pip_install("-e", f"{REPO}[webhook]", *DEV_TOOLS, cwd=root)
    return shared


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_generated_project_passes_its_own_checks(render: Render, venv: Venv, variant: str) -> None:
    project = render(**VARIANTS[variant])
    venv.pip_install("--no-deps", "-e", str(project), cwd=project.parent)
    check_project(venv, project, plugin=VARIANTS[variant].get("include_plugin") != "no")


@pytest.mark.slow
def test_project_made_from_the_checkout_installs_in_a_fresh_venv(tmp_path: Path, cookiecutter_config: Path) -> None:
    """``qqbot new`` from this checkout: the project refers to it by path and installs with its dependencies."""
    assert new.framework_checkout() == REPO, "the tests run from an editable install of this checkout"
    env = _clean_env() | {"COOKIECUTTER_CONFIG": str(cookiecutter_config)}
    made = _run(
        [sys.executable, "-m", "framework", "new", "--no-input", "-o", str(tmp_path), "bot_name=Checkout Bot"],
        tmp_path,
        env,
    )
    project = tmp_path / "checkout-bot"
    assert f"Created {project}" in made.stdout
    dependencies = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    assert dependencies == [f"qqbot-framework @ {REPO.as_uri()}"]
    assert not (project / "vendor").exists()

    fresh = isolated_venv(tmp_path / "venv")
    fresh.pip_install("-e", f"{project}[dev]", cwd=tmp_path)
    assert framework_origin(fresh, tmp_path) == REPO.as_uri()
    check_project(fresh, project)


@pytest.mark.slow
def test_project_made_from_a_wheel_installs_in_a_fresh_venv(tmp_path: Path, cookiecutter_config: Path) -> None:
    """``qqbot new`` from an installed wheel: the template ships inside it, and the project vendors the wheel.

    The wheel file is deleted before ``qqbot new`` runs (as after a ``pip install`` from an index), and
    the project is moved before it is installed: the ``vendor/`` reference is relative to the project.
    """
    env = _clean_env() | {"COOKIECUTTER_CONFIG": str(cookiecutter_config)}
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), str(REPO)], tmp_path, env)
    (wheel,) = wheels.glob("qqbot_framework-*-py3-none-any.whl")

    user = isolated_venv(tmp_path / "user-venv")
    user.env["COOKIECUTTER_CONFIG"] = str(cookiecutter_config)
    user.pip_install(f"{wheel}[new]", cwd=tmp_path)
    shutil.rmtree(wheels)
    where = user.run("-c", "from framework.cli import new; print(new.template_dir())", cwd=tmp_path)
    assert where.stdout.strip().endswith("site-packages/framework/_scaffold")
    out = tmp_path / "out"
    _run(
        [
            str(user.path / "bin" / "qqbot"),
            "new",
            "--no-input",
            "-o",
            str(out),
            "bot_name=Wheel Bot",
            "transport=webhook",
        ],
        tmp_path,
        user.env,
    )
    made = out / "wheel-bot"
    assert (made / ".github" / "workflows" / "ci.yml").is_file()
    assert [p.name for p in (made / "vendor").iterdir()] == [wheel.name]
    dependencies = tomllib.loads((made / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    assert dependencies == [f"qqbot-framework[webhook] @ {{root:uri}}/vendor/{wheel.name}"]

    project = tmp_path / "elsewhere" / "wheel-bot"
    project.parent.mkdir()
    made.rename(project)
    fresh = isolated_venv(tmp_path / "venv")
    fresh.pip_install("-e", f"{project}[dev]", cwd=tmp_path)
    assert framework_origin(fresh, tmp_path) == (project / "vendor" / wheel.name).as_uri()
    check_project(fresh, project)
