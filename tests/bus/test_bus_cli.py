"""``qqbot gateway`` / ``qqbot worker`` refusing what cannot work, with one line naming the fix (real processes)."""

from __future__ import annotations

import subprocess
import sys

from _bus_harness import BOT, free_port
from _fleet_harness import APP_ID, APP_SECRET, ROOT, clean_env


def _qqbot(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "framework", *argv],
        cwd=ROOT,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_bus_url_of_no_backend_is_refused() -> None:
    done = _qqbot("worker", BOT, "--bus", "kafka://127.0.0.1:9092")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "qqbot: error: --bus 'kafka://127.0.0.1:9092': expected redis://HOST:PORT/DB or nats://HOST:PORT"
    )


def test_a_bad_bus_option_is_refused() -> None:
    done = _qqbot("gateway", BOT, "--bus", "redis://127.0.0.1:6379/0?partitions=0")
    assert done.returncode == 1
    assert "--bus ...?partitions=0: expected an integer in 1..4096" in done.stderr


def test_credentials_are_required() -> None:
    done = _qqbot("worker", BOT, "--bus", "redis://127.0.0.1:6379/0")
    assert done.returncode == 1
    assert "no credentials: set QQBOT_APP_ID and QQBOT_APP_SECRET" in done.stderr


def test_an_unreachable_nats_server_is_one_line() -> None:
    port = free_port()  # nothing listens there
    done = _qqbot(
        "worker", BOT, "--bus", f"nats://127.0.0.1:{port}", QQBOT_APP_ID=APP_ID, QQBOT_APP_SECRET=APP_SECRET,
        QQBOT_API_BASE="http://127.0.0.1:9", QQBOT_TOKEN_URL="http://127.0.0.1:9/token",
    )  # fmt: skip
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"qqbot: error: cannot connect to NATS at 127.0.0.1:{port}"), done.stderr
    assert last.endswith("check --bus and that the server runs")
    assert "Traceback" not in done.stderr
