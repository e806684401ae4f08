"""Request-shape checks shared by the REST routes: field types, message bodies per ``msg_type``.

Nulls are accepted wherever a field is optional: botpy sends every unused field as JSON ``null``
(protocol.md §12.3 row 13), and the platform serves botpy. Unknown fields are ignored (botpy also sends
path parameters such as ``group_openid`` and ``channel_id`` in the body). Every rejection is an
:class:`~framework.emulator.http.ApiError` the router turns into the platform's error body
and a log line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from framework.emulator.http import ApiError, Code

__all__ = [
    "MESSAGE_FIELDS",
    "MSG_TYPE_NEEDS",
    "check_fields",
    "check_keyboard_rule",
    "check_markdown",
    "present",
]

_TYPE_NAMES = {str: "a string", int: "an integer", bool: "a boolean", dict: "an object", list: "a list"}

#: Known message-body fields and their JSON types (protocol.md §5.1, §11.2).
MESSAGE_FIELDS: dict[str, type] = {
    "content": str,
    "msg_type": int,
    "markdown": dict,
    "keyboard": dict,
    "ark": dict,
    "embed": dict,
    "media": dict,
    "image": str,
    "message_reference": dict,
    "msg_id": str,
    "event_id": str,
    "msg_seq": int,
    "input_notify": dict,
    "is_wakeup": bool,
    "subscribe_id": str,
    "prompt_keyboard": dict,
    "action_button": dict,
    "stream": dict,
    "timestamp": int,
}

#: msg_type -> the part it needs (0 text, 2 markdown, 3 ark, 4 embed, 6 input_notify (C2C), 7 media).
MSG_TYPE_NEEDS = {0: "content", 2: "markdown", 3: "ark", 4: "embed", 6: "input_notify", 7: "media"}


def _is(value: Any, kind: type) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def check_fields(body: Mapping[str, Any], fields: Mapping[str, type], *, where: str = "") -> None:
    """Each known field present and non-null has its JSON type, else 400/12002."""
    for name, kind in fields.items():
        value = body.get(name)
        if value is not None and not _is(value, kind):
            raise ApiError(400, Code.BODY_INVALID, f"{where}{name} must be {_TYPE_NAMES[kind]}")


def present(body: Mapping[str, Any], name: str) -> bool:
    """The field holds something (not absent, null, ``""`` or ``{}``)."""
    value = body.get(name)
    return value is not None and value != "" and value != {}


def check_markdown(markdown: Mapping[str, Any]) -> None:
    """Raw ``content`` or a template (``custom_template_id``/``template_id`` + ``params``), not both
    (50037, the emulator's pick for "markdown combination" errors; UNCONFIRMED)."""
    check_fields(
        markdown,
        {"content": str, "custom_template_id": str, "template_id": int, "params": list, "style": dict},
        where="markdown.",
    )
    params = markdown.get("params") or []
    for param in params:
        if (
            not isinstance(param, dict)
            or not isinstance(param.get("key"), str)
            or not isinstance(param.get("values"), list)
            or not all(isinstance(v, str) for v in param["values"])
        ):
            raise ApiError(400, Code.BODY_INVALID, "markdown.params must be [{key: string, values: [string]}]")
    raw = present(markdown, "content")
    template = present(markdown, "custom_template_id") or bool(markdown.get("template_id"))
    if raw and template:
        raise ApiError(400, Code.MARKDOWN_COMBINATION, "markdown takes raw content or a template, not both")
    if not raw and not template:
        raise ApiError(400, Code.MARKDOWN_COMBINATION, "markdown needs content or custom_template_id")
    style = markdown.get("style")
    if isinstance(style, dict):
        check_fields(style, {"main_font_size": str, "layout": str}, where="markdown.style.")


def check_keyboard(keyboard: Mapping[str, Any]) -> None:
    """A template keyboard ``{id}`` or an inline one ``{content: {rows: [{buttons: [...]}]}}`` (≤5 × ≤5)."""
    check_fields(keyboard, {"id": str, "content": dict}, where="keyboard.")
    content = keyboard.get("content")
    if not present(keyboard, "id") and not content:
        raise ApiError(400, Code.BODY_INVALID, "keyboard needs id (template) or content.rows")
    if isinstance(content, dict):
        rows = content.get("rows")
        if not isinstance(rows, list) or len(rows) > 5:
            raise ApiError(400, Code.BODY_INVALID, "keyboard.content.rows must be a list of at most 5 rows")
        for row in rows:
            buttons = row.get("buttons") if isinstance(row, dict) else None
            if not isinstance(buttons, list) or len(buttons) > 5:
                raise ApiError(400, Code.BODY_INVALID, "each keyboard row needs buttons: a list of at most 5")


def check_keyboard_rule(body: Mapping[str, Any], msg_type: int | None) -> None:
    """A keyboard rides only on a markdown message (msg_type 2; protocol.md §0 "Keyboards ride on
    markdown", BD ``trans/msg-btn.md``): elsewhere 50037 (UNCONFIRMED code)."""
    if body.get("keyboard") is None:
        return
    if msg_type is not None and msg_type != 2:
        raise ApiError(
            400,
            Code.MARKDOWN_COMBINATION,
            f"keyboard is only allowed on markdown messages (msg_type 2), not {msg_type}",
        )
    if msg_type is None and body.get("markdown") is None:
        raise ApiError(400, Code.MARKDOWN_COMBINATION, "keyboard is only allowed together with markdown")
    check_keyboard(body["keyboard"])
