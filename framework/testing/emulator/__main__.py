"""``python -m framework.testing.emulator --port 8080``."""

import sys

from framework.testing.emulator import main

sys.exit(main())
