"""Every ``qqbot`` command and flag the README and docs show, run as a user runs it: a real subprocess,
checked by its effect (through the emulator's HTTP control API) and its output."""

from __future__ import annotations

import json
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest
from _proc import EXAMPLE, QQBOT, ROOT, Proc, clean_env, free_port, run

from framework.models.intents import ALL_INTENTS, Intents
from framework.runtime.platform import Platform

APP_ID = "102000001"
SECRET = "emulator-secret"


def _http() -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(), timeout=10, trust_env=False)


def _wait_sent(base: str, scene: str, target: str, timeout: float = 30.0) -> list[dict[str, object]]:
    import time

    deadline = time.monotonic() + timeout
    with _http() as http:
        while time.monotonic() < deadline:
            sent = http.get(f"{base}/_emulator/sent/{scene}/{target}").json()
            if sent:
                return list(sent)
            time.sleep(0.05)
    raise AssertionError(f"the bot sent nothing to {scene} {target}")


def _emulator(tmp_path: Path, *extra: str) -> tuple[Proc, str]:
    port = free_port()
    proc = Proc([*QQBOT, "emulator", "--port", str(port), *extra], cwd=tmp_path)
    proc.wait_for("listening on")
    return proc, f"http://127.0.0.1:{port}"


def _credentials(base: str, secret: str = SECRET, **extra: str) -> dict[str, str]:
    platform = Platform.at(base)  # `qqbot emulator` serves REST and the token endpoint on one port
    env = clean_env(
        QQBOT_APP_ID=APP_ID,
        QQBOT_APP_SECRET=secret,
        QQBOT_API_BASE=platform.api_base,
        QQBOT_TOKEN_URL=platform.token_url,
    )
    env.update(extra)
    return env


