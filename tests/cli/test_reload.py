"""``qqbot run --reload``: the real command in a subprocess; the bot's file is edited and the bot restarts
with the new code while the parent's emulator keeps its world (messages, ids, users)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest

from framework.cli.reload import child_argv, watched_paths
from tests.cli.test_console import PROMPT, Screen

BOT = """\
from framework import Bot, Context

bot = Bot("reloady")


@bot.command("ping")
async def ping(ctx: Context) -> None:
    await ctx.reply("pong v1")
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("QQBOT_")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _processes_running(needle: str) -> list[int]:
    """Pids of live processes whose command line mentions ``needle`` (here: the temporary bot file)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().split(") ", 1)[1][:1]
        except OSError:
            continue
        if needle in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


def _edit(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new))


def test_watched_paths_and_child_command(tmp_path: Path) -> None:
    bot_dir = tmp_path / "bots"
    bot_dir.mkdir()
    (bot_dir / "b.py").write_text(BOT)
    work = tmp_path / "work"
    work.mkdir()
    assert watched_paths(f"{bot_dir / 'b.py'}:bot", work) == [bot_dir.resolve(), work.resolve()]
    assert watched_paths("mybot:bot", work) == [work.resolve()]
    import argparse

    args = argparse.Namespace(
        bot="b.py:bot",
        config="q.toml",
        profile=None,
        log_level=None,
        log_format="json",
        shard_count=None,
        shard_ids=None,
        transport="webhook",
        host=None,
        port=8443,
    )
    argv = child_argv(args, console=True)
    assert argv[0] == sys.executable
    expected = ["-m", "framework", "run", "b.py:bot", "--config", "q.toml", "--log-level", "WARNING"]
    assert argv[1:] == [*expected, "--log-format", "json"]
    # against the platform the transport options go along; against the parent's emulator they do not
    assert child_argv(args, console=False, platform=True)[-4:] == ["--transport", "webhook", "--port", "8443"]
    args.metrics_port = 9108  # the children serve the metrics (the supervising parent has no bot)
    assert child_argv(args, console=True)[-2:] == ["--metrics-port", "9108"]


@pytest.mark.anyio
async def test_reload_without_console_keeps_the_emulator_world(tmp_path: Path) -> None:
    bot_file = tmp_path / "reloady.py"
    bot_file.write_text(BOT)
    port = _free_port()
    proc = await anyio.open_process(
        [
            sys.executable,
            "-m",
            "framework",
            "run",
            f"{bot_file}:bot",
            "--reload",
            "--no-console",
            "--emulator-port",
            str(port),
        ],
        env=_env(),
        cwd=str(tmp_path),
        stderr=subprocess.STDOUT,
    )
    out = b""

    async def read_until(needle: bytes, count: int = 1) -> None:
        nonlocal out
        assert proc.stdout is not None
        with anyio.move_on_after(40):
            while out.count(needle) < count:
                out += await proc.stdout.receive()
        assert out.count(needle) >= count, f"no {needle!r} (x{count}) in:\n{out.decode(errors='replace')}"

    base = f"http://127.0.0.1:{port}/_emulator"
    try:
        await read_until(b"is ready")
        assert f"emulator serving on http://127.0.0.1:{port}".encode() in out
        async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport()) as http:

            async def ping(expected: int) -> list[dict[str, object]]:
                act = await http.post(
                    f"{base}/act/group_at_message",
                    json={"content": "/ping", "group_openid": "G7", "member_openid": "M7"},
                )
                assert act.status_code == 200, act.text
                with anyio.fail_after(30):
                    while len(sent := (await http.get(f"{base}/sent/group/G7")).json()) < expected:  # noqa: ASYNC110
                        await anyio.sleep(0.05)
                return list(sent)

            first = await ping(1)
            assert [m["body"]["content"] for m in first] == ["pong v1"]  # type: ignore[index]
            old_children = _processes_running(str(bot_file))
            assert len(old_children) == 2  # the supervising parent and the bot

            _edit(bot_file, "pong v1", "pong v2")
            await read_until(b"reloaded (1 file changed)")
            await read_until(b"is ready", 2)
            sent = await ping(2)
            # the same world: the first answer is still there, the new one comes from the new code
            assert [m["body"]["content"] for m in sent] == ["pong v1", "pong v2"]  # type: ignore[index]
            assert sent[0]["id"] == first[0]["id"]
            assert len({m["id"] for m in sent}) == 2
            assert set(_processes_running(str(bot_file))) != set(old_children)  # a new bot process

            # a broken edit: the bot exits, the parent says so and waits; the fix brings it back
            _edit(bot_file, "async def ping", "async def ping(:")
            await read_until(b"the bot exited with code")
            assert proc.returncode is None
            _edit(bot_file, "async def ping(:", "async def ping")
            await read_until(b"is ready", 3)
            sent = await ping(3)
            assert sent[-1]["body"]["content"] == "pong v2"  # type: ignore[index]

        proc.send_signal(signal.SIGTERM)
        with anyio.fail_after(15):
            assert await proc.wait() == 0
        with anyio.fail_after(5):
            while _processes_running(str(bot_file)):  # noqa: ASYNC110 - no bot is left behind
                await anyio.sleep(0.05)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        for pid in _processes_running(str(bot_file)):
            os.kill(pid, signal.SIGKILL)


def test_reload_in_the_console(tmp_path: Path) -> None:
    bot_file = tmp_path / "reloady.py"
    bot_file.write_text(BOT)
    screen = Screen([sys.executable, "-m", "framework", "run", f"{bot_file}:bot", "--reload"], tmp_path)
    try:
        at = screen.read_until(PROMPT)
        screen.type(b"/ping\r")
        at = screen.read_until(b"reloady> pong v1", after=at)
        at = screen.read_until(PROMPT, after=at)
        screen.type(b"/pi")  # half a line in the editor when the reload is announced
        _edit(bot_file, "pong v1", "pong v2")
        at = screen.read_until(b"reloaded (1 file changed)", after=at)
        # printed above the prompt, which is drawn again with the half-typed line
        at = screen.read_until(PROMPT, after=at)
        at = screen.read_until(b"/pi", after=at)
        screen.type(b"ng\r")
        at = screen.read_until(b"reloady> pong v2", after=at)
        screen.type(b"\x03")
        assert screen.exit_code_within(8.0) == 0
        assert b"Traceback" not in screen.seen
        deadline = time.monotonic() + 5
        while _processes_running(str(bot_file)):
            assert time.monotonic() < deadline, "the bot process outlived the console"
            time.sleep(0.05)
    finally:
        screen.close()
        for pid in _processes_running(str(bot_file)):
            os.kill(pid, signal.SIGKILL)


def test_reload_console_stops_on_sigterm(tmp_path: Path) -> None:
    bot_file = tmp_path / "reloady.py"
    bot_file.write_text(BOT)
    screen = Screen([sys.executable, "-m", "framework", "run", f"{bot_file}:bot", "--reload"], tmp_path)
    try:
        screen.read_until("[group g1 · alice] > ".encode())
        screen.proc.send_signal(signal.SIGTERM)
        assert screen.exit_code_within(8.0) == 0
        assert not _processes_running(str(bot_file))
    finally:
        screen.close()
        for pid in _processes_running(str(bot_file)):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.anyio
async def test_reload_with_credentials_restarts_only_the_bot(tmp_path: Path) -> None:
    """With credentials the parent serves no emulator: it restarts the bot, which connects to the platform
    it is configured for (here an emulator this test serves, standing in for the platform)."""
    from framework.emulator import Emulator
    from framework.models.intents import ALL_INTENTS
    from framework.testing import emulator_env

    bot_file = tmp_path / "reloady.py"
    bot_file.write_text(BOT)
    emu = Emulator()
    emu.config.allowed_intents = dict.fromkeys(emu.config.apps, int(ALL_INTENTS))
    async with emu.serve("127.0.0.1", 0):
        env = _env() | emulator_env(emu)
        proc = await anyio.open_process(
            [sys.executable, "-m", "framework", "run", f"{bot_file}:bot", "--reload"],
            env=env,
            cwd=str(tmp_path),
            stderr=subprocess.STDOUT,
        )

        def accepted() -> int:
            return sum(1 for i in emu.gateway.recorder.identifies if i.accepted)

        async def ping(expected: int) -> str:
            emu.control.group_at_message("/ping", group_openid="G1", member_openid="M1")
            with anyio.fail_after(30):
                while len(emu.control.sent("group", "G1")) < expected:  # noqa: ASYNC110 - another process
                    await anyio.sleep(0.05)
            return emu.control.sent("group", "G1")[-1].content or ""

        try:
            with anyio.fail_after(30):
                while accepted() < 1:  # noqa: ASYNC110 - another process
                    await anyio.sleep(0.05)
            assert await ping(1) == "pong v1"
            _edit(bot_file, "pong v1", "pong v2")
            with anyio.fail_after(40):
                while accepted() < 2:  # noqa: ASYNC110 - another process
                    await anyio.sleep(0.05)
            assert await ping(2) == "pong v2"
            proc.send_signal(signal.SIGTERM)
            with anyio.fail_after(15):
                assert await proc.wait() == 0
            assert not _processes_running(str(bot_file))
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            for pid in _processes_running(str(bot_file)):
                os.kill(pid, signal.SIGKILL)
