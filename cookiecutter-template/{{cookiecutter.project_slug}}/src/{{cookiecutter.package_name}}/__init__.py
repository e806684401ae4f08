"""The {{ cookiecutter.package_name }} bot; the bot object and its handlers are in ``bot.py``."""
{%- set scenes = [] %}
{%- if cookiecutter.scene_guild %}{% set _ = scenes.append('"channel"') %}{% endif %}
{%- if cookiecutter.scene_dm %}{% set _ = scenes.append('"dm"') %}{% endif %}
{%- if cookiecutter.scene_group %}{% set _ = scenes.append('"group"') %}{% endif %}
{%- if cookiecutter.scene_c2c %}{% set _ = scenes.append('"c2c"') %}{% endif %}

__version__ = "0.1.0"

#: Where the bot's commands answer: guild "channel" (@-mentions), guild "dm", QQ "group" (@-mentions),
#: QQ "c2c". The bot asks the platform only for the intents of these scenes; a bot asking for intents
#: it is not permitted (e.g. guild events for a QQ-group-only bot) is refused at connection.
SCENES: tuple[str, ...] = ({{ scenes | join(", ") }}{% if scenes | length == 1 %},{% endif %})
