"""Where an event can be answered, and the scenes a bot serves.

:class:`Scene` and :class:`ReplyTarget` live in :mod:`framework.models.scenes` (re-exported here); what
each event type means for them is a column of the event table (``scene``, ``reply_target``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from framework.models import EVENT_TABLE, InboundEvent
from framework.models.scenes import ReplyTarget, Scene

__all__ = ["MESSAGE_EVENTS_BY_SCENE", "ReplyTarget", "Scene", "parse_scenes", "reply_target"]


def parse_scenes(values: Iterable[Scene | str], *, source: str = "scenes") -> frozenset[Scene]:
    """``["group", "c2c", "guild", "dm"]`` -> scenes; a one-line :class:`ValueError` names a bad entry."""
    if isinstance(values, str):
        values = [v for v in values.replace(",", " ").split() if v]
    chosen: set[Scene] = set()
    for value in values:
        try:
            chosen.add(Scene(value))
        except ValueError:
            raise ValueError(
                f"{source}: unknown scene {value!r}; expected some of group, c2c, guild (or channel), dm"
            ) from None
    return frozenset(chosen)


#: The user-message event a command in each scene listens to (the event table's ``scene`` column).
MESSAGE_EVENTS_BY_SCENE: Mapping[Scene, str] = MappingProxyType(
    {spec.scene: spec.type for scene in Scene for spec in EVENT_TABLE.values() if spec.scene is scene}
)


def reply_target(event: InboundEvent, decoded: Any) -> ReplyTarget | None:
    """Return where a reply to ``event`` goes, or ``None`` when the event cannot be answered."""
    spec = EVENT_TABLE.get(event.type)
    resolver = spec.reply_target if spec is not None else None
    return resolver(decoded, event) if resolver is not None else None
