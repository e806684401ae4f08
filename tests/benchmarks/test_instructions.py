"""``python benchmarks/instructions.py`` counts instructions per event under valgrind's callgrind. Its refusals are
one line each and need no valgrind; the measurement needs it (scripts/test.sh installs it; no count is
asserted beyond what does not depend on the code: a positive figure, the reference ratio 1.000, and qq-botpy's
count above the framework's)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "instructions.py"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=900, env=env
    )


def test_without_valgrind_it_says_how_to_install_it(tmp_path: Path) -> None:
    proc = run(env=os.environ | {"PATH": str(tmp_path)})  # a PATH with no valgrind on it
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "valgrind is not installed: install it (apt-get install valgrind) to count instructions"
    )


def test_a_tree_that_is_not_a_checkout_and_bad_sizes_are_refused(tmp_path: Path) -> None:
    proc = run("--tree", str(tmp_path))
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"--tree {tmp_path}: no framework/ package there; give the root of a checkout"
    proc = run("--events", "0")
    assert proc.returncode == 1
    assert proc.stderr.strip() == "--events and --base must be at least 1"


def test_it_counts_the_framework_and_qq_botpy_per_event() -> None:
    if shutil.which("valgrind") is None:  # the suite skips nothing: scripts/test.sh installs it (apt-get, as root)
        pytest.fail("valgrind is not installed: apt-get install valgrind (scripts/test.sh does it as root)")
    proc = run("--events", "100", "--base", "50", "--tree", str(ROOT), "--botpy")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = re.findall(r"^(framework|botpy) +([\d,]+) instructions per event", proc.stdout, re.M)
    assert [sdk for sdk, _ in rows] == ["framework", "framework", "botpy"], proc.stdout
    counts = [int(n.replace(",", "")) for _, n in rows]
    assert all(n > 0 for n in counts), proc.stdout
    assert counts[2] > counts[0], proc.stdout  # qq-botpy runs more Python per event than the framework
    assert "this checkout" in proc.stdout and re.search(r"this checkout +[\d,]+ +1\.000", proc.stdout)
