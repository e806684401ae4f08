"""A fleet of real ``qqbot run`` processes sharing one emulator's shards through a real Redis (issue 13).

Each test starts the emulator in its own process (6 shards; ``max_concurrency`` 3 so that a fleet starts in two
identify windows), a ``redis-server`` of its own (conftest) and bot processes with
``--sessions redis://…?lease_ttl=3``. What happened is read from the emulator's gateway records (every
connection with its shard, kind — identify or resume — and open/close times on the emulator's clock) and from
``qqbot shards --json`` (polled through the command's function in the test process, run as a process once per
test where it is the subject). No shard may ever have two authenticated connections open at once.
"""

from __future__ import annotations

import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _fleet_harness import (
    APP_ID,
    ROOT,
    EmulatorProcess,
    FleetProcess,
    Proxy,
    clean_env,
    fleet_rows,
    overlaps,
    owners,
    shards_json,
    wait_until,
)

SHARDS = 6
TTL = 3.0


def _sessions(url: str, namespace: str = "t") -> str:
    return f"{url}?lease_ttl={TTL:g}&namespace={namespace}"


def _balanced(
    sessions: str, emulator: EmulatorProcess, counts: list[int], shards: int = SHARDS
) -> dict[str, list[int]]:
    """Wait until the owners hold ``counts`` shards (in any order) and every shard has a live session."""

    seen: list[object] = []

    def check() -> dict[str, list[int]] | None:
        held = owners(sessions)
        live = sorted(emulator.live())
        seen[:] = [held, live]
        if sorted(len(v) for v in held.values()) != sorted(counts):
            return None
        return held if len(live) == shards else None

    try:
        result: dict[str, list[int]] = wait_until(check, 60, f"shards split {counts}", poll=0.3)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last seen: owners {seen[0]}, live shards {seen[1]}") from None
    return result


def _recorded(sessions: str, emulator: EmulatorProcess) -> dict[int, dict[str, Any]]:
    """Wait until Redis holds every live session's id (a holder reports it right after READY, one round trip
    later than the emulator sees READY): only then can a taker resume the shard instead of identifying it.
    Returns the live connections."""
    live = emulator.live()
    wait_until(
        lambda: all(r["session_id"] == live[r["shard"]]["session_id"] for r in fleet_rows(sessions)),
        10,
        "the sessions in Redis",
    )
    return live


def _identifies(emulator: EmulatorProcess) -> list[dict[str, object]]:
    return [i for i in emulator.gateway()["identifies"] if i["accepted"]]


def test_twenty_shards_two_processes_ten_each_then_a_third_joins_and_resumes_its_share(
    tmp_path: Path, redis_server, processes
) -> None:
    shards = 20
    emulator = EmulatorProcess(tmp_path, shards, 10)  # 10 identify buckets: the fleet starts in two windows
    processes.append(emulator)
    sessions = _sessions(redis_server.url)
    first = [FleetProcess(tmp_path, f"p{i}", emulator, sessions) for i in (1, 2)]
    processes.extend(first)
    _balanced(sessions, emulator, [10, 10], shards)
    assert len(_identifies(emulator)) == shards  # one identify per shard, none repeated
    before = {c["number"]: c for c in emulator.gateway()["connections"]}

    third = FleetProcess(tmp_path, "p3", emulator, sessions)
    processes.append(third)
    held = _balanced(sessions, emulator, [7, 7, 6], shards)

    gateway = emulator.gateway()
    assert len(_identifies(emulator)) == shards, "the moved shards were identified again instead of resumed"
    share = held[_owner(third, sessions)]
    moved = [c for c in gateway["connections"] if c["number"] not in before and c["kind"]]
    assert sorted(c["shard"][0] for c in moved) == sorted(share), moved
    assert all(c["kind"] == "resume" for c in moved), moved
    # the shards the first two kept were never interrupted: their connections from before are still open
    live = emulator.live()
    kept = [live[s] for s in range(shards) if s not in share]
    assert len(kept) == shards - len(share) and all(c["number"] in before for c in kept)
    assert overlaps(gateway["connections"]) == []
    assert 4008 not in gateway["close_codes_sent"]
    assert "resuming session" in third.output()


def _member_prefix(proc: FleetProcess) -> str:
    import socket

    return f"{socket.gethostname()}:{proc.popen.pid}:"


