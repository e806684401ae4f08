"""The CLI tests' subprocess helpers (``tests/cli/_proc.py``) serve these tests too."""

from __future__ import annotations

import sys
from pathlib import Path

_CLI = str(Path(__file__).resolve().parents[1] / "cli")
if _CLI not in sys.path:
    sys.path.insert(0, _CLI)
