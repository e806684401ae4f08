"""The seams live in ``framework.interfaces``; their old homes hand out the very same objects."""

from __future__ import annotations

import importlib

import pytest

from framework import interfaces
from framework.clock import ScaledClock, SystemClock, VirtualClock
from framework.runtime.credentials import Credentials, LegacyToken, TokenManager
from framework.runtime.gateway.sessions import LocalSessionManager
from framework.runtime.gateway.sessions import SessionManager as SessionManagerBase
from framework.testing.recording import RecordingApi

OLD_HOMES = [
    ("framework.clock", "Clock"),
    ("framework.app.api", "ApiClient"),
    ("framework.app", "ApiClient"),
    ("framework.runtime.credentials", "AuthProvider"),
    ("framework.models.transport", "WebSocketConnection"),
    ("framework.models.transport", "WebSocketClosed"),
    ("framework.models.transport", "Connector"),
    ("framework.models", "WebSocketClosed"),
    ("framework.models.envelope", "EventSink"),
]


@pytest.mark.parametrize(("module", "name"), OLD_HOMES, ids=[f"{m}.{n}" for m, n in OLD_HOMES])
def test_the_old_home_exports_the_interface_itself(module: str, name: str) -> None:
    assert getattr(importlib.import_module(module), name) is getattr(interfaces, name)
    assert name in interfaces.__all__


def test_the_gateway_names_of_the_event_sink_are_the_interface() -> None:
    from framework.runtime.gateway import shard

    assert shard.EventEmitter is interfaces.EventSink


def test_implementations_have_the_shape_of_their_interface() -> None:
    for clock in (SystemClock(), VirtualClock(), ScaledClock(10.0)):
        assert isinstance(clock, interfaces.Clock)
    assert isinstance(RecordingApi(), interfaces.ApiClient)
    assert isinstance(LegacyToken("102000001", "legacy-token-of-the-interfaces-test"), interfaces.AuthProvider)
    assert isinstance(TokenManager(Credentials("102000001", "secret-of-the-interfaces-test")), interfaces.AuthProvider)
    # the session managers' abstract base class declares the Protocol
    assert issubclass(LocalSessionManager, SessionManagerBase)
    assert interfaces.SessionManager in SessionManagerBase.__mro__
