"""The slice of the OpenAPI client the app layer uses (:class:`ApiClient`, a Protocol defined in
:mod:`framework.interfaces`) and what the client reports per request (:class:`ApiRequest`).

The concrete client lives in :mod:`framework.runtime.openapi`; anything with these methods works
(the emulator's client, a recording fake in unit tests).
"""

from __future__ import annotations

from dataclasses import dataclass

from framework.interfaces import ApiClient  # defined with the other seams; re-exported here

__all__ = ["ApiClient", "ApiRequest"]


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """One OpenAPI request as observed by the client (what the ``qqbot_api_request`` hook receives).

    Never carries headers or bodies, so no token can leak through it.
    """

    method: str
    path: str
    status: int
    elapsed: float
    """Seconds from sending the request to reading the answer."""
    code: int | None = None
    """The platform's business error code (``err_code``/``code``), if any."""
    trace_id: str | None = None
