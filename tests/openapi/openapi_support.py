"""Helpers for the OpenAPI client tests: a scripted MockTransport handler and error answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from framework.runtime.platform import Platform

APP_ID = "102000001"
SECRET = "S3cr3t-DG5g3B4j9X2KOErG"
TOKEN = "tok-AAAA1111BBBB2222"
TOKEN_URL = "https://bots.test/app/getAppAccessToken"
BASE = "https://api.test"
PLATFORM = Platform(BASE, TOKEN_URL)

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


@dataclass
class Script:
    """A MockTransport handler: token requests mint tokens; API requests answer from a queue (or default)."""

    replies: list[Reply] = field(default_factory=list)
    default: Callable[[httpx.Request], httpx.Response] | None = None
    token_replies: list[httpx.Response | Exception] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    token_requests: list[httpx.Request] = field(default_factory=list)
    expires_in: str | int = "7200"
    minted: int = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/app/getAppAccessToken":
            self.token_requests.append(request)
            if self.token_replies:
                reply = self.token_replies.pop(0)
                if isinstance(reply, Exception):
                    raise reply
                return reply
            self.minted += 1
            token = TOKEN if self.minted == 1 else f"{TOKEN}-{self.minted}"
            return httpx.Response(200, json={"access_token": token, "expires_in": self.expires_in})
        self.requests.append(request)
        if self.replies:
            answer = self.replies.pop(0)
            if isinstance(answer, Exception):
                raise answer
            if isinstance(answer, httpx.Response):
                return answer
            return answer(request)
        if self.default is not None:
            return self.default(request)
        return httpx.Response(200, json={})

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def body(self, index: int = -1) -> Any:
        content = self.requests[index].content
        return json.loads(content) if content else None


def error_response(
    status: int, code: int, message: str = "boom", *, trace: str = "trace-1", **headers: str
) -> httpx.Response:
    """A platform error body with both ``code`` and ``err_code`` and a trace header."""
    return httpx.Response(
        status,
        json={"message": message, "code": code, "err_code": code, "trace_id": trace},
        headers={"X-Tps-trace-ID": trace, **headers},
    )
