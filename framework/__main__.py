"""``python -m framework``: the ``qqbot`` command line."""

from framework.cli import main

raise SystemExit(main())
