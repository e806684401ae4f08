"""The audit control API: ``POST /_emulator/audit`` sets how proactive guild/DM sends are audited,
``GET /_emulator/audit`` lists the audits so far (protocol.md §0 "Audit").

Body of the POST: ``{"mode": "off"|"pass"|"reject", "delay": seconds, "status": 200|202}`` (each
optional). In ``pass``/``reject`` mode a send without ``msg_id``/``event_id`` answers ``status`` with
``{"code": 304023, "message", "data": {"message_audit": {"audit_id"}}}`` and, ``delay`` seconds later,
MESSAGE_AUDIT_PASS (the message is posted) or MESSAGE_AUDIT_REJECT carrying that ``audit_id``.
"""

from __future__ import annotations

from typing import Any

from framework.emulator.config import EmulatorConfig
from framework.emulator.http import ApiError, Code, HttpRequest, HttpResponse, Router, json_response
from framework.emulator.world import AuditRecord, World

__all__ = ["audit_json", "register_audit_control", "set_audit_mode"]


def audit_json(record: AuditRecord) -> dict[str, Any]:
    """An audit as the control API shows it."""
    return {
        "audit_id": record.audit_id,
        "scene": record.scene,
        "target_id": record.target_id,
        "channel_id": record.channel_id,
        "guild_id": record.guild_id,
        "body": record.body,
        "outcome": record.outcome,
        "state": record.state,
        "message_id": record.message_id,
    }


def set_audit_mode(config: EmulatorConfig, mode: str, delay: float | None = None, status: int | None = None) -> None:
    """Switch audit mode (``off``, ``pass``, ``reject``), its delay in seconds and the HTTP status (200/202)."""
    if mode not in ("off", "pass", "reject"):
        raise ValueError(f"audit mode must be off, pass or reject, not {mode!r}")
    if delay is not None and delay < 0:
        raise ValueError("audit delay must be >= 0")
    if status is not None and status not in (200, 201, 202):
        raise ValueError("audit status must be 200, 201 or 202")
    config.audit_mode = mode
    if delay is not None:
        config.audit_delay = delay
    if status is not None:
        config.audit_status = status


def register_audit_control(world: World, config: EmulatorConfig, router: Router) -> None:
    """Register ``POST``/``GET /_emulator/audit`` (no token needed, not recorded as API calls)."""

    async def post(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        body = req.json_object()
        mode = body.get("mode", config.audit_mode)
        delay = body.get("delay")
        status = body.get("status")
        if not isinstance(mode, str):
            raise ApiError(400, Code.BODY_INVALID, "mode must be a string: off, pass or reject")
        if delay is not None and (isinstance(delay, bool) or not isinstance(delay, int | float)):
            raise ApiError(400, Code.BODY_INVALID, "delay must be a number of seconds")
        if status is not None and (isinstance(status, bool) or not isinstance(status, int)):
            raise ApiError(400, Code.BODY_INVALID, "status must be an integer")
        try:
            set_audit_mode(config, mode, None if delay is None else float(delay), status)
        except ValueError as exc:
            raise ApiError(400, Code.BODY_INVALID, str(exc)) from None
        return json_response(
            200, {"mode": config.audit_mode, "delay": config.audit_delay, "status": config.audit_status}
        )

    async def get(req: HttpRequest, params: dict[str, str]) -> HttpResponse:
        world.fire_due_timers()
        audits = [audit_json(a) for a in world.audits.values()]
        return json_response(200, {"mode": config.audit_mode, "delay": config.audit_delay, "audits": audits})

    router.add("POST", "/_emulator/audit", post)
    router.add("GET", "/_emulator/audit", get)
