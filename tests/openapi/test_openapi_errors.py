"""Error mapping: (HTTP status, platform code) → exception class, message contents, audits."""

from __future__ import annotations

import httpx
import pytest
from openapi_support import TOKEN, Script, error_response

from framework.models import errorcodes as ec
from framework.models.api import MessageToCreate, SendResult
from framework.runtime.openapi import (
    AuthenticationError,
    BadRequestError,
    DuplicateMessageError,
    ForbiddenError,
    InvalidReplyTargetError,
    LegacyTokenDisabledError,
    NotFoundError,
    OpenAPI,
    OpenAPIError,
    PendingAudit,
    RateLimitedError,
    ReplyWindowExpiredError,
    ServerError,
    error_class_for,
)

pytestmark = pytest.mark.anyio

MAPPING = [
    (400, ec.MSG_ID_EXPIRED, ReplyWindowExpiredError),
    (400, ec.REPLY_MSG_ID_EXPIRED, ReplyWindowExpiredError),
    (400, ec.REPLY_MSG_ID_EXPIRED_2, ReplyWindowExpiredError),
    (400, ec.EVENT_ID_EXPIRED, ReplyWindowExpiredError),
    (400, ec.PASSIVE_REPLY_LIMIT, ReplyWindowExpiredError),
    (400, ec.EVENT_NOT_REPLYABLE, InvalidReplyTargetError),
    (400, ec.MSG_ID_INVALID, InvalidReplyTargetError),
    (400, ec.MESSAGE_DEDUPLICATED, DuplicateMessageError),
    (400, ec.ACTIVE_MESSAGE_NO_PERMISSION, ForbiddenError),
    (400, ec.BOT_NOT_GROUP_MEMBER, ForbiddenError),
    (403, 0, ForbiddenError),
    (404, 0, NotFoundError),
    (401, ec.TOKEN_MISSING, AuthenticationError),
    (401, ec.TOKEN_INVALID, AuthenticationError),
    (401, 0, AuthenticationError),
    (500, ec.LEGACY_TOKEN_DISABLED, LegacyTokenDisabledError),
    (400, ec.ACTIVE_OVER_LIMIT, RateLimitedError),
    (400, ec.ACTIVE_PUSH_LIMIT_1, RateLimitedError),
    (429, 0, RateLimitedError),
    (500, 0, ServerError),
    (504, 0, ServerError),
    (400, ec.REQUEST_BODY_INVALID, BadRequestError),
    (400, 0, BadRequestError),
    (405, 0, BadRequestError),
    (500, ec.MESSAGE_OVER_LENGTH_GUILD, ServerError),
]


@pytest.mark.parametrize(("status", "code", "cls"), MAPPING)
def test_error_class_for(status: int, code: int, cls: type[OpenAPIError]) -> None:
    assert error_class_for(status, code) is cls


def test_every_class_is_an_openapi_error() -> None:
    assert issubclass(LegacyTokenDisabledError, AuthenticationError)
    for _, _, cls in MAPPING:
        assert issubclass(cls, OpenAPIError)


# Non-retryable mappings, raised on the first answer for a non-idempotent send.
RAISED = [(s, c, k) for s, c, k in MAPPING if k not in (ServerError, RateLimitedError, AuthenticationError)]


@pytest.mark.parametrize(("status", "code", "cls"), RAISED)
async def test_client_raises_mapped_error(
    status: int, code: int, cls: type[OpenAPIError], api: OpenAPI, script: Script
) -> None:
    script.replies = [error_response(status, code, "那不行", trace="tr-77")]
    with pytest.raises(cls) as info:
        await api.post_group_message("G1", MessageToCreate(content="x"))
    exc = info.value
    assert (exc.status, exc.code, exc.trace_id, exc.message) == (status, code, "tr-77", "那不行")
    text = str(exc)
    for part in (f"HTTP {status}", f"code {code}", "那不行", "tr-77", "POST /v2/groups/{group_openid}/messages"):
        assert part in text
    assert TOKEN not in text
    assert len(script.requests) == 1


