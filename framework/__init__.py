"""qqbot-framework: build, test and run QQ open-platform bots.

The public surface is re-exported here; submodules hold the layers (see ``docs/architecture.md``).
"""

from framework.app import Bot, Context
from framework.models import EVENT_TABLE, Intents, intents_for

__version__ = "0.1.0"

__all__ = ["EVENT_TABLE", "Bot", "Context", "Intents", "__version__", "intents_for"]
