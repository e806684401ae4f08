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

from framework.emulator.gateway.hub import GatewayHub
from framework.emulator.http import ApiError, HttpRequest, HttpResponse, Router, json_response, opt_int

__all__ = ["register_gateway_routes"]


def register_gateway_routes(hub: GatewayHub, router: Router) -> None:
    """Add the gateway's inspection and fault routes to ``router``."""

    async def sessions(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        return json_response(200, hub.snapshot())

    async def fault(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        body = req.json_object()
        shard = opt_int(body, "shard")
        app_id = body.get("app_id")
        if app_id is not None and not isinstance(app_id, str):
            raise ApiError(400, 400, "app_id must be a string")
        name = params["fault"]
        affected = 0
        if name == "drop":
            affected = hub.drop(shard, app_id=app_id)
        elif name == "reconnect":
            affected = hub.reconnect(shard, app_id=app_id)
        elif name == "invalid_session":
            affected = hub.invalid_session(shard, app_id=app_id, resumable=bool(body.get("resumable", False)))
        elif name == "close":
            code = opt_int(body, "code")
            if code is None or not 1000 <= code <= 4999:
                raise ApiError(400, 400, "code must be a close code (1000-4999)")
            affected = hub.close(code, str(body.get("reason", "")), shard, app_id=app_id)
        elif name == "pause_acks":
            hub.pause_heartbeat_acks(shard, app_id=app_id)
        elif name == "resume_acks":
            hub.resume_heartbeat_acks()
        elif name == "expire_session":
            affected = hub.expire_session(shard, app_id=app_id)
        elif name == "resume_reject_code":
            code = opt_int(body, "code")
            if code is None:
                raise ApiError(400, 400, "code is required")
            hub.settings.resume_reject_code = code
        elif name in ("raw", "hello"):
            frame = body.get("frame")
            if not isinstance(frame, str):
                raise ApiError(400, 400, "frame must be a string")
            if name == "raw":
                affected = hub.send_raw(frame.encode(), shard, app_id=app_id)
            else:
                hub.hello_overrides.append(frame.encode())
        else:
            raise ApiError(404, 404, f"unknown gateway fault {name!r}")
        return json_response(200, {"affected": affected})

    router.add("GET", "/_emulator/gateway/sessions", sessions)
    router.add("POST", "/_emulator/gateway/faults/{fault}", fault)
