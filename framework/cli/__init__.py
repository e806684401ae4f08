"""The ``qqbot`` command line."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``qqbot``; returns the process exit code."""
    args = sys.argv[1:] if argv is None else argv
    print("qqbot: no commands yet", args, file=sys.stderr)
    return 2