def test_a_killed_process_shards_are_resumed_elsewhere_within_the_ttl_and_no_event_is_lost(
    tmp_path: Path, redis_server, processes
) -> None:
    emulator = EmulatorProcess(tmp_path, SHARDS, 3)
    processes.append(emulator)
    sessions = _sessions(redis_server.url)
    survivor, victim = (FleetProcess(tmp_path, f"p{i}", emulator, sessions) for i in (1, 2))
    processes.extend([survivor, victim])
    held = _balanced(sessions, emulator, [3, 3])
    lost = held[next(owner for owner in held if owner.startswith(_member_prefix(victim)))]
    live = _recorded(sessions, emulator)
    before = {c["number"] for c in emulator.gateway()["connections"]}
    dying = {live[s]["number"] for s in lost}  # the victim's connections at the kill

    victim.popen.send_signal(signal.SIGKILL)
    victim.popen.wait()
    # events for the dead process's shards while nobody serves them: the emulator keeps them for the resume
    sent = [emulator.guild_message(shard, serial) for serial in range(3) for shard in lost]
    wait_until(lambda: len(owners(sessions).get(_owner(survivor, sessions), [])) == SHARDS, 30, "the takeover")
    wait_until(lambda: len(emulator.live()) == SHARDS, 30, "every shard live again")
    wait_until(lambda: set(sent) <= survivor.handled(), 30, "the events sent while the shards were orphaned")

    gateway = emulator.gateway()
    taken = [c for c in gateway["connections"] if c["number"] not in before and c["kind"]]
    assert sorted(c["shard"][0] for c in taken) == sorted(lost) and all(c["kind"] == "resume" for c in taken)
    assert len(_identifies(emulator)) == SHARDS
    assert overlaps(gateway["connections"]) == []
    # on the emulator's clock: from the dead process's connections dropping (the kernel closes its sockets) to
    # the last taken shard's new connection: at most the TTL, one renewal round (ttl / 5) and the resume
    died = min(c["closed_at"] for c in gateway["connections"] if c["number"] in dying)
    takeover = max(c["opened_at"] for c in taken) - died
    assert takeover < TTL + TTL / 5 + 1.0, takeover


def _owner(proc: FleetProcess, sessions: str) -> str:
    return next(o for o in owners(sessions) if o.startswith(_member_prefix(proc)))


def test_a_fleet_starting_at_once_keeps_the_identify_pacing(tmp_path: Path, redis_server, processes) -> None:
    emulator = EmulatorProcess(tmp_path, SHARDS, 2)
    processes.append(emulator)
    sessions = _sessions(redis_server.url)
    processes.extend(FleetProcess(tmp_path, f"p{i}", emulator, sessions) for i in (1, 2, 3))
    _balanced(sessions, emulator, [2, 2, 2])
    gateway = emulator.gateway()
    assert 4008 not in gateway["close_codes_sent"], gateway["close_codes_sent"]
    attempts = gateway["identifies"]
    assert all(i["accepted"] for i in attempts) and len(attempts) == SHARDS, attempts
    times = sorted(float(i["at"]) for i in attempts)
    assert max(sum(1 for t in times if s <= t < s + 5.0) for s in times) <= 2
    assert overlaps(gateway["connections"]) == []


def test_without_fleet_pacing_the_same_start_trips_4008(tmp_path: Path, processes) -> None:
    """The check above can fail: three processes with fixed shards and only their own pacing burst."""
    emulator = EmulatorProcess(tmp_path, SHARDS, 2)
    processes.append(emulator)
    for i, ids in enumerate(("0,1", "2,3", "4,5")):
        processes.append(FleetProcess(tmp_path, f"l{i}", emulator, "local", "--shard-count", "6", "--shard-ids", ids))
    wait_until(lambda: 4008 in emulator.gateway()["close_codes_sent"], 30, "a 4008 close")


def test_a_graceful_stop_releases_the_leases_at_once(tmp_path: Path, redis_server, processes) -> None:
    emulator = EmulatorProcess(tmp_path, SHARDS, 3)
    processes.append(emulator)
    sessions = _sessions(redis_server.url)
    stays, leaves = (FleetProcess(tmp_path, f"p{i}", emulator, sessions) for i in (1, 2))
    processes.extend([stays, leaves])
    held = _balanced(sessions, emulator, [3, 3])
    handed = held[_owner(leaves, sessions)]
    _recorded(sessions, emulator)

    before = {c["number"]: c for c in emulator.gateway()["connections"]}
    assert leaves.interrupt() == 0
    wait_until(lambda: len(owners(sessions).get(_owner(stays, sessions), [])) == SHARDS, 30, "the takeover")
    wait_until(lambda: len(emulator.live()) == SHARDS, 30, "every shard live again")
    assert "released shards" in leaves.output()
    gateway = emulator.gateway()
    closed = {
        c["shard"][0]: c["closed_at"]
        for c in gateway["connections"]
        if c["number"] in before and c["kind"] and c["shard"][0] in handed
    }
    taken = {c["shard"][0]: c for c in gateway["connections"] if c["number"] not in before and c["kind"]}
    assert sorted(taken) == sorted(handed) and all(c["kind"] == "resume" for c in taken.values()), taken
    # on the emulator's clock, from the leaver's close to the taker's connection: well under the TTL, because
    # the leases were deleted, not left to expire
    gaps = [taken[s]["opened_at"] - closed[s] for s in handed]
    assert max(gaps) < TTL, gaps
    assert len(_identifies(emulator)) == SHARDS
    assert overlaps(gateway["connections"]) == []


