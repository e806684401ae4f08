"""The documentation: links stay inside the repository and resolve, every page is reachable from the README,
and every example runs.

- ``toml`` blocks are ``qqbot.toml`` files: loaded through :func:`framework.config.load_settings`, and
  their ``[plugins]`` sections configured through the real plugin manager in strict mode (so a plugin
  option the plugin does not know fails). A block whose first line says ``pyproject.toml`` is only parsed.
- ``python`` blocks of a page run in order in one namespace, as in a REPL (top-level ``await``
  allowed, on asyncio); ``async def test_*`` functions a block defines are called; the bots in
  :data:`EXERCISES` are then driven through the emulator and their replies checked. ``mybot`` (and
  ``mybot.bot``) is the README's five-line bot, as the README says. A block defining a
  ``@pytest.fixture`` is a test file and runs in its own pytest. Examples that reach "the platform"
  through ``load_settings()``/``QQBOT_*`` get the emulator served on loopback in those variables.
- A block preceded by ``<!-- module: name -->`` is the module ``name`` of a bot split across files: it runs in
  its own namespace, importable by the page's later blocks (``import name``) while the page runs.
- A block preceded by ``<!-- not-run: reason -->`` is deliberately partial: it is only compiled.
  ``bash``/``console`` blocks with ``qqbot`` commands are covered by the CLI's subprocess tests.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import os
import re
import sys
import tempfile
import tomllib
import types
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from framework.app import Bot
from framework.config import load_settings
from framework.models.intents import ALL_INTENTS
from framework.plugins.manager import PluginManager
from framework.testing import Emulator, connect, emulator_env

ROOT = Path(__file__).resolve().parents[1]
PAGES = [
    ROOT / "README.md",
    *sorted(ROOT.glob("README.*.md")),
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "docs").glob("*/*.md")),
]
_NOT_RUN = re.compile(r"<!--\s*not-run:\s*(.*?)\s*-->\s*\n\s*\Z", re.S)
#: At most this many blocks may be marked ``not-run`` across all pages: lower it whenever one becomes runnable.
MAX_NOT_RUN = 0
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_FENCE = re.compile(r"^```([\w+-]*)[^\n]*\n(.*?)^```", re.S | re.M)
#: Pages that describe rather than show: no example expected.
_NO_EXAMPLE = {"architecture.md", "performance.md", "protocol-notes.md"}


def _ids(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _relative_links(page: Path) -> list[str]:
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))  # links inside code are not links
    return [t for t in _LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


def _blocks(page: Path, language: str) -> list[tuple[int, str]]:
    text = page.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, m.group(2)) for m in _FENCE.finditer(text) if m.group(1) == language]


def _not_run(page: Path) -> dict[int, str]:
    """Line of each block marked ``<!-- not-run: reason -->`` -> the reason."""
    text = page.read_text(encoding="utf-8")
    found: dict[int, str] = {}
    for m in _FENCE.finditer(text):
        marker = _NOT_RUN.search(text, max(0, m.start() - 400), m.start())
        if marker:
            found[text.count("\n", 0, m.start()) + 2] = marker.group(1)
    return found


_LAUNCH = re.compile(r"<!--\s*launch-script\s*-->\s*\n\s*\Z")


def _launch_scripts(page: Path) -> list[tuple[int, str]]:
    """Blocks marked ``<!-- launch-script -->``: whole programs that serve until SIGINT/SIGTERM."""
    text = page.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, m.start()) + 2, m.group(2))
        for m in _FENCE.finditer(text)
        if m.group(1) == "python" and _LAUNCH.search(text, max(0, m.start() - 100), m.start())
    ]


_MODULE = re.compile(r"<!--\s*module:\s*([\w.]+)\s*-->\s*\n\s*\Z")


def _modules(page: Path) -> dict[int, str]:
    """Line of each block marked ``<!-- module: name -->`` -> the module name."""
    text = page.read_text(encoding="utf-8")
    found: dict[int, str] = {}
    for m in _FENCE.finditer(text):
        marker = _MODULE.search(text, max(0, m.start() - 100), m.start())
        if marker:
            found[text.count("\n", 0, m.start()) + 2] = marker.group(1)
    return found


def _runnable(page: Path, language: str) -> list[tuple[int, str]]:
    skipped = set(_not_run(page)) | {line for line, _ in _launch_scripts(page)}
    return [(line, source) for line, source in _blocks(page, language) if line not in skipped]


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


# -- links stay inside the repository -----------------------------------------------------------

_OUTSIDE = re.compile(r"(?<![\w/.-])(?:\.\./)*shared/[\w./-]+|(?<![\w-])protocol\.md\b|design\.md\b")


@pytest.mark.parametrize("page", PAGES, ids=_ids)
def test_no_link_or_reference_leaves_the_repository(page: Path) -> None:
    """Users have the repository, not the development notes next to it: no ``../shared/…``, no ``protocol.md``."""
    outside = [
        t for t in _relative_links(page) if not (page.parent / t.split("#", 1)[0]).resolve().is_relative_to(ROOT)
    ]
    assert outside == []
    mentions = sorted({m.group(0) for m in _OUTSIDE.finditer(page.read_text(encoding="utf-8"))})
    assert mentions == [], f"{_ids(page)} refers to files outside the repository: {mentions}"


def test_the_outside_reference_check_can_fail(tmp_path: Path) -> None:
    assert _OUTSIDE.search("see `../shared/protocol.md` §2") and _OUTSIDE.search("(protocol.md §4.1)")
    assert not _OUTSIDE.search("see [the notes](protocol-notes.md#webhook)")


# -- not-run markers ------------------------------------------------------------------------------


def test_not_run_markers_are_few_and_give_a_reason() -> None:
    marked = {f"{_ids(page)}:{line}": reason for page in PAGES for line, reason in _not_run(page).items()}
    assert all(len(reason) > 10 for reason in marked.values()), marked
    assert len(marked) <= MAX_NOT_RUN, marked


def test_the_not_run_marker_is_seen(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("<!-- not-run: needs the platform -->\n```python\nboom()\n```\n\n```python\nok()\n```\n")
    assert _not_run(page) == {3: "needs the platform"}
    assert _runnable(page, "python") == [(7, "ok()\n")]


def test_the_module_marker_is_seen(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("<!-- module: greetings -->\n```python\nx = 1\n```\n\n```python\nimport greetings\n```\n")
    assert _modules(page) == {3: "greetings"}


# -- TOML examples --------------------------------------------------------------------------------

TOML_PAGES = [p for p in PAGES if _blocks(p, "toml")]


def _example_plugins() -> dict[str, object]:
    """The example plugins in ``plugins_example/`` by entry-point name, imported from the checkout."""
    found: dict[str, object] = {}
    for project in sorted((ROOT / "plugins_example").glob("*/pyproject.toml")):
        entry_points = tomllib.loads(project.read_text(encoding="utf-8"))["project"]["entry-points"]["qqbot.plugins"]
        for name, target in entry_points.items():
            spec = importlib.util.find_spec(target) if target in sys.modules else None
            if spec is None:
                sys.path.insert(0, str(project.parent))
                try:
                    found[name] = __import__(target)
                finally:
                    sys.path.remove(str(project.parent))
            else:
                found[name] = sys.modules[target]
    return found


def load_toml_example(source: str, directory: Path) -> None:
    """Load a ``qqbot.toml`` example as ``qqbot run`` would, and configure the plugins it enables (strict)."""
    path = directory / "qqbot.toml"
    path.write_text(source, encoding="utf-8")
    # an example that sets bot.app_id keeps the secret in the environment, as it advises
    environ = {"QQBOT_APP_SECRET": "docs-example-secret"} if "app_id" in tomllib.loads(source).get("bot", {}) else {}
    settings = load_settings(path, environ=environ)
    section = settings.plugins.as_bot_config()
    manager = PluginManager(Bot("docs"), strict=True)
    plugins = _example_plugins()
    for name in section.get("enabled") or []:
        assert name in plugins, f"the example enables {name!r}, which is not a plugin in plugins_example/"
        manager.add(plugins[name], name)
    manager.configure(section)
    manager.register()
    assert manager.failures == []


@pytest.mark.parametrize("page", TOML_PAGES, ids=_ids)
def test_toml_examples_load(page: Path, tmp_path: Path) -> None:
    for line, source in _runnable(page, "toml"):
        if "pyproject.toml" in source.splitlines()[0]:
            assert tomllib.loads(source)["project"], f"{_ids(page)}:{line}"
            continue
        try:
            load_toml_example(source, tmp_path)
        except Exception as exc:
            pytest.fail(f"{_ids(page)}, block at line {line}: {type(exc).__name__}: {exc}")


def test_a_wrong_plugin_option_fails_the_toml_check(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="replies"):
        load_toml_example('[plugins]\nenabled = ["keyword_reply"]\n\n[plugins.keyword_reply]\nreplies = {}\n', tmp_path)


# -- Python examples ------------------------------------------------------------------------------

#: Bots a page defines, driven through the emulator after the page ran: (scene, text) -> replies.
EXERCISES: dict[str, list[tuple[str, str, list[str]]]] = {
    "README.md": [("group", "/ping", ["pong"])],
    "README.zh-CN.md": [("group", "/ping", ["pong"])],
    "docs/zh-CN/index.md": [("group", "/ping", ["pong"])],
    "docs/bot.md": [("group", "/roll 1", ["1"]), ("c2c", "/r 1", ["1"])],
}


def _readme_bot_module() -> Iterator[None]:
    """``mybot`` / ``mybot.bot``: the README's five-line bot, which later examples import."""
    (first, *_) = _runnable(ROOT / "README.md", "python")
    package = types.ModuleType("mybot")
    package.__path__ = []
    exec(compile(first[1], "README.md:mybot", "exec"), package.__dict__)
    module = types.ModuleType("mybot.bot")
    module.__dict__.update(package.__dict__)
    package.bot = module.bot  # type: ignore[attr-defined]
    sys.modules["mybot"], sys.modules["mybot.bot"] = package, module
    try:
        yield
    finally:
        del sys.modules["mybot"], sys.modules["mybot.bot"]


