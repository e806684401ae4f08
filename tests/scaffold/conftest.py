"""Fixtures for the scaffold tests: render the bundled cookiecutter template into ``tmp_path``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from framework.cli.new import template_dir

Render = Callable[..., Path]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: installs generated projects into fresh virtual environments (~1 min)")


@pytest.fixture
def cookiecutter_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cookiecutter user config that keeps replay files and caches inside ``tmp_path``."""
    config = tmp_path / "cookiecutter-config.yaml"
    config.write_text(
        f"cookiecutters_dir: {tmp_path / 'cc-cache'}\nreplay_dir: {tmp_path / 'cc-replay'}\n", encoding="utf-8"
    )
    monkeypatch.setenv("COOKIECUTTER_CONFIG", str(config))
    return config


@pytest.fixture
def render(tmp_path: Path, cookiecutter_config: Path) -> Render:
    """Render the template without prompting; keyword arguments become cookiecutter's extra context."""
    from cookiecutter.main import cookiecutter  # type: ignore[import-untyped]

    def _render(**options: Any) -> Path:
        out = tmp_path / "out"
        project = cookiecutter(
            str(template_dir()),
            no_input=True,
            extra_context=options,
            output_dir=str(out),
            config_file=str(cookiecutter_config),
        )
        return Path(str(project))

    return _render