def test_service_continues_through_a_redis_restart(tmp_path: Path, redis_server, processes) -> None:
    emulator = EmulatorProcess(tmp_path, SHARDS, 3)
    processes.append(emulator)
    sessions = _sessions(redis_server.url)
    fleet = [FleetProcess(tmp_path, f"p{i}", emulator, sessions) for i in (1, 2)]
    processes.extend(fleet)
    _balanced(sessions, emulator, [3, 3])
    before = {s: c["number"] for s, c in emulator.live().items()}

    redis_server.stop()
    time.sleep(0.5)  # an outage shorter than what a renewal buys (2.2 s here): the shards keep running
    redis_server.start()  # no persistence: every lease, member and fencing counter is gone
    held = _balanced(sessions, emulator, [3, 3])  # the holders claimed their leases again
    time.sleep(2 * TTL)
    assert {s: c["number"] for s, c in emulator.live().items()} == before, "a shard was interrupted"
    assert owners(sessions) == held
    for proc in fleet:
        assert "Redis lost the fleet's state" in proc.output()
    assert overlaps(emulator.gateway()["connections"]) == []
    assert len(_identifies(emulator)) == SHARDS


def test_a_process_cut_off_from_redis_stops_its_shards_before_another_takes_them(
    tmp_path: Path, redis_server, processes
) -> None:
    emulator = EmulatorProcess(tmp_path, SHARDS, 3)
    processes.append(emulator)
    proxy = Proxy(redis_server.port)
    try:
        direct = _sessions(redis_server.url)
        proxied = _sessions(f"redis://127.0.0.1:{proxy.port}/0")
        stays = FleetProcess(tmp_path, "p1", emulator, direct)
        cut = FleetProcess(tmp_path, "p2", emulator, proxied)
        processes.extend([stays, cut])
        held = _balanced(direct, emulator, [3, 3])
        orphaned = held[_owner(cut, direct)]
        _recorded(direct, emulator)  # else the taker identifies a shard whose session never reached Redis
        before = {c["number"] for c in emulator.gateway()["connections"]}

        proxy.cut()
        wait_until(lambda: len(owners(direct).get(_owner(stays, direct), [])) == SHARDS, 30, "the takeover")
        wait_until(lambda: len(emulator.live()) == SHARDS, 30, "every shard live again")
        assert "cannot reach Redis" in cut.output() and "closing it now" in cut.output()
        gateway = emulator.gateway()
        assert overlaps(gateway["connections"]) == [], "two live sessions for one shard during the partition"
        taken = [c for c in gateway["connections"] if c["number"] not in before and c["kind"]]
        assert sorted(c["shard"][0] for c in taken) == sorted(orphaned)
        assert all(c["kind"] == "resume" for c in taken), taken

        proxy.heal()  # the cut-off process comes back and gets its share again, by resume
        _balanced(direct, emulator, [3, 3])
        assert "reachable again" in cut.output()
        gateway = emulator.gateway()
        assert overlaps(gateway["connections"]) == []
        assert len([i for i in gateway["identifies"] if i["accepted"]]) == SHARDS
    finally:
        proxy.close()


def test_qqbot_shards_prints_owner_lease_age_and_state(tmp_path: Path, redis_server, processes) -> None:
    emulator = EmulatorProcess(tmp_path, 2, 2)
    processes.append(emulator)
    sessions = _sessions(redis_server.url)
    proc = FleetProcess(tmp_path, "p1", emulator, sessions)
    processes.append(proc)
    proc.wait_for("is ready", 30)
    rows = wait_until(
        lambda: (r := shards_json(sessions)) and all(x["state"] == "ready" for x in r) and r, 30, "ready rows"
    )
    assert [r["shard"] for r in rows] == [0, 1]
    for row in rows:
        assert row["owner"].startswith(_member_prefix(proc)) and row["pid"] == proc.popen.pid
        assert row["lease_age_s"] >= 0 and row["session_id"] and isinstance(row["last_seq"], int)
    assert statistics.mean(r["lease_ttl_s"] for r in rows) <= TTL
    argv = [sys.executable, "-m", "framework", "shards", "--sessions", sessions, "--app-id", APP_ID]
    table = subprocess.run(argv, cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=60, check=True)
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["shard", "owner", "lease", "age", "state", "last", "seq", "session"]
    assert [line.split()[0] for line in lines[1:]] == ["0", "1"]
    assert all(_member_prefix(proc) in line and " ready " in line for line in lines[1:])