# -- help -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "check", "emulator", "new"])
def test_every_subcommand_has_its_own_help(command: str, tmp_path: Path) -> None:
    proc = run([*QQBOT, command, "--help"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: qqbot {command} ")
    assert "unrecognized arguments" not in proc.stderr


def test_top_level_help_lists_the_commands(tmp_path: Path) -> None:
    proc = run([*QQBOT, "--help"], cwd=tmp_path)
    assert proc.returncode == 0
    for command in ("run", "check", "emulator", "new"):
        assert command in proc.stdout
    version = run([*QQBOT, "--version"], cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("qqbot-framework ")


def test_emulator_help_names_every_option_and_python_m_names_itself(tmp_path: Path) -> None:
    qqbot = run([*QQBOT, "emulator", "--help"], cwd=tmp_path)
    for flag in ("--host", "--port", "--app", "--grant-intents", "--webhook-url", "--shards", "--heartbeat-interval"):
        assert flag in qqbot.stdout
    module = run([sys.executable, "-m", "framework.emulator", "--help"], cwd=tmp_path)
    assert module.returncode == 0
    assert module.stdout.startswith("usage: python -m framework.emulator ")


# -- qqbot emulator -------------------------------------------------------------------------------


def test_emulator_port_serves_tokens_and_the_control_index_and_stops_on_sigint(tmp_path: Path) -> None:
    """README: ``qqbot emulator --port 8080`` (here a free port)."""
    proc, base = _emulator(tmp_path)
    with proc, _http() as http:
        token = http.post(f"{base}/app/getAppAccessToken", json={"appId": APP_ID, "clientSecret": SECRET}).json()
        assert token["access_token"] and token["expires_in"]
        wrong = http.post(f"{base}/app/getAppAccessToken", json={"appId": APP_ID, "clientSecret": "nope"}).json()
        assert wrong["code"] == 100016
        index = http.get(f"{base}/_emulator/")
        assert index.status_code == 200
        body = index.json()
        paths = {(r["method"], r["path"]) for r in body["routes"]}
        assert ("POST", "/_emulator/act/{operation}") in paths
        assert ("GET", "/_emulator/sent/{scene}/{target_id}") in paths
        assert "group_at_message" in body["act"] and "c2c_message" in body["act"]
        assert APP_ID in body["apps"]
        assert proc.stop() == 0
    assert "Traceback" not in proc.text


def test_emulator_python_m_serves_too(tmp_path: Path) -> None:
    port = free_port()
    with Proc([sys.executable, "-m", "framework.emulator", "--port", str(port)], cwd=tmp_path) as proc:
        proc.wait_for("listening on")
        with _http() as http:
            assert http.get(f"http://127.0.0.1:{port}/_emulator/world").status_code == 200
        assert proc.stop() == 0


@pytest.mark.parametrize(
    ("grant", "expected"),
    [
        ("all", int(ALL_INTENTS)),
        ("GUILDS,DIRECT_MESSAGE", int(Intents.GUILDS | Intents.DIRECT_MESSAGE)),
        (str(int(Intents.GROUP_AND_C2C_EVENT)), int(Intents.GROUP_AND_C2C_EVENT)),
    ],
)
def test_emulator_grant_intents_and_app(grant: str, expected: int, tmp_path: Path) -> None:
    proc, base = _emulator(tmp_path, "--app", "123456:s3cret-value", "--grant-intents", grant)
    with proc, _http() as http:
        apps = http.get(f"{base}/_emulator/").json()["apps"]
        assert apps == {"123456": {"intents": expected, "all": False}}
        token = http.post(f"{base}/app/getAppAccessToken", json={"appId": "123456", "clientSecret": "s3cret-value"})
        assert token.json()["access_token"]
        assert proc.stop() == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--grant-intents", "NOPE"], "--grant-intents: unknown intent 'NOPE'"),
        (["--app", "123"], "--app expects APPID:SECRET"),
        (["--port", "70000"], "--port: expected 0..65535"),
    ],
)
def test_emulator_bad_options_are_one_line(args: list[str], needle: str, tmp_path: Path) -> None:
    proc = run([*QQBOT, "emulator", *args], cwd=tmp_path)
    assert proc.returncode == 2
    assert needle in proc.stderr and "Traceback" not in proc.stderr


def test_emulator_on_a_busy_port_says_so(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run([*QQBOT, "emulator", "--port", str(port)], cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"qqbot emulator: error: port {port} is in use: choose another with --port"
    )


def test_standalone_emulator_webhook_url_reaches_a_webhook_bot(tmp_path: Path) -> None:
    """``qqbot emulator --webhook-url`` + ``qqbot run BOT --transport webhook --port P`` with credentials."""
    hook = free_port()
    emu, base = _emulator(tmp_path, "--webhook-url", f"http://127.0.0.1:{hook}/", "--grant-intents", "all")
    with emu:
        bot = Proc(
            [*QQBOT, "run", EXAMPLE, "--transport", "webhook", "--host", "127.0.0.1", "--port", str(hook)],
            cwd=tmp_path,
            env=_credentials(base),
        )
        with bot:
            bot.wait_for("is ready")
            with _http() as http:
                act = http.post(f"{base}/_emulator/act/c2c_message", json={"content": "/ping", "openid": "U9"})
                assert act.status_code == 200, act.text
            sent = _wait_sent(base, "c2c", "U9")
            assert [m["body"]["content"] for m in sent] == ["pong"]  # type: ignore[index]
            assert bot.stop() == 0
        assert emu.stop() == 0


# -- qqbot run: one line per failure --------------------------------------------------------------


def test_wrong_app_secret_names_the_refusal(tmp_path: Path) -> None:
    emu, base = _emulator(tmp_path)
    with emu:
        proc = run([*QQBOT, "run", EXAMPLE], cwd=tmp_path, env=_credentials(base, secret="not-the-secret"))
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "qqbot: error: the platform refused app 102000001: invalid appid or secret (code 100016); "
    ), proc.stderr
    assert "QQBOT_APP_SECRET" in last
    assert "ExceptionGroup" not in proc.stderr and "Traceback" not in proc.stderr
    assert "not-the-secret" not in proc.stderr


def test_unreachable_token_endpoint_and_api(tmp_path: Path) -> None:
    closed = free_port()  # nothing listens there
    base = f"http://127.0.0.1:{closed}"
    proc = run([*QQBOT, "run", EXAMPLE], cwd=tmp_path, env=_credentials(base))
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"qqbot: error: cannot reach the token endpoint {base}/app/getAppAccessToken ("), last
    assert "check the network connection" in last and "ExceptionGroup" not in proc.stderr


