"""The ``qqbot`` command line, run as a real subprocess against the emulator."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from framework.cli import main
from framework.emulator import Emulator
from framework.testing import emulator_credentials, emulator_env

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = f"{ROOT / 'examples' / 'hello_bot.py'}:bot"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QQBOT_")}
    env.update(extra)
    return env


def test_check_prints_intents_handlers_and_commands(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("QQBOT_")]:
        monkeypatch.delenv(key)
    assert main(["check", EXAMPLE]) == 0
    out = capsys.readouterr().out
    assert "embedded emulator" in out
    # commands and the echo serve every scene (no scenes declared): group/C2C and DMs are optional
    for flag in ("GROUP_AND_C2C_EVENT", "PUBLIC_GUILD_MESSAGES", "DIRECT_MESSAGE"):
        assert flag in out
    assert "ANY_MESSAGE" in out and "echo" in out
    assert "/roll" in out and "dice" in out


@pytest.mark.parametrize(
    ("argv", "env", "needle"),
    [
        (["check", "no_such_module_xyz:bot"], {}, "module not found"),
        (["check", f"{ROOT / 'examples' / 'hello_bot.py'}:nothing"], {}, "no attribute 'nothing'"),
        (["check", f"{ROOT / 'examples' / 'hello_bot.py'}:random"], {}, "not a framework Bot"),
        (["check", EXAMPLE], {"QQBOT_APP_ID": "123"}, "QQBOT_APP_SECRET"),
        (["check", EXAMPLE], {"QQBOT_LOG_FORMAT": "xml"}, "logging.format"),
        (["run", EXAMPLE, "--shard-ids", "0,1"], {}, "--shard-ids needs --shard-count"),
        (["run", EXAMPLE, "--concurrency", "0"], {}, "--concurrency: expected an integer >= 1"),
        (["run", EXAMPLE, "--handler-timeout", "-1"], {}, "--handler-timeout: expected seconds >= 0"),
        (["check", EXAMPLE], {"QQBOT_CONCURRENCY": "lots"}, "QQBOT_CONCURRENCY: expected an integer"),
        (["check", EXAMPLE], {"QQBOT_HANDLER_TIMEOUT": "-5"}, "bot.handler_timeout (QQBOT_HANDLER_TIMEOUT)"),
    ],
)
def test_bad_input_gives_a_clear_error(argv: list[str], env: dict[str, str], needle: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "framework", *argv],
        env=_env(**env),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr


def test_console_through_a_pseudo_terminal(tmp_path: Path) -> None:
    """Drive ``qqbot run`` (no credentials: emulator + console) as a person would, through a pty."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "framework", "run", EXAMPLE],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=_env(),
        cwd=tmp_path,
        close_fds=True,
    )
    os.close(slave)
    seen = b""

    def read_until(needle: bytes, timeout: float = 30.0) -> bytes:
        nonlocal seen
        import select
        import time

        deadline = time.monotonic() + timeout
        while needle not in seen:
            left = deadline - time.monotonic()
            assert left > 0, f"timed out waiting for {needle!r}; screen so far:\n{seen.decode(errors='replace')}"
            ready, _, _ = select.select([master], [], [], left)
            if ready:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    break
        return seen

    try:
        read_until(b"[group g1 \xc2\xb7 alice] > ")
        os.write(master, b"/ping\n")
        read_until(b"hello> pong")
        os.write(master, b":c2c bob\n")
        read_until(b"[c2c bob] > ")
        os.write(master, b"/roll 1\n")
        read_until(b"a die needs at least 2 sides")
        os.write(master, b"/roll many\n")
        read_until(b"Usage: /roll")
        os.write(master, b":nonsense\n")
        read_until(b"unknown console command :nonsense")
        os.write(master, b":quit\n")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert b"Traceback" not in seen


