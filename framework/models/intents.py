"""Gateway intents: which event families a connection subscribes to (protocol.md §3)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntFlag

__all__ = ["ALL_INTENTS", "DEFAULT_PERMITTED", "NEEDS_APPROVAL", "PRIVATE_BOTS_ONLY", "Intents", "approval_note"]


class Intents(IntFlag):
    """Intent bits sent in Identify. Users never write these by hand: the ``Bot`` computes them."""

    NONE = 0
    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_MESSAGES = 1 << 9
    """Every guild message; private bots only."""
    GUILD_MESSAGE_REACTIONS = 1 << 10
    DIRECT_MESSAGE = 1 << 12
    OPEN_FORUMS_EVENT = 1 << 18
    AUDIO_OR_LIVE_CHANNEL_MEMBER = 1 << 19
    ENTER_AIO = 1 << 23
    """Only in botgo; unconfirmed by the platform docs."""
    GROUP_MEMBER_EVENT = 1 << 24
    GROUP_AND_C2C_EVENT = 1 << 25
    INTERACTION = 1 << 26
    MESSAGE_AUDIT = 1 << 27
    FORUMS_EVENT = 1 << 28
    """Private bots only."""
    AUDIO_ACTION = 1 << 29
    PUBLIC_GUILD_MESSAGES = 1 << 30

    @classmethod
    def for_events(cls, event_types: Iterable[str]) -> Intents:
        """Return the intents needed to receive ``event_types`` (unknown types need none)."""
        from framework.models.event_table import intents_for

        return intents_for(event_types)


#: Every intent bit defined (anything outside it is an invalid Identify).
ALL_INTENTS = Intents(sum(int(flag) for flag in Intents))

#: Intents a new bot has without applying for them (protocol.md §0 "Intents a new bot has"; BD
#: ``dev-prepare/interface-framework/event-emit.md`` §权限). The emulator grants these by default.
DEFAULT_PERMITTED = Intents.GUILDS | Intents.PUBLIC_GUILD_MESSAGES | Intents.GUILD_MEMBERS

#: Intents that must be applied for on the open platform (q.qq.com) before an Identify may ask for them.
NEEDS_APPROVAL = ALL_INTENTS & ~DEFAULT_PERMITTED

#: Intents only private bots can be granted (protocol.md §0; §3).
PRIVATE_BOTS_ONLY = Intents.GUILD_MESSAGES | Intents.FORUMS_EVENT


def approval_note(intent: Intents) -> str:
    """How a bot gets ``intent``: ``"granted to every bot"``, ``"needs approval"`` or ``"private bots only"``."""
    if intent & PRIVATE_BOTS_ONLY:
        return "private bots only"
    if intent & NEEDS_APPROVAL:
        return "needs approval"
    return "granted to every bot"
