"""REST paths as bounded label values: the ids in a path replaced by ``{id}``."""

from __future__ import annotations

import re

__all__ = ["route_of"]

_WORD = re.compile(r"^(?:v\d+|@me|[a-z_]+)$")


def route_of(path: str) -> str:
    """``path`` with its ids replaced by ``{id}``: ``/v2/groups/ABC/messages`` -> ``/v2/groups/{id}/messages``.

    Segments of lowercase letters and underscores (``messages``), ``v2`` and ``@me`` stay; a query is dropped.
    """
    return "/".join(p if not p or _WORD.match(p) else "{id}" for p in path.split("?", 1)[0].split("/"))
