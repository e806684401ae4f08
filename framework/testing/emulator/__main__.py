"""Deprecated: ``python -m framework.testing.emulator`` is ``python -m framework.emulator`` (``qqbot emulator``)."""

import sys

from framework.emulator import main

sys.exit(main(prog="python -m framework.testing.emulator"))
