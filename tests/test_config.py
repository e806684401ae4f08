from __future__ import annotations

from pathlib import Path

import pytest

from framework.config import ConfigError, load_settings


def test_defaults_without_anything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings(environ={})
    assert not s.bot.has_credentials
    assert s.bot.transport == "websocket"
    assert s.bot.resolved_api_base == "https://api.sgroup.qq.com"


def test_env_overrides_file_and_secret_is_not_in_repr(tmp_path: Path) -> None:
    cfg = tmp_path / "bot.toml"
    cfg.write_text(
        '[bot]\napp_id = "111"\napp_secret = "file-secret-value"\nsandbox = true\n'
        '[gateway]\nshard_count = 4\n[plugins]\nstrict = true\n[plugins.keyword_reply]\nhello = "hi"\n'
    )
    s = load_settings(cfg, environ={"QQBOT_APP_SECRET": "env-secret-value", "QQBOT_SHARD_IDS": "1,3"})
    assert s.bot.app_secret == "env-secret-value"
    assert s.bot.resolved_api_base == "https://sandbox.api.sgroup.qq.com"
    assert s.gateway.shard_ids == [1, 3]
    assert s.plugins.strict is True
    assert s.plugins.options == {"keyword_reply": {"hello": "hi"}}
    assert "env-secret-value" not in repr(s)
    assert "file-secret-value" not in repr(s)


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"QQBOT_APP_ID": "123"}, "QQBOT_APP_SECRET"),
        ({"QQBOT_APP_SECRET": "x" * 10}, "QQBOT_APP_ID"),
        ({"QQBOT_APP_ID": "abc", "QQBOT_APP_SECRET": "s" * 8}, "numeric AppID"),
        ({"QQBOT_SHARD_COUNT": "many"}, "QQBOT_SHARD_COUNT: expected an integer"),
        ({"QQBOT_SHARD_COUNT": "2", "QQBOT_SHARD_IDS": "0,5"}, "shard_ids"),
        ({"QQBOT_SHARD_IDS": "0"}, "needs gateway.shard_count"),
        ({"QQBOT_LOG_FORMAT": "xml"}, "['text', 'json']"),
        ({"QQBOT_TRANSPORT": "carrier-pigeon"}, "bot.transport"),
        ({"QQBOT_SANDBOX": "maybe"}, "QQBOT_SANDBOX: expected a boolean"),
        ({"QQBOT_WEBHOOK_PORT": "70000"}, "webhook.port"),
    ],
)
def test_bad_settings_name_the_key(
    env: dict[str, str], needle: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_settings(environ=env)
    assert needle in str(info.value)


def test_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[bot\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad, environ={})
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[bott]\napp_id='1'\n")
    with pytest.raises(ConfigError, match="unknown section"):
        load_settings(unknown, environ={})
    typo = tmp_path / "typo.toml"
    typo.write_text("[bot]\napp_idd='1'\n")
    with pytest.raises(ConfigError, match="app_idd"):
        load_settings(typo, environ={})
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml", environ={})


def test_invalid_secret_type_is_not_echoed(tmp_path: Path) -> None:
    cfg = tmp_path / "bot.toml"
    cfg.write_text("[bot]\napp_id='1'\napp_secret=123456789\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, environ={})
    assert "123456789" not in str(info.value)
    assert "bot.app_secret" in str(info.value)


def test_empty_variables_count_as_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unfilled ``.env`` (``QQBOT_APP_ID=``) means "no credentials", i.e. the emulator."""
    monkeypatch.chdir(tmp_path)
    s = load_settings(environ={"QQBOT_APP_ID": "", "QQBOT_APP_SECRET": "", "QQBOT_SHARD_COUNT": " "})
    assert not s.bot.has_credentials
    assert s.gateway.shard_count is None