async def _say(chat: Any, scene: str, text: str) -> None:
    if scene == "group":
        await chat.group("g1").user("alice").at(text)
    elif scene == "c2c":
        await chat.c2c("u1").say(text)
    else:
        raise AssertionError(f"unknown scene {scene!r}")


async def run_with_pytest(source: str, where: str) -> None:
    """Run a block that defines pytest fixtures as a test file, in a real pytest (the ``qqbot`` plugin's fixtures)."""
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "mybot").mkdir()
        (root / "mybot" / "bot.py").write_text(_runnable(ROOT / "README.md", "python")[0][1], encoding="utf-8")
        (root / "mybot" / "__init__.py").write_text("from mybot.bot import bot\n", encoding="utf-8")
        (root / "test_example.py").write_text(source, encoding="utf-8")
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
        result = await anyio.run_process([*command, "test_example.py"], cwd=root, check=False)
    output = result.stdout.decode(errors="replace")
    assert result.returncode == 0 and " passed" in output, f"{where}:\n{output}{result.stderr.decode(errors='replace')}"


#: Blocks that read the platform from the environment, as a launch script does, run against an emulator.
_USES_PLATFORM = re.compile(r"load_settings\(\)|QQBOT_")


@asynccontextmanager
async def platform_environment(page: Path) -> AsyncIterator[None]:
    """For a page whose examples connect to "the platform": the emulator on loopback, named by ``QQBOT_*``.

    The examples read ``QQBOT_APP_ID``/``QQBOT_APP_SECRET`` and ``QQBOT_API_BASE``/``QQBOT_TOKEN_URL``
    (what a user sets to point a bot at another platform), so they run unchanged against it.
    """
    if not any(_USES_PLATFORM.search(source) for _, source in _runnable(page, "python")):
        yield
        return
    emulator = Emulator()
    (app_id,) = emulator.config.apps
    emulator.config.grant(app_id, int(ALL_INTENTS))  # an approved bot: no 4014 and identify again
    async with emulator, emulator.serve("127.0.0.1", 0):
        environ = emulator_env(emulator) | {
            "NO_PROXY": "127.0.0.1",  # loopback: never through a proxy from the environment
        }
        saved = {name: os.environ.get(name) for name in environ}
        os.environ.update(environ)
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
    assert emulator.control.calls("POST", "/app/getAppAccessToken"), f"{_ids(page)}: no example logged in"


