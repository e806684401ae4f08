"""The test suite depends on nothing outside the project's own environment, and skips nothing that could regress."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
#: Skips that depend on the platform the suite runs on, not on what happens to be installed.
ALLOWED_SKIPS = {"tests/gateway/test_gateway_runtime.py": ['skipif(sys.platform == "win32"']}
_SKIP = re.compile(r"(?:pytest\.skip\(|importorskip\(|mark\.skipif\(|mark\.skip\b|mark\.xfail\b)")


def _sources() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if p.resolve() != Path(__file__).resolve())


def test_no_test_builds_a_venv_that_sees_the_base_interpreter() -> None:
    offenders = [str(p.relative_to(TESTS)) for p in _sources() if "--system-site-packages" in p.read_text("utf-8")]
    assert offenders == []


def test_skips_are_only_platform_skips() -> None:
    found: dict[str, list[str]] = {}
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        lines = [line.strip() for line in text.splitlines() if _SKIP.search(line)]
        if lines:
            found[str(path.relative_to(TESTS.parent))] = lines
    unexpected = {
        name: [line for line in lines if not any(ok in line for ok in ALLOWED_SKIPS.get(name, []))]
        for name, lines in found.items()
    }
    assert {name: lines for name, lines in unexpected.items() if lines} == {}


def test_the_skip_pattern_sees_skips() -> None:
    for line in ('pytest.skip("later")', 'x = pytest.importorskip("botpy")', "@pytest.mark.skipif(True, reason='')"):
        assert _SKIP.search(line)