async def test_trace_header_is_read_case_insensitively(api: OpenAPI, script: Script) -> None:
    script.replies = [
        httpx.Response(404, json={"message": "no", "code": 0}, headers={"x-tps-TRACE-id": "abc"}),
    ]
    with pytest.raises(NotFoundError) as info:
        await api.get_guild("G")
    assert info.value.trace_id == "abc"


async def test_trace_id_falls_back_to_the_body(api: OpenAPI, script: Script) -> None:
    script.replies = [httpx.Response(400, json={"message": "m", "err_code": 12002, "trace_id": "from-body"})]
    with pytest.raises(BadRequestError) as info:
        await api.get_guild("G")
    assert (info.value.code, info.value.err_code, info.value.trace_id) == (12002, 12002, "from-body")


async def test_old_body_with_code_only(api: OpenAPI, script: Script) -> None:
    script.replies = [httpx.Response(403, json={"message": "get guild id failed", "code": 11264})]
    with pytest.raises(ForbiddenError) as info:
        await api.get_guild("G")
    assert info.value.code == 11264


async def test_non_json_error_body(api: OpenAPI, script: Script) -> None:
    script.replies = [httpx.Response(400, text="<html>bad gateway thing</html>")]
    with pytest.raises(BadRequestError) as info:
        await api.get_guild("G")
    assert "bad gateway thing" in str(info.value)
    assert info.value.code == 0


async def test_token_echoed_by_server_is_scrubbed(api: OpenAPI, script: Script) -> None:
    script.replies = [error_response(400, 12002, f"bad header QQBot {TOKEN}")]
    with pytest.raises(BadRequestError) as info:
        await api.post_group_message("G1", MessageToCreate(content="x"))
    assert TOKEN not in str(info.value)
    assert TOKEN not in info.value.message


@pytest.mark.parametrize("status", [201, 202])
async def test_audit_answer_is_a_pending_result(status: int, api: OpenAPI, script: Script) -> None:
    script.replies = [
        httpx.Response(
            status,
            json={
                "code": 304023,
                "message": "push message is waiting for audit now",
                "data": {"message_audit": {"audit_id": "ab9bd72f-19e8-4394-b09e-66caca0d64e4"}},
            },
            headers={"X-Tps-trace-ID": "t-a"},
        )
    ]
    result = await api.post_channel_message("C1", MessageToCreate(content="x"))
    assert isinstance(result, PendingAudit)
    assert result == PendingAudit(
        audit_id="ab9bd72f-19e8-4394-b09e-66caca0d64e4",
        status=status,
        code=304023,
        message="push message is waiting for audit now",
        trace_id="t-a",
    )


async def test_audit_code_with_error_status_is_pending_too(api: OpenAPI, script: Script) -> None:
    script.replies = [error_response(400, ec.REPLY_AWAITING_AUDIT)]
    result = await api.post_dms_message("D1", MessageToCreate(content="x", msg_id="m"))
    assert isinstance(result, PendingAudit)
    assert result.code == ec.REPLY_AWAITING_AUDIT


async def test_audit_on_request_escape_hatch(api: OpenAPI, script: Script) -> None:
    script.replies = [httpx.Response(202, json={"code": 304023, "data": {"message_audit": {"audit_id": "A"}}})]
    result = await api.request("POST", "/channels/C/messages", json={"content": "x"})
    assert result == PendingAudit(audit_id="A", status=202, code=304023)


async def test_audit_on_a_non_send_endpoint_is_an_error(api: OpenAPI, script: Script) -> None:
    script.replies = [httpx.Response(202, json={"code": 304023, "data": {"message_audit": {"audit_id": "A"}}})]
    with pytest.raises(OpenAPIError, match="audit"):
        await api.get_guild("G")


async def test_success_is_not_pending(api: OpenAPI, script: Script) -> None:
    script.replies = [httpx.Response(200, json={"id": "R", "timestamp": "2025-03-13T23:30:49+08:00"})]
    result = await api.post_group_message("G", MessageToCreate(content="x"))
    assert result == SendResult(id="R", timestamp="2025-03-13T23:30:49+08:00")
