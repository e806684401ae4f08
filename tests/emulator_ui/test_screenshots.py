"""The docs' screenshot script still runs: it drives the page through its scenario and writes each panel."""

from __future__ import annotations

from pathlib import Path

from screenshots import PANELS, take


def test_screenshot_script_writes_one_png_per_panel(tmp_path: Path) -> None:
    shots = take(tmp_path)
    assert sorted(p.name for p in shots) == sorted([f"emulator-ui-{name}.png" for name in PANELS] + ["emulator-ui.png"])
    for shot in shots:
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000, shot