async def run_page(page: Path) -> dict[str, Any]:
    async with platform_environment(page):
        return await _run_page(page)


async def _run_page(page: Path) -> dict[str, Any]:
    """Run the page's python blocks in one namespace; call the tests they define; drive their bot.

    A block that defines a ``@pytest.fixture`` is a test file instead: it runs in its own pytest.
    """
    namespace: dict[str, Any] = {"__name__": f"docs_{page.stem}"}
    modules = _modules(page)
    try:
        return await _run_blocks(page, namespace, modules)
    finally:
        for name in modules.values():
            sys.modules.pop(name, None)


async def _run_blocks(page: Path, namespace: dict[str, Any], modules: dict[int, str]) -> dict[str, Any]:
    for line, source in _runnable(page, "python"):
        where = f"{_ids(page)}:{line}"
        if "@pytest.fixture" in source:
            await run_with_pytest(source, where)
            continue
        if line in modules:  # a module of the example, imported by the blocks after it
            module = sys.modules[modules[line]] = types.ModuleType(modules[line])
            exec(compile(source, where, "exec"), module.__dict__)
            continue
        code = compile(source, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(code, namespace)
        if inspect.iscoroutine(result):
            await result
        for name, value in list(namespace.items()):
            if name.startswith("test_") and inspect.iscoroutinefunction(value):
                await value()
                del namespace[name]
    for scene, text, expected in EXERCISES.get(_ids(page), []):
        async with connect(namespace["bot"]) as chat:
            await _say(chat, scene, text)
            assert await chat.replies() == expected, f"{_ids(page)}: {text!r}"
    return namespace


PYTHON_PAGES = [p for p in PAGES if _runnable(p, "python")]


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=_ids)
def test_python_examples_run(page: Path) -> None:
    gen = _readme_bot_module()
    next(gen)
    try:
        anyio.run(run_page, page)
    finally:
        next(gen, None)