def test_unreachable_api_base(tmp_path: Path) -> None:
    emu, base = _emulator(tmp_path)
    closed = free_port()
    with emu:
        env = _credentials(base, QQBOT_API_BASE=f"http://127.0.0.1:{closed}")
        proc = run([*QQBOT, "run", EXAMPLE], cwd=tmp_path, env=env)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"qqbot: error: cannot reach http://127.0.0.1:{closed} (GET /gateway/bot: "), last
    assert "QQBOT_API_BASE" in last and "Traceback" not in proc.stderr


@pytest.mark.parametrize("credentials", [True, False], ids=["platform", "emulator"])
def test_busy_webhook_port(credentials: bool, tmp_path: Path) -> None:
    emu, base = _emulator(tmp_path)
    with emu, socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        argv = [*QQBOT, "run", EXAMPLE, "--transport", "webhook", "--port", str(port)]
        if not credentials:
            argv.append("--no-console")
        proc = run(argv, cwd=tmp_path, env=_credentials(base) if credentials else clean_env())
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == f"qqbot: error: port {port} is in use: choose another with --port"
    assert "Traceback" not in proc.stderr


def test_missing_module_names_the_install_command(tmp_path: Path) -> None:
    script = (
        "import sys; sys.modules['hypercorn'] = None\n"  # as if it were not installed
        "from framework.cli import main\n"
        f"sys.exit(main(['run', {EXAMPLE!r}, '--transport', 'webhook', '--no-console', '--port', '{free_port()}']))\n"
    )
    proc = run([sys.executable, "-c", script], cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "qqbot: error: a module is missing: hypercorn; install it with `pip install hypercorn`"
    ), proc.stderr


def test_a_bug_in_the_framework_says_so_with_the_traceback(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "import framework.runner\n"
        "async def broken(self):\n"
        "    raise RuntimeError('internal invariant broken')\n"
        "framework.runner.BotRunner.__aenter__ = broken\n"
        "from framework.cli import main\n"
        f"sys.exit(main(['run', {EXAMPLE!r}, '--no-console', '--emulator-port', '{free_port()}']))\n"
    )
    proc = run([sys.executable, "-c", script], cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "qqbot: error: RuntimeError: internal invariant broken - this is a bug in qqbot-framework, "
        "please report it (the traceback is printed above)"
    )


# -- plugins.strict and the user's own module -----------------------------------------------------

_STRICT_BOT = """
from framework import Bot, hookimpl


class Broken:
    @hookimpl
    def qqbot_register(self, bot: Bot) -> None:
        raise RuntimeError("the plugin is broken")


bot = Bot("strict", plugins=[Broken()])
"""


@pytest.mark.parametrize("command", ["check", "run"])
def test_strict_plugin_failure_is_one_line(command: str, tmp_path: Path) -> None:
    (tmp_path / "strictbot.py").write_text(_STRICT_BOT)
    (tmp_path / "qqbot.toml").write_text("[plugins]\nstrict = true\n")
    argv = [*QQBOT, command, "strictbot.py:bot"] + (["--no-console"] if command == "run" else [])
    proc = run(argv, cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "qqbot: error: plugin 'Broken' failed in qqbot_register: RuntimeError: the plugin is broken; fix the "
        "plugin, disable it (plugins.disabled) or set plugins.strict = false"
    ]


def test_an_error_in_the_users_module_shows_their_traceback(tmp_path: Path) -> None:
    (tmp_path / "mybot.py").write_text(
        "from framework import Bot\n\nbot = Bot('x')\n\n\ndef setup():\n    return {}['missing key']\n\n\nsetup()\n"
    )
    for ref in ("mybot:bot", "mybot.py:bot"):
        proc = run([*QQBOT, "check", ref], cwd=tmp_path)
        assert proc.returncode == 1
        err = proc.stderr
        assert "Traceback (most recent call last):" in err
        assert f'File "{tmp_path / "mybot.py"}", line 10, in <module>' in err
        assert f'File "{tmp_path / "mybot.py"}", line 7, in setup' in err
        assert "framework/cli" not in err and "importlib" not in err  # our frames trimmed
        target = ref.split(":")[0]
        assert err.strip().splitlines()[-1] == (
            f"qqbot: error: importing {target} failed: KeyError: 'missing key' (at {tmp_path / 'mybot.py'}:7)"
        )


