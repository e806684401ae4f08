"""``python -m framework.emulator --port 8080`` (the same as ``qqbot emulator``)."""

import sys

from framework.emulator import main

sys.exit(main(prog="python -m framework.emulator"))