@pytest.mark.anyio
async def test_run_with_credentials_against_a_platform_compatible_server(tmp_path: Path) -> None:
    """QQBOT_API_BASE/QQBOT_TOKEN_URL point ``qqbot run`` at any compatible server (here: an emulator
    serving on loopback); the bot identifies, answers, and stops gracefully on SIGTERM."""
    from framework.emulator import EmulatorConfig
    from framework.models.intents import ALL_INTENTS

    emu = Emulator(EmulatorConfig(allowed_intents={"102000001": int(ALL_INTENTS)}))  # a bot approved for all
    secret = emulator_credentials(emu).app_secret
    async with emu.serve("127.0.0.1", 0):
        env = _env(**emulator_env(emu), QQBOT_LOG_FORMAT="json")
        proc = await anyio.open_process(
            [sys.executable, "-m", "framework", "run", EXAMPLE],
            env=env,
            cwd=str(tmp_path),
        )
        try:
            with anyio.fail_after(30):
                while not any(i.accepted for i in emu.gateway.recorder.identifies):  # noqa: ASYNC110 - another process
                    await anyio.sleep(0.05)
                event = emu.control.group_at_message("/ping", group_openid="G1", member_openid="M1")
                while not emu.control.sent("group", "G1"):  # noqa: ASYNC110 - another process
                    await anyio.sleep(0.05)
            sent = emu.control.sent("group", "G1")
            assert [m.content for m in sent] == ["pong"]
            assert sent[0].body["msg_id"] == event.d["id"]
            proc.send_signal(signal.SIGTERM)
            assert proc.stderr is not None
            chunks: list[bytes] = []
            with anyio.fail_after(30):
                async for chunk in proc.stderr:
                    chunks.append(chunk)
                code = await proc.wait()
            err = b"".join(chunks).decode()
            assert code == 0, err
            assert '"shard 0: ready' in err or "ready" in err
            assert secret not in err  # the JSON logs never carry the secret ...
            tokens = list(emu.tokens._current.values())
            assert tokens and all(token not in err for token in tokens)  # ... nor an access token
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.anyio
async def test_run_webhook_transport_end_to_end(tmp_path: Path) -> None:
    """``qqbot run --transport webhook``: the emulator's signed callbacks reach the bot, which replies by REST."""
    from framework.emulator import EmulatorConfig

    port = _free_port()
    emu = Emulator(EmulatorConfig(webhook_url=f"http://127.0.0.1:{port}/qq/callback"))
    app_id = emulator_credentials(emu).app_id
    async with emu.serve("127.0.0.1", 0):
        env = _env(**emulator_env(emu))
        proc = await anyio.open_process(
            [sys.executable, "-m", "framework", "run", EXAMPLE, "--transport", "webhook", "--port", str(port)],
            env=env,
            cwd=str(tmp_path),
        )
        try:
            with anyio.fail_after(30):
                # the bot's server is up once it answers the op 13 validation with a valid signature
                while not await emu.webhook.validate_url(f"http://127.0.0.1:{port}/qq/callback", app_id):  # noqa: ASYNC110
                    await anyio.sleep(0.1)
                event = emu.control.c2c_message("/ping", openid="U1")
                while not emu.control.sent("c2c", "U1"):  # noqa: ASYNC110 - another process
                    await anyio.sleep(0.05)
            sent = emu.control.sent("c2c", "U1")
            assert [m.content for m in sent] == ["pong"]
            assert sent[0].body["msg_id"] == event.d["id"]
            proc.send_signal(signal.SIGTERM)
            with anyio.fail_after(30):
                assert await proc.wait() == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


@pytest.mark.anyio
async def test_run_on_the_emulator_without_console_driven_through_the_control_api(tmp_path: Path) -> None:
    """``qqbot run --no-console``: the embedded emulator serves on a port; a user acts through its
    HTTP control API and reads the bot's reply there; SIGTERM stops everything cleanly."""
    import httpx

    port = _free_port()
    proc = await anyio.open_process(
        [sys.executable, "-m", "framework", "run", EXAMPLE, "--no-console", "--emulator-port", str(port)],
        env=_env(),
        cwd=str(tmp_path),
    )
    try:
        assert proc.stdout is not None
        out = b""
        with anyio.fail_after(30):
            async for chunk in proc.stdout:
                out += chunk
                if b"is ready" in out:
                    break
        assert f"emulator serving on http://127.0.0.1:{port}".encode() in out
        base = f"http://127.0.0.1:{port}/_emulator"
        async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport()) as http:
            act = await http.post(
                f"{base}/act/group_at_message", json={"content": "/ping", "group_openid": "G7", "member_openid": "M7"}
            )
            assert act.status_code == 200, act.text
            with anyio.fail_after(30):
                while not (sent := (await http.get(f"{base}/sent/group/G7")).json()):  # noqa: ASYNC110
                    await anyio.sleep(0.05)
        assert [m["body"]["content"] for m in sent] == ["pong"]
        proc.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
