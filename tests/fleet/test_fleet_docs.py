"""docs/fleet.md's launch script, run as written: two copies with ``QQBOT_SESSIONS`` set share the shards."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from _fleet_harness import APP_ID, APP_SECRET, HERE, ROOT, EmulatorProcess, _Process, clean_env, owners, wait_until

PAGE = ROOT / "docs" / "fleet.md"


def _launch_script() -> str:
    text = PAGE.read_text(encoding="utf-8")
    m = re.search(r"<!-- launch-script -->\s*\n```python\n(.*?)^```", text, re.S | re.M)
    assert m, "docs/fleet.md has no launch script"
    return m.group(1)


def test_the_launch_script_joins_a_fleet_when_qqbot_sessions_is_set(tmp_path: Path, redis_server, processes) -> None:
    script = tmp_path / "launch.py"
    script.write_text(_launch_script(), encoding="utf-8")
    (tmp_path / "mybot.py").write_text("from fleet_bot import bot  # noqa: F401\n", encoding="utf-8")
    emulator = EmulatorProcess(tmp_path, 4, 2)
    processes.append(emulator)
    sessions = f"{redis_server.url}?lease_ttl=3"
    env = clean_env(
        QQBOT_APP_ID=APP_ID,
        QQBOT_APP_SECRET=APP_SECRET,
        QQBOT_API_BASE=emulator.url,
        QQBOT_TOKEN_URL=f"{emulator.url}/app/getAppAccessToken",
        QQBOT_SESSIONS=sessions,
        QQBOT_SHARD_COUNT="4",
        PYTHONPATH=f"{tmp_path}:{HERE}:{ROOT}",
    )
    copies = [_Process(f"launch{i}", [sys.executable, str(script)], tmp_path / f"launch{i}.log", env) for i in (1, 2)]
    processes.extend(copies)
    for proc in copies:
        proc.wait_for("ready; Ctrl-C stops the bot", 60)
    wait_until(lambda: sorted(len(v) for v in owners(sessions).values()) == [2, 2], 60, "a 2/2 split", poll=0.3)
    wait_until(lambda: len(emulator.live()) == 4, 30, "every shard live")
    for proc in copies:
        assert proc.interrupt() == 0, proc.output()
        assert "Traceback" not in proc.output()
    assert owners(sessions) == {}  # both released their leases on the way out