def test_a_missing_dependency_of_the_users_module_is_not_module_not_found(tmp_path: Path) -> None:
    (tmp_path / "needsdep.py").write_text("import not_installed_dependency_xyz\n")
    proc = run([*QQBOT, "check", "needsdep:bot"], cwd=tmp_path)
    assert proc.returncode == 1
    assert "No module named 'not_installed_dependency_xyz'" in proc.stderr
    assert f"(at {tmp_path / 'needsdep.py'}:1)" in proc.stderr


# -- webhook mode without credentials, readiness, logging -----------------------------------------


def test_webhook_transport_without_credentials_runs_on_the_embedded_emulator(tmp_path: Path) -> None:
    hook, emu_port = free_port(), free_port()
    argv = [*QQBOT, "run", EXAMPLE, "--transport", "webhook", "--no-console", "--port", str(hook)]
    with Proc([*argv, "--emulator-port", str(emu_port)], cwd=tmp_path) as proc:
        proc.wait_for("is ready")
        assert f"webhook callbacks on http://127.0.0.1:{hook}/" in proc.text
        base = f"http://127.0.0.1:{emu_port}"
        with _http() as http:
            act = http.post(
                f"{base}/_emulator/act/group_at_message",
                json={"content": "/ping", "group_openid": "G5", "member_openid": "M5"},
            )
            assert act.status_code == 200, act.text
            sent = _wait_sent(base, "group", "G5")
            assert [m["body"]["content"] for m in sent] == ["pong"]  # type: ignore[index]
            deliveries = http.get(f"{base}/_emulator/webhook/deliveries").json()
            assert deliveries and all(d["acked"] for d in deliveries)  # it came by webhook, not the gateway
        assert proc.stop() == 0
    assert "Traceback" not in proc.text


def test_ready_line_is_a_json_record_with_log_format_json(tmp_path: Path) -> None:
    port = free_port()
    argv = [*QQBOT, "run", EXAMPLE, "--no-console", "--emulator-port", str(port), "--log-format", "json"]
    with Proc(argv, cwd=tmp_path) as proc:
        proc.wait_for("is ready")
        assert proc.stop() == 0
    assert b"is ready" not in proc.out
    records = [json.loads(line) for line in proc.err.decode().splitlines() if line.startswith("{")]
    ready = [r for r in records if "is ready" in r["msg"]]
    assert len(ready) == 1 and ready[0]["level"] == "INFO" and ready[0]["logger"] == "framework.cli"
    assert all(line.startswith("{") for line in proc.err.decode().splitlines() if line.strip())


def test_log_level_from_the_environment_and_the_toml_file_in_console_mode(tmp_path: Path) -> None:
    """The console used to force WARNING; QQBOT_LOG_LEVEL and [logging] level are honoured now."""
    import os
    import pty
    import select
    import subprocess
    import time

    for how in ("env", "toml"):
        env = clean_env(QQBOT_LOG_LEVEL="DEBUG") if how == "env" else clean_env()
        (tmp_path / "qqbot.toml").write_text('[logging]\nlevel = "DEBUG"\n' if how == "toml" else "")
        master, slave = pty.openpty()
        proc = subprocess.Popen(
            [*QQBOT, "run", EXAMPLE], stdin=slave, stdout=slave, stderr=slave, env=env, cwd=tmp_path, close_fds=True
        )
        os.close(slave)
        seen = b""
        try:
            deadline = time.monotonic() + 30
            while b" DEBUG " not in seen or b"] > " not in seen:
                assert time.monotonic() < deadline, seen.decode(errors="replace")
                if select.select([master], [], [], 0.2)[0]:
                    try:
                        seen += os.read(master, 65536)
                    except OSError:
                        break
            os.write(master, b":quit\n")
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            os.close(master)
        assert b" DEBUG " in seen, (how, seen.decode(errors="replace"))


