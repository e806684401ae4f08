"""Instructions per event, counted by valgrind's callgrind: a figure that does not move with the machine's load.

On a shared machine the CPU time of one round moves by ±30 % (other jobs, the hypervisor's steal time), so a
change worth 3 % cannot be seen without dozens of alternating rounds. The number of instructions the CPU executes
for the same work is deterministic to ≈0.2 %: this script runs the 1-shard throughput pipeline of
``gateway_vs_botpy.py`` (the emulator in its own process, ``BotRunner`` into a no-op
``@bot.on_group_at_message``) under callgrind with two numbers of events, and prints the difference divided by
the difference in events: the instructions one more event costs, start-up excluded. ``--tree`` measures other
checkouts of the project the same way (``PYTHONPATH``), for an A/B of a change; ``--botpy`` adds qq-botpy.

Instructions are not time: a cache miss or a syscall costs far more than an instruction, and memory copies count
per byte. Use this to compare two versions of the same code; compare with other software by CPU time
(``run.py``). Needs ``valgrind`` (``apt-get install valgrind``); about a minute per case, the client runs ≈50×
slower under callgrind::

    python benchmarks/instructions.py                          # this checkout
    python benchmarks/instructions.py --tree ../old --botpy    # this checkout, another one, qq-botpy
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def child(sdk: str, n: int) -> None:
    """Under callgrind: one round of ``n`` events through ``sdk`` (no warm-up round: the base run pays it too)."""
    sys.path.insert(0, str(HERE))
    from _common import EmulatorOptions, EmulatorProcess

    with EmulatorProcess(EmulatorOptions()) as emu:
        if sdk == "framework":
            import anyio
            from gateway_vs_botpy import run_framework

            rates, _ = anyio.run(run_framework, emu, n, 1, 16, 1, 0)
        else:
            from gateway_vs_botpy import run_botpy

            rates, _ = run_botpy(emu, n, 1, 1, 0)
    print(f"{sdk}: {n} events at {rates[0]:,.0f}/s under callgrind")


def count(sdk: str, n: int, tree: Path) -> int:
    """Instructions callgrind counted in the client process (the emulator child is not traced)."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={Path(tmp) / 'callgrind.out'}",
                sys.executable,
                str(Path(__file__).resolve()),
                "--child",
                sdk,
                str(n),
            ],
            cwd=ROOT,
            env=os.environ | {"PYTHONPATH": str(tree)},
            capture_output=True,
            text=True,
            timeout=1800,
        )
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or found is None:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-10:])
        raise SystemExit(f"{sdk} in {tree} failed under callgrind (exit {proc.returncode}):\n{tail}")
    return int(found.group(1))


def per_event(sdk: str, tree: Path, base: int, events: int) -> float:
    return (count(sdk, base + events, tree) - count(sdk, base, tree)) / events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=20_000, help="the events the figure is measured over")
    parser.add_argument("--base", type=int, default=5_000, help="events of the base run (start-up and warm-up)")
    parser.add_argument(
        "--tree", type=Path, action="append", default=[], help="another checkout to measure (repeatable)"
    )
    parser.add_argument("--botpy", action="store_true", help="also measure qq-botpy on the same workload")
    parser.add_argument("--child", nargs=2, metavar=("SDK", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    if args.events < 1 or args.base < 1:
        sys.exit("--events and --base must be at least 1")
    for tree in args.tree:
        if not (tree / "framework" / "__init__.py").is_file():
            sys.exit(f"--tree {tree}: no framework/ package there; give the root of a checkout")
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed: install it (apt-get install valgrind) to count instructions")
    cases = [("framework", ROOT)] + [("framework", tree.resolve()) for tree in args.tree]
    if args.botpy:
        cases.append(("botpy", ROOT))
    results = []
    for sdk, tree in cases:
        figure = per_event(sdk, tree, args.base, args.events)
        results.append((sdk, tree, figure))
        print(f"{sdk:<10} {figure:>10,.0f} instructions per event   {tree}", flush=True)
    first = results[0][2]
    print(f"\ninstructions per event over {args.events:,} events (base run {args.base:,}); ratio to this checkout:")
    for sdk, tree, figure in results:
        label = "this checkout" if (sdk, tree) == ("framework", ROOT) else str(tree) if sdk == "framework" else sdk
        print(f"  {label:<40} {figure:>10,.0f}   {figure / first:.3f}")


if __name__ == "__main__":
    main()
