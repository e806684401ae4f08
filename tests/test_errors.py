"""One error root: every exception class the framework defines derives from ``QQBotError`` (found by walking
the package), keeps the built-in base callers caught before, and the renamed ones keep their old names as
deprecated aliases. The emulator, an independent oracle, keeps its own exceptions."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import warnings

import pytest

import framework
from framework._deprecated import MOVED
from framework.errors import ConnectError, ConnectTimeout, QQBotError, TransportError


def _exception_classes(package: str) -> dict[str, type[BaseException]]:
    """``module.Name`` -> class, for every public exception class defined (not imported) in ``package``."""
    found: dict[str, type[BaseException]] = {}
    root = importlib.import_module(package)
    with warnings.catch_warnings():  # the walk imports the deprecated shim packages too
        warnings.simplefilter("ignore", DeprecationWarning)
        modules = [package] + [
            info.name
            for info in pkgutil.walk_packages(root.__path__, package + ".")
            if not info.name.endswith("__main__")
        ]
    for name in modules:
        if name in MOVED or any(name.startswith(old + ".") for old in MOVED):
            continue  # deprecated shims re-export the new modules' classes
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == name
                and not attr.startswith("_")  # private control-flow signals never reach callers
            ):
                found[f"{name}.{attr}"] = value
    return found


FRAMEWORK = {
    name: cls for name, cls in _exception_classes("framework").items() if not name.startswith("framework.emulator")
}


def test_the_walk_finds_the_exceptions_of_every_layer() -> None:
    expected = {
        "framework.errors.QQBotError",
        "framework.config.ConfigError",
        "framework.app.errors.BotError",
        "framework.app.errors.HandlerSignatureError",
        "framework.plugins.manager.PluginError",
        "framework.protocol.gateway.GatewayFatalError",
        "framework.protocol.wsframes.FrameProtocolError",
        "framework.models.transport.WebSocketClosed",
        "framework.runtime.credentials.AccessTokenError",
        "framework.runtime.openapi.errors.OpenAPIError",
        "framework.runtime.openapi.errors.NetworkError",
        "framework.runtime.gateway.identify.SessionStartLimitError",
        "framework.runtime.gateway.websocket.WebSocketHandshakeError",
        "framework.cli.loader.BotLoadError",
        "framework.cli.new.ScaffoldError",
        "framework.testing.client.PendingEventsError",
        "framework.testing.client.BotErrorsNotChecked",
    }
    assert expected <= set(FRAMEWORK), sorted(expected - set(FRAMEWORK))


@pytest.mark.parametrize("name", sorted(FRAMEWORK))
def test_every_framework_exception_is_a_qqbot_error(name: str) -> None:
    assert issubclass(FRAMEWORK[name], QQBotError), f"{name} must derive from framework.errors.QQBotError"


@pytest.mark.parametrize(
    ("name", "builtin"),
    [
        ("framework.config.ConfigError", ValueError),
        ("framework.app.errors.HandlerSignatureError", TypeError),
        ("framework.app.errors.CommandArgumentError", ValueError),
        ("framework.runtime.gateway.identify.SessionStartLimitError", RuntimeError),
        ("framework.runtime.gateway.websocket.WebSocketHandshakeError", OSError),
        ("framework.testing.client.PendingEventsError", TimeoutError),
        ("framework.testing.client.BotErrorsNotChecked", AssertionError),
        ("framework.errors.ConnectError", OSError),
        ("framework.errors.ConnectTimeout", TimeoutError),
    ],
)
def test_secondary_builtin_bases_are_kept(name: str, builtin: type[BaseException]) -> None:
    assert issubclass(FRAMEWORK[name], builtin)


def test_the_transport_family() -> None:
    from framework.models.transport import WebSocketClosed
    from framework.protocol.wsframes import FrameProtocolError
    from framework.runtime.gateway.websocket import WebSocketHandshakeError
    from framework.runtime.openapi.errors import NetworkError, OpenAPIError

    for cls in (WebSocketClosed, FrameProtocolError, ConnectError, ConnectTimeout, WebSocketHandshakeError):
        assert issubclass(cls, TransportError), cls
    assert issubclass(NetworkError, OpenAPIError) and issubclass(NetworkError, TransportError)
    assert issubclass(WebSocketHandshakeError, ConnectError)
    # a status error is not a transport error: the answer arrived
    from framework.runtime.openapi.errors import ServerError

    assert not issubclass(ServerError, TransportError)


def test_the_top_level_package_exports_the_root_and_the_transport_family() -> None:
    for name in ("QQBotError", "TransportError", "ConnectError", "ConnectTimeout", "AccessTokenError"):
        assert name in framework.__all__
    assert framework.QQBotError is QQBotError


def test_the_emulator_keeps_its_own_exceptions() -> None:
    own = _exception_classes("framework.emulator")
    assert own, "the walk found no emulator exception"
    for name, cls in own.items():
        assert not issubclass(cls, QQBotError), f"{name}: the emulator is an independent oracle"


def test_auth_error_is_a_deprecated_alias_of_access_token_error() -> None:
    from framework.runtime import credentials

    with pytest.warns(DeprecationWarning, match=r"credentials\.AuthError was renamed AccessTokenError") as record:
        from framework.runtime.credentials import AuthError
    assert AuthError is credentials.AccessTokenError
    assert record[0].filename == __file__  # the warning points at the importing line
    with pytest.warns(DeprecationWarning, match=r"framework\.AuthError was renamed AccessTokenError"):
        assert framework.AuthError is credentials.AccessTokenError  # type: ignore[attr-defined]
    with pytest.warns(DeprecationWarning):  # not cached: every use warns
        assert framework.AuthError is credentials.AccessTokenError  # type: ignore[attr-defined]
    assert "AuthError" not in framework.__all__ and "AuthError" not in credentials.__all__
    with pytest.raises(AttributeError, match="no attribute 'NoSuchError'"):
        credentials.NoSuchError  # noqa: B018


def test_access_token_error_is_not_an_openapi_authentication_error() -> None:
    """The two former look-alikes: the token endpoint failed vs. the API refused the token (HTTP 401)."""
    from framework.runtime.credentials import AccessTokenError
    from framework.runtime.openapi.errors import AuthenticationError

    assert not issubclass(AccessTokenError, AuthenticationError)
    assert not issubclass(AuthenticationError, AccessTokenError)
    error = AccessTokenError("token endpoint said no", code=100016, status=200, retryable=False)
    assert isinstance(error, QQBotError) and (error.code, error.status, error.retryable) == (100016, 200, False)
