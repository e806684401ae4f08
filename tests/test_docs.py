"""The documentation: relative links resolve, every page is reachable from the README, python examples compile."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_FENCE = re.compile(r"^```([\w+-]*)[^\n]*\n(.*?)^```", re.S | re.M)
#: Pages that describe rather than show: no example expected.
_NO_EXAMPLE = {"architecture.md", "performance.md"}


def _ids(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _relative_links(page: Path) -> list[str]:
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))  # links inside code are not links
    return [t for t in _LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


def _blocks(page: Path, language: str) -> list[tuple[int, str]]:
    text = page.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, m.group(2)) for m in _FENCE.finditer(text) if m.group(1) == language]


def test_there_are_pages() -> None:
    assert len(PAGES) > 5


@pytest.mark.parametrize("page", PAGES, ids=_ids)
def test_relative_links_point_at_existing_files(page: Path) -> None:
    broken = [t for t in _relative_links(page) if not (page.parent / t.split("#", 1)[0]).exists()]
    assert broken == []


def test_readme_links_every_docs_page() -> None:
    linked = {(ROOT / t.split("#", 1)[0]).resolve() for t in _relative_links(ROOT / "README.md")}
    missing = [_ids(p) for p in PAGES[1:] if p.resolve() not in linked]
    assert missing == []


@pytest.mark.parametrize("page", [p for p in PAGES if p.name not in _NO_EXAMPLE], ids=_ids)
def test_every_feature_page_has_an_example(page: Path) -> None:
    assert _FENCE.search(page.read_text(encoding="utf-8")), f"{_ids(page)} has no code example"


@pytest.mark.parametrize("page", PAGES, ids=_ids)
def test_python_blocks_compile(page: Path) -> None:
    """Every ```python block is valid Python (top-level ``await``/``async with`` allowed, as in a REPL)."""
    for line, source in _blocks(page, "python"):
        try:
            compile(source, f"{_ids(page)}:{line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        except SyntaxError as exc:
            pytest.fail(f"{_ids(page)}, block at line {line}: {exc}")


def test_the_fence_pattern_sees_blocks() -> None:
    assert _blocks(ROOT / "docs" / "bot.md", "python")
    assert _relative_links(ROOT / "README.md")
