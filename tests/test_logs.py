from __future__ import annotations

import io
import json
import logging

from framework.logs import REDACTED, configure_logging, redact, register_secret, scrub


def test_registered_secrets_and_auth_values_are_redacted() -> None:
    register_secret("s3cr3t-app-secret")
    assert "s3cr3t" not in redact("secret=s3cr3t-app-secret!")
    assert redact("Authorization: QQBot abcDEF123456") == "Authorization: QQBot <redacted>"
    assert "100000.Cl2FMQ" not in redact("Bot 100000.Cl2FMQZnCjm1XVW7vRze4b7Cq4se7kKWs")


def test_scrub_replaces_only_the_given_secrets() -> None:
    assert scrub("echo tok-1 and tok-2", "tok-1", None, "") == f"echo {REDACTED} and tok-2"
    assert scrub("nothing to hide") == "nothing to hide"


def test_handlers_redact_messages_args_and_tracebacks() -> None:
    register_secret("tok-very-secret-123")
    out = io.StringIO()
    handler = configure_logging("DEBUG", "json", stream=out)
    try:
        log = logging.getLogger("test.redaction")
        log.info("sending token %s", "tok-very-secret-123")
        try:
            raise RuntimeError("boom tok-very-secret-123")
        except RuntimeError:
            log.exception("failed")
    finally:
        logging.getLogger().removeHandler(handler)
    text = out.getvalue()
    assert "tok-very-secret-123" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["msg"] == "sending token <redacted>"
    assert lines[1]["level"] == "ERROR" and "<redacted>" in lines[1]["exc"]


def test_credentials_and_tokens_are_registered_for_redaction() -> None:
    from framework.logs import _tokens, register_secret
    from framework.runtime.credentials import Credentials

    Credentials("123", "app-secret-registered-by-credentials")
    assert redact("x app-secret-registered-by-credentials y") == "x <redacted> y"
    for i in range(100):
        register_secret(f"short-lived-token-{i:03d}", temporary=True)
    assert len(_tokens) == 64  # bounded: old tokens are forgotten ...
    assert redact("short-lived-token-099") == "<redacted>"
    assert redact("app-secret-registered-by-credentials") == "<redacted>"  # ... secrets never
