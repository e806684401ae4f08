"""Loading through entry points, enable/disable from config, and isolation of broken plugins."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from framework.app import Bot, Context
from framework.models import Intents
from framework.plugins import ENTRY_POINT_GROUP, PluginError, hookimpl
from framework.testing.recording import RecordingApi, c2c


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real distribution on sys.path with three entry points: good, broken import, raising hook."""
    (tmp_path / "good_plugin.py").write_text(
        textwrap.dedent(
            """
            from framework.app import Bot, Context
            from framework.plugins import hookimpl

            @hookimpl
            def qqbot_register(bot: Bot) -> None:
                @bot.on_group_at_message
                async def hi(ctx: Context) -> None:
                    await ctx.reply("hi from good")
            """
        )
    )
    (tmp_path / "broken_import.py").write_text("raise ImportError('missing dependency xyz')\n")
    (tmp_path / "raising_plugin.py").write_text(
        textwrap.dedent(
            """
            from framework.app import Bot, Context
            from framework.plugins import hookimpl

            @hookimpl
            def qqbot_register(bot: Bot) -> None:
                @bot.on_interaction
                async def half_registered(ctx: Context) -> None: ...

                raise RuntimeError("register exploded")
            """
        )
    )
    dist = tmp_path / "fake_plugins-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-plugins\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\ngood = good_plugin\nbroken = broken_import\nraising = raising_plugin\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_installed_plugins_do_not_load_unless_enabled(installed: Path) -> None:
    bot = Bot()
    assert bot.intents == Intents.NONE
    assert "good" not in bot.plugins.names


@pytest.mark.anyio
async def test_broken_plugins_are_reported_by_name_and_hook_and_the_bot_keeps_working(installed: Path) -> None:
    bot = Bot(config={"plugins": {"enabled": ["good", "broken", "raising", "absent"]}})
    assert bot.intents == Intents.GROUP_AND_C2C_EVENT  # the raising plugin's interaction handler was removed
    failures = {(f.plugin, f.hook) for f in bot.plugins.failures}
    assert failures == {("broken", "load"), ("raising", "qqbot_register"), ("absent", "load")}
    messages = " ".join(str(f) for f in bot.plugins.failures)
    assert "missing dependency xyz" in messages and "register exploded" in messages
    assert "no installed plugin" in messages
    assert bot.plugins.names == ["good"]
    api = RecordingApi()
    bot.bind(api)
    from framework.testing.recording import group_at

    await bot.dispatch(group_at("x"))
    assert api.texts() == ["hi from good"]
    assert "broken" in str(bot.describe()["plugin_failures"])


def test_strict_mode_stops_at_the_first_broken_plugin(installed: Path) -> None:
    bot = Bot(config={"plugins": {"enabled": ["broken"], "strict": True}})
    with pytest.raises(PluginError, match="plugin 'broken' failed in load"):
        bot.prepare()
    with pytest.raises(PluginError, match="raising"):
        Bot(config={"plugins": {"enabled": ["raising"]}}, strict=True).prepare()


def test_autoload_with_disabled_list_and_per_section_switch(installed: Path) -> None:
    bot = Bot(config={"plugins": {"autoload": True, "disabled": ["broken"], "raising": {"enabled": False}}})
    bot.prepare()
    assert "good" in bot.plugins.names
    assert not {"broken", "raising"} & set(bot.plugins.names)
    assert not [f for f in bot.plugins.failures if f.plugin in ("broken", "raising")]


@pytest.mark.anyio
async def test_a_raising_runtime_hook_is_isolated() -> None:
    class Noisy:
        @hookimpl
        def qqbot_handler_error(self) -> None:
            raise RuntimeError("observer broke")

        @hookimpl
        async def qqbot_startup(self) -> None:
            raise RuntimeError("startup broke")

    seen: list[str] = []

    class Quiet:
        @hookimpl
        def qqbot_handler_error(self, error: BaseException) -> None:
            seen.append(str(error))

    bot = Bot(plugins=[Noisy, Quiet()])

    @bot.on_c2c_message
    async def fail(ctx: Context) -> None:
        raise ValueError("handler broke")

    async with bot.running(RecordingApi()):
        await bot.dispatch(c2c("x"))
    assert seen == ["handler broke"]
    assert {(f.plugin, f.hook) for f in bot.plugins.failures} == {
        ("Noisy", "qqbot_startup"),
        ("Noisy", "qqbot_handler_error"),
    }


def test_an_invalid_plugin_object_is_reported() -> None:
    class Wrong:
        @hookimpl
        def qqbot_no_such_hook(self) -> None: ...

    bot = Bot(plugins=[Wrong()])
    assert [(f.plugin, f.hook) for f in bot.plugins.failures] == [("Wrong", "load")]
