"""The CLI tests' subprocess helpers (``tests/cli/_proc.py``) and the fleet tests' processes
(``tests/fleet/_fleet_harness.py``) serve these tests too."""

from __future__ import annotations

import sys
from pathlib import Path

for _helpers in ("cli", "fleet"):
    _path = str(Path(__file__).resolve().parents[1] / _helpers)
    if _path not in sys.path:
        sys.path.insert(0, _path)
