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


def test_app_id_as_a_toml_integer_is_accepted(tmp_path: Path) -> None:
    cfg = tmp_path / "qqbot.toml"
    cfg.write_text("[bot]\napp_id = 102000001\napp_secret = 'file-secret'\n")
    s = load_settings(cfg, environ={})
    assert s.bot.app_id == "102000001"
    cfg.write_text("[bot]\napp_id = -5\napp_secret = 'file-secret'\n")
    with pytest.raises(ConfigError, match=r"bot\.app_id"):
        load_settings(cfg, environ={})


def test_dotenv_precedence_environment_profile_dotenv_toml_defaults(tmp_path: Path) -> None:
    """real environment > .env.<profile> > .env > qqbot.toml > defaults (docs/configuration.md)."""
    cfg = tmp_path / "qqbot.toml"
    cfg.write_text(
        '[bot]\napp_id = "111"\napp_secret = "toml-secret"\n[gateway]\nshard_count = 1\n'
        '[logging]\nlevel = "ERROR"\nformat = "json"\n[webhook]\nport = 9001\n'
    )
    (tmp_path / ".env").write_text(
        "# comment\n"
        "export QQBOT_APP_SECRET='dotenv-secret'\n"
        "QQBOT_SHARD_COUNT=2\n"
        "QQBOT_LOG_LEVEL=WARNING  # trailing comment\n"
        'QQBOT_WEBHOOK_HOST="0.0.0.0"\n'
        "QQBOT_SANDBOX=\n"
        "UNRELATED=1\n"
    )
    (tmp_path / ".env.prod").write_text("QQBOT_SHARD_COUNT=3\nQQBOT_LOG_LEVEL=\n")
    s = load_settings(cfg, environ={"QQBOT_SHARD_COUNT": "4"}, profile="prod")
    assert s.gateway.shard_count == 4  # the real environment wins
    assert s.bot.app_secret == "dotenv-secret"  # .env over the TOML file
    assert s.logging.level == "WARNING"  # an empty line in .env.prod does not unset .env's value
    assert s.logging.format == "json"  # the TOML file over the defaults
    assert s.webhook.host == "0.0.0.0" and s.webhook.port == 9001
    assert s.bot.sandbox is False and s.webhook.path == "/"  # defaults
    assert s.sources["gateway.shard_count"] == "QQBOT_SHARD_COUNT"
    assert s.sources["logging.level"] == str(tmp_path / ".env")
    assert s.sources["logging.format"] == str(cfg)
    # without the profile: .env over the TOML file; the profile also comes from QQBOT_PROFILE
    assert load_settings(cfg, environ={}).gateway.shard_count == 2
    assert load_settings(cfg, environ={"QQBOT_PROFILE": "prod"}).gateway.shard_count == 3
    assert "dotenv-secret" not in repr(s)


def test_dotenv_beside_the_config_file_and_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = tmp_path / "conf"
    sub.mkdir()
    (sub / "bot.toml").write_text("")
    (sub / ".env").write_text("QQBOT_SHARD_COUNT=5\n")
    (tmp_path / ".env").write_text("QQBOT_SHARD_COUNT=6\n")
    assert load_settings(sub / "bot.toml", environ={}).gateway.shard_count == 5
    monkeypatch.chdir(tmp_path)
    assert load_settings(environ={}).gateway.shard_count == 6


@pytest.mark.parametrize(
    ("files", "profile", "needle"),
    [
        ({".env": "QQBOT_SHARD_COUNT\n"}, None, ".env:1: expected KEY=VALUE"),
        ({}, "missing", "profile 'missing': no file"),
        ({}, "../etc", "QQBOT_PROFILE: expected a name"),
        ({".env": "QQBOT_SHARD_COUNT=lots\n"}, None, "QQBOT_SHARD_COUNT: expected an integer"),
    ],
)
def test_bad_dotenv_is_one_line(files: dict[str, str], profile: str | None, needle: str, tmp_path: Path) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "qqbot.toml").write_text("")
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "qqbot.toml", environ={}, profile=profile)
    assert needle in str(info.value) and "\n" not in str(info.value)
