"""The deprecated edge keyword arguments (``app_id=``, ``app_secret=``, ``api_base=``, ``token_url=``,
``http_transport=``) turned into :class:`Credentials` and :class:`Platform`, for one release (issue 12).

``BotRunner``, ``run_webhook`` and ``OpenAPI.from_credentials`` call :func:`resolve_edge`; each old
argument warns (``DeprecationWarning`` naming its replacement) and mixing old and new is refused.
"""

from __future__ import annotations

import httpx

from framework._deprecated import warn_argument
from framework.runtime.credentials import Credentials
from framework.runtime.platform import Platform

__all__ = ["resolve_edge"]


def resolve_edge(
    where: str,
    credentials: Credentials | None,
    platform: Platform | None,
    *,
    app_id: str | None = None,
    app_secret: str | None = None,
    api_base: str | None = None,
    token_url: str | None = None,
    http_transport: httpx.AsyncBaseTransport | None = None,
    stacklevel: int = 4,
) -> tuple[Credentials, Platform]:
    """``(credentials, platform)`` for ``where`` (a name such as ``"BotRunner"``, for the messages).

    ``platform`` defaults to :meth:`Platform.production`. ``stacklevel`` 4 points the warning at the
    caller of the function that calls this one.
    """
    if app_id is not None or app_secret is not None:
        if credentials is not None:
            raise TypeError(f"{where}: pass credentials= or the deprecated app_id=/app_secret=, not both")
        if app_id is None or app_secret is None:
            raise TypeError(f"{where}: app_id= and app_secret= go together; better, pass credentials=Credentials(...)")
        for old in ("app_id", "app_secret"):
            warn_argument(where, old, "credentials=Credentials(app_id, app_secret)", stacklevel=stacklevel)
        credentials = Credentials(str(app_id), app_secret)
    if credentials is None:
        raise TypeError(
            f"{where} needs credentials=: Credentials(app_id, app_secret) or Credentials.from_settings(settings.bot)"
        )
    legacy = {
        name: value
        for name, value in (("api_base", api_base), ("token_url", token_url), ("http_transport", http_transport))
        if value is not None
    }
    if legacy:
        if platform is not None:
            given = "/".join(f"{name}=" for name in legacy)
            raise TypeError(f"{where}: pass platform= or the deprecated {given}, not both")
        for old in legacy:
            warn_argument(where, old, f"platform=Platform({old}=...)", stacklevel=stacklevel)
        production = Platform.production()
        platform = Platform(
            api_base if api_base is not None else production.api_base,
            token_url if token_url is not None else production.token_url,
            http_transport,
        )
    return credentials, platform if platform is not None else Platform.production()
