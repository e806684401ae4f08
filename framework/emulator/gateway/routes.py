"""Control routes for the gateway under ``/_emulator/gateway/`` on the shared :class:`Router`.

- ``GET  /_emulator/gateway/sessions``: :meth:`GatewayHub.snapshot`.
- ``POST /_emulator/gateway/faults/{fault}`` with an optional JSON body ``{"shard", "app_id", ...}``:
  ``drop``, ``reconnect``, ``invalid_session`` (``resumable``), ``close`` (``code``, ``reason``),
  ``pause_acks``, ``resume_acks``, ``expire_session``, ``resume_reject_code`` (``code``: 4006 or 4902),
  ``raw`` (``frame``: a string sent as-is as one text frame), ``hello`` (``frame``: sent instead of the
  Hello to the next connection).
  Answers ``{"affected": n}``.
"""

from __future__ import annotations

from collections.abc import Callable

from framework.emulator.gateway.hub import GatewayHub
from framework.emulator.http import ApiError, Body, Code, HttpRequest, HttpResponse, Router, decode_body, json_response

__all__ = ["GATEWAY_FAULTS", "GatewayFaultBody", "register_gateway_routes"]


class GatewayFaultBody(Body):
    """The body of ``POST /_emulator/gateway/faults/{fault}`` (every field optional; each fault reads its own)."""

    shard: int | None = None
    """Act on this shard only (None: every shard)."""
    app_id: str | None = None
    """Act on this app's sessions only (None: every app)."""
    resumable: bool = False
    """``invalid_session``: op 9 ``d``."""
    code: int | None = None
    """``close``: the close code (1000-4999); ``resume_reject_code``: 4006 or 4902."""
    reason: str = ""
    """``close``: the close reason."""
    frame: str | None = None
    """``raw`` / ``hello``: the text frame sent as is."""

    def close_code(self) -> int:
        if self.code is None or not 1000 <= self.code <= 4999:
            raise ApiError(400, Code.BODY_INVALID, "code: a close code (1000-4999) is required")
        return self.code

    def raw_frame(self) -> bytes:
        if self.frame is None:
            raise ApiError(400, Code.BODY_INVALID, "frame is required (a string sent as one text frame)")
        return self.frame.encode()


def _reject_code(hub: GatewayHub, b: GatewayFaultBody) -> int:
    if b.code is None:
        raise ApiError(400, Code.BODY_INVALID, "code is required")
    hub.settings.resume_reject_code = b.code
    return 0


def _paused(hub: GatewayHub, b: GatewayFaultBody) -> int:
    hub.pause_heartbeat_acks(b.shard, app_id=b.app_id)
    return 0


def _unpaused(hub: GatewayHub, b: GatewayFaultBody) -> int:
    hub.resume_heartbeat_acks()
    return 0


def _hello(hub: GatewayHub, b: GatewayFaultBody) -> int:
    hub.hello_overrides.append(b.raw_frame())
    return 0


GATEWAY_FAULTS: dict[str, Callable[[GatewayHub, GatewayFaultBody], int]] = {
    "drop": lambda hub, b: hub.drop(b.shard, app_id=b.app_id),
    "reconnect": lambda hub, b: hub.reconnect(b.shard, app_id=b.app_id),
    "invalid_session": lambda hub, b: hub.invalid_session(b.shard, app_id=b.app_id, resumable=b.resumable),
    "close": lambda hub, b: hub.close(b.close_code(), b.reason, b.shard, app_id=b.app_id),
    "pause_acks": _paused,
    "resume_acks": _unpaused,
    "expire_session": lambda hub, b: hub.expire_session(b.shard, app_id=b.app_id),
    "resume_reject_code": _reject_code,
    "raw": lambda hub, b: hub.send_raw(b.raw_frame(), b.shard, app_id=b.app_id),
    "hello": _hello,
}
"""Each gateway fault: what it does with the hub; returns how many connections or sessions it affected."""


def register_gateway_routes(hub: GatewayHub, router: Router) -> None:
    """Add the gateway's inspection and fault routes to ``router``."""

    async def sessions(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        return json_response(200, hub.snapshot())

    async def fault(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        name = params["fault"]
        apply = GATEWAY_FAULTS.get(name)
        if apply is None:
            raise ApiError(404, Code.NOT_FOUND, f"unknown gateway fault {name!r}; known: {sorted(GATEWAY_FAULTS)}")
        return json_response(200, {"affected": apply(hub, decode_body(req, GatewayFaultBody))})

    router.add("GET", "/_emulator/gateway/sessions", sessions)
    router.add("POST", "/_emulator/gateway/faults/{fault}", fault)
