"""Typed models and protocol constants: the bottom layer, shared by the client and the emulator."""

from framework.models.common import *  # noqa: F403
from framework.models.common import __all__ as _common_all
from framework.models.constants import *  # noqa: F403
from framework.models.constants import __all__ as _constants_all
from framework.models.envelope import *  # noqa: F403
from framework.models.envelope import __all__ as _envelope_all
from framework.models.event_table import *  # noqa: F403
from framework.models.event_table import __all__ as _table_all
from framework.models.events import *  # noqa: F403
from framework.models.events import __all__ as _events_all
from framework.models.intents import *  # noqa: F403
from framework.models.intents import __all__ as _intents_all
from framework.models.replying import *  # noqa: F403
from framework.models.replying import __all__ as _replying_all
from framework.models.results import *  # noqa: F403
from framework.models.results import __all__ as _results_all
from framework.models.transport import *  # noqa: F403
from framework.models.transport import __all__ as _transport_all

__all__ = [
    *_common_all,
    *_constants_all,
    *_envelope_all,
    *_table_all,
    *_events_all,
    *_intents_all,
    *_replying_all,
    *_results_all,
    *_transport_all,
]
