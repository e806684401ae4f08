"""``qqbot new``: argument handling, the bundled template, error messages and exit codes."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from framework.cli import new

REPO = Path(__file__).resolve().parents[2]


def run_new(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="qqbot")
    new.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["new", *argv])
    assert args.command == "new"
    return new.run(args)


@pytest.fixture(autouse=True)
def _isolated_cookiecutter(cookiecutter_config: Path) -> None:
    """Keep cookiecutter's replay files out of the home directory."""


def test_template_is_found_in_the_checkout() -> None:
    assert new.template_dir() == REPO / "cookiecutter-template"
    assert "package_name" in new.template_options(new.template_dir())


def test_help_lists_every_template_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run_new("--help")
    text = " ".join(capsys.readouterr().out.split())
    for option in new.template_options(new.template_dir()):
        assert option in text


def test_packaged_template_wins_over_the_checkout(tmp_path: Path) -> None:
    package = tmp_path / "site" / "framework"
    for directory in (package / "_scaffold", tmp_path / "site" / "cookiecutter-template"):
        directory.mkdir(parents=True)
        (directory / "cookiecutter.json").write_text("{}", encoding="utf-8")
    assert new.template_dir(package) == package / "_scaffold"
    (package / "_scaffold" / "cookiecutter.json").unlink()
    assert new.template_dir(package) == tmp_path / "site" / "cookiecutter-template"


def test_missing_template_is_reported(tmp_path: Path) -> None:
    with pytest.raises(new.ScaffoldError, match="template is missing"):
        new.template_dir(tmp_path / "framework")


def test_creates_a_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_new("--no-input", "-o", str(tmp_path), "bot_name=Weather Bot", "scene_dm=yes", "include_plugin=no")
    assert code == 0
    project = tmp_path / "weather-bot"
    assert (project / "src/weather_bot/bot.py").is_file()
    assert not (project / "src/weather_bot/plugin.py").exists()
    assert "@bot.on_direct_message" in (project / "src/weather_bot/bot.py").read_text(encoding="utf-8")
    out = capsys.readouterr().out
    assert f"Created {project}" in out and 'pip install -e ".[dev]"' in out


def test_relative_framework_path_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO / "framework")
    assert run_new("--no-input", "-o", str(tmp_path), "framework_path=..") == 0
    pyproject = (tmp_path / "my-bot/pyproject.toml").read_text(encoding="utf-8")
    assert f'"qqbot-framework @ {REPO.as_uri()}"' in pyproject


def test_bad_package_name_exits_1_with_the_reason(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert run_new("--no-input", "-o", str(out), "package_name=my-bot") == 1
    err = capfd.readouterr().err
    assert "package_name 'my-bot' is not a valid Python package name" in err
    assert "package_name=my_bot" in err
    assert "Traceback" not in err
    assert not out.exists() or list(out.iterdir()) == []


def test_unknown_option_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_new("--no-input", "-o", str(tmp_path), "colour=red") == 2
    err = capsys.readouterr().err
    assert "unknown option 'colour'" in err and "bot_name" in err


def test_assignment_without_equals_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_new("--no-input", "-o", str(tmp_path), "webhook") == 2
    assert "expected key=value, got 'webhook'" in capsys.readouterr().err


def test_bad_choice_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_new("--no-input", "-o", str(tmp_path), "transport=pigeon") == 1
    assert "pigeon" in capsys.readouterr().err


def test_existing_directory_needs_overwrite_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_new("--no-input", "-o", str(tmp_path)) == 0
    assert run_new("--no-input", "-o", str(tmp_path)) == 1
    assert "--overwrite-if-exists" in capsys.readouterr().err
    assert run_new("--no-input", "-o", str(tmp_path), "--overwrite-if-exists") == 0


def test_missing_cookiecutter_is_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "cookiecutter.main", None)  # makes the import fail
    out = tmp_path / "out"
    assert run_new("--no-input", "-o", str(out)) == 1
    assert "pip install 'qqbot-framework[new]'" in capsys.readouterr().err
    assert not out.exists()


def test_qqbot_console_command(tmp_path: Path) -> None:
    """Through the real command line: ``python -m framework new``."""
    probe = subprocess.run(
        [sys.executable, "-m", "framework", "new", "--help"], capture_output=True, text=True, check=False
    )
    assert probe.returncode == 0 and "--no-input" in probe.stdout, probe.stdout + probe.stderr
    result = subprocess.run(
        [sys.executable, "-m", "framework", "new", "--no-input", "-o", str(tmp_path), "bot_name=Cli Bot"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cli-bot/src/cli_bot/bot.py").is_file()
