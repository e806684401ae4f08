"""Pick the session manager a ``sessions`` setting names: ``local`` (one process) or ``redis://…`` (a fleet)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from framework.runtime.gateway.sessions.local import LocalSessionManager

__all__ = ["check_sessions", "session_manager_factory"]


def check_sessions(sessions: str | None) -> str | None:
    """None for one process (``None``, ``""`` or ``"local"``), else the validated Redis URL; ValueError naming the
    fix otherwise. Does not need the ``redis`` extra."""
    if sessions is None or sessions.strip().lower() in ("", "local"):
        return None
    from framework.runtime.gateway.sessions.redis import parse_sessions_url

    parse_sessions_url(sessions.strip())
    return sessions.strip()


def session_manager_factory(sessions: str | None, *, app_id: str) -> Callable[..., LocalSessionManager]:
    """A callable taking :class:`LocalSessionManager`'s arguments: that class itself for one process, or
    :class:`~framework.runtime.gateway.sessions.redis.RedisSessionManager` bound to the URL and app for a fleet
    (which then ignores ``shard_ids``, and refuses one that is set)."""
    url = check_sessions(sessions)
    if url is None:
        return LocalSessionManager
    try:
        from framework.runtime.gateway.sessions.redis import RedisSessionManager
    except ImportError as exc:  # coredis missing
        raise RuntimeError(
            f"sessions = {url.split('@')[-1]!r} needs the redis extra: pip install 'qqbot-framework[redis]' ({exc})"
        ) from None

    def build(*args: Any, **kwargs: Any) -> LocalSessionManager:
        if kwargs.get("shard_ids") is not None:
            raise ValueError("a fleet (sessions = redis://...) assigns shards itself: drop shard_ids / --shard-ids")
        kwargs.pop("shard_ids", None)
        return RedisSessionManager(*args, redis_url=url, app_id=app_id, **kwargs)

    return build