def test_every_exercised_page_exists() -> None:
    assert {(ROOT / name) for name in EXERCISES} <= set(PAGES)


# -- launch scripts -------------------------------------------------------------------------------

LAUNCH_SCRIPTS = [(page, line, source) for page in PAGES for line, source in _launch_scripts(page)]


def test_there_are_launch_scripts() -> None:
    assert len(LAUNCH_SCRIPTS) >= 3


_LAUNCH_IDS = [f"{_ids(p)}:{n}" for p, n, _ in LAUNCH_SCRIPTS]


@pytest.mark.parametrize(("page", "line", "source"), LAUNCH_SCRIPTS, ids=_LAUNCH_IDS)
def test_launch_script_connects_and_stops_on_sigint(page: Path, line: int, source: str, tmp_path: Path) -> None:
    """Each launch script runs as a program, next to the README's ``mybot``, against an emulator named by
    ``QQBOT_*``: it identifies, then SIGINT stops it cleanly (exit 0, no traceback)."""
    import signal
    import subprocess
    import time

    (tmp_path / "mybot").mkdir()
    (tmp_path / "mybot" / "bot.py").write_text(_runnable(ROOT / "README.md", "python")[0][1], encoding="utf-8")
    (tmp_path / "mybot" / "__init__.py").write_text("from mybot.bot import bot\n", encoding="utf-8")
    (tmp_path / "launch.py").write_text(source, encoding="utf-8")

    async def scenario() -> tuple[int, str]:
        emulator = Emulator()
        (app_id,) = emulator.config.apps
        emulator.config.grant(app_id, int(ALL_INTENTS))
        async with emulator, emulator.serve("127.0.0.1", 0):
            env = {k: v for k, v in os.environ.items() if not k.startswith("QQBOT_")}
            env |= emulator_env(emulator) | {"NO_PROXY": "127.0.0.1"}
            proc = await anyio.open_process(
                [sys.executable, "launch.py"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            try:
                deadline = time.monotonic() + 30
                while not any(i.accepted for i in emulator.gateway.recorder.identifies):
                    assert proc.returncode is None, f"{_ids(page)}:{line} exited early"
                    assert time.monotonic() < deadline, f"{_ids(page)}:{line} never identified"
                    await anyio.sleep(0.05)
                await anyio.sleep(0.3)  # READY delivered and handled
                proc.send_signal(signal.SIGINT)
                with anyio.fail_after(20):
                    code = await proc.wait()
                assert proc.stderr is not None
                chunks: list[bytes] = []
                with anyio.move_on_after(5):
                    async for chunk in proc.stderr:  # the process has exited: read to end of stream
                        chunks.append(chunk)
                return code, b"".join(chunks).decode(errors="replace")
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
                await proc.aclose()

    code, err = anyio.run(scenario)
    assert code == 0, f"{_ids(page)}:{line} exited {code}:\n{err}"
    assert "Traceback" not in err, err