def test_new_creates_a_project_and_needs_f_to_overwrite(tmp_path: Path) -> None:
    """docs/scaffold.md: ``qqbot new [--no-input] [-o DIR] [-f] [key=value ...]``."""
    out = tmp_path / "out"
    first = run([*QQBOT, "new", "--no-input", "-o", str(out), "bot_name=Docs Bot"], cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    project = out / "docs-bot"
    assert (project / "pyproject.toml").is_file()
    again = run([*QQBOT, "new", "--no-input", "-o", str(out), "bot_name=Docs Bot"], cwd=tmp_path)
    assert again.returncode == 1
    (project / "README.md").write_text("changed")
    forced = run([*QQBOT, "new", "--no-input", "-o", str(out), "-f", "bot_name=Docs Bot"], cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert (project / "README.md").read_text() != "changed"


def test_profile_and_dotenv_reach_qqbot_check(tmp_path: Path) -> None:
    (tmp_path / "qqbot.toml").write_text("[bot]\napp_id = 102000001\n")  # an integer AppID is accepted
    (tmp_path / ".env").write_text("QQBOT_APP_SECRET=from-dotenv\nQQBOT_API_BASE=http://base.from.dotenv\n")
    (tmp_path / ".env.staging").write_text("QQBOT_API_BASE=http://base.from.staging\n")
    proc = run([*QQBOT, "check", EXAMPLE, "--profile", "staging"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "app id:     102000001  api: http://base.from.staging" in proc.stdout
    proc = run([*QQBOT, "check", EXAMPLE], cwd=tmp_path, env=clean_env(QQBOT_PROFILE="staging"))
    assert "api: http://base.from.staging" in proc.stdout
    proc = run([*QQBOT, "check", EXAMPLE], cwd=tmp_path)
    assert "api: http://base.from.dotenv" in proc.stdout
    env = clean_env(QQBOT_API_BASE="http://base.from.environment")
    proc = run([*QQBOT, "check", EXAMPLE, "--profile", "staging"], cwd=tmp_path, env=env)
    assert "api: http://base.from.environment" in proc.stdout
    assert "from-dotenv" not in proc.stdout + proc.stderr
    proc = run([*QQBOT, "check", EXAMPLE, "--profile", "nope"], cwd=tmp_path)
    assert proc.returncode == 1 and "profile 'nope': no file" in proc.stderr


def test_run_on_the_emulator_sigint_exits_cleanly(tmp_path: Path) -> None:
    """``qqbot run BOT --emulator --no-console --emulator-port P`` (docs/configuration.md), stopped by Ctrl-C."""
    port = free_port()
    argv = [*QQBOT, "run", EXAMPLE, "--emulator", "--no-console", "--emulator-port", str(port)]
    with Proc(argv, cwd=tmp_path) as proc:
        proc.wait_for("is ready")
        base = f"http://127.0.0.1:{port}"
        with _http() as http:
            http.post(f"{base}/_emulator/act/c2c_message", json={"content": "/ping", "openid": "U2"})
        assert [m["body"]["content"] for m in _wait_sent(base, "c2c", "U2")] == ["pong"]  # type: ignore[index]
        assert proc.stop(signal.SIGINT) == 0
    assert "Traceback" not in proc.text


def test_documented_commands_are_all_exercised() -> None:
    """A guard: every ``qqbot`` subcommand and flag that README.md and docs/*.md show is run by a test here."""
    import re

    texts = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    lines: set[str] = set()
    for path in texts:
        pattern = r"(?:^|`|\$ |\n)\s*(qqbot (?:run|check|emulator|new|shards|gateway|worker)\b[^`\n|#]*)"
        for m in re.finditer(pattern, path.read_text()):
            lines.add(m.group(1).strip())
    assert lines, "no documented command lines found"
    tests = "\n".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py") if p.name != Path(__file__).name)
    tests += Path(__file__).read_text().split("def test_documented_commands_are_all_exercised")[0]
    tests += "\n".join(p.read_text() for p in (ROOT / "tests" / "scaffold").glob("test_*.py"))
    tests += "\n".join(p.read_text() for p in (ROOT / "tests" / "observability").glob("test_*.py"))  # --metrics-port
    # the fleet's processes run `qqbot run --sessions URL --shard-count N` (tests/fleet/_fleet_harness.py)
    tests += "\n".join(p.read_text() for p in (ROOT / "tests" / "fleet").glob("*.py"))
    tests += "\n".join(p.read_text() for p in (ROOT / "tests" / "bus").glob("*.py"))  # qqbot gateway / worker
    missing = []
    for line in sorted(lines):
        command = line.split()[1]
        if f'"{command}"' not in tests:
            missing.append(f"{line}: no test runs `qqbot {command}`")
        for flag in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", line):
            if f'"{flag}"' not in tests:
                missing.append(f"{line}: no test passes {flag}")
    assert not missing, "\n".join(missing)
