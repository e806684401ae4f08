"""``python -m framework.testing.emulator --port 8080`` (the same as ``qqbot emulator``)."""

import sys

from framework.testing.emulator import main

sys.exit(main(prog="python -m framework.testing.emulator"))
