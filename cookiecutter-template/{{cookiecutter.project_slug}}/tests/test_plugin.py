"""The local plugin is registered through its entry point, enabled by the bot, and adds /about."""

from importlib.metadata import entry_points

import pytest
from framework.testing import connect

from {{ cookiecutter.package_name }} import plugin
from {{ cookiecutter.package_name }}.bot import bot


def test_plugin_is_registered_as_an_entry_point() -> None:
    registered = {ep.name: ep.value for ep in entry_points(group="qqbot.plugins")}
    assert registered.get("{{ cookiecutter.package_name }}") == "{{ cookiecutter.package_name }}.plugin"


@pytest.mark.anyio
async def test_about_command_comes_from_the_plugin() -> None:
    async with connect(bot) as chat:
{%- if cookiecutter.scene_group %}
        await chat.group("g1").user("alice").at("/about")
{%- elif cookiecutter.scene_c2c %}
        await chat.c2c("u1").say("/about")
{%- elif cookiecutter.scene_guild %}
        await chat.channel("c1").user("bob").at("/about")
{%- else %}
        await chat.dm("u2").say("/about")
{%- endif %}
        assert await chat.replies() == [plugin.ABOUT]
    assert "{{ cookiecutter.package_name }}" in bot.plugins.names
