"""A daily-weather subscription in C2C: a conversation, state, a scheduled job and guards together.

Run it with ``qqbot run examples/subscription_bot.py:bot`` (the embedded emulator without credentials).

- ``/subscribe`` asks for a city, asks to confirm, and stores the subscription (``ctx.prompt``, ``bot.stored``);
- every day at 08:00 Shanghai time the bot sends each subscriber the forecast (``@bot.cron``, ``bot.send``); a
  user who turned the bot's active messages off, or a bot no longer allowed to push, is skipped and counted;
- ``/unsubscribe`` stops it; ``/mycity`` tells the stored city (at most once every 10 s per user).

Tests: tests/app/test_subscription_example.py.
"""

from __future__ import annotations

import logging

import msgspec

from framework import Bot, Context
from framework.app import Cooldown, ProactiveMessageError, WaitTimeoutError

log = logging.getLogger("subscription_bot")

bot = Bot("subscriptions", scenes=["c2c"], handler_timeout=300)


class Subscriptions(msgspec.Struct):
    cities: dict[str, str] = {}
    """user openid -> city"""
    refused: int = 0
    """Morning messages the platform refused so far."""


def forecast(city: str) -> str:
    """A stand-in for a weather service: the same answer for the same city."""
    kinds = ["sunny", "cloudy", "rainy", "windy"]
    return kinds[sum(map(ord, city)) % len(kinds)]


@bot.command("subscribe")
async def subscribe(ctx: Context) -> None:
    """Subscribe to a morning weather message."""
    try:
        city = await ctx.prompt("Which city?", timeout=120)
        name = city.text.strip()
        if not name:
            await city.reply("That is not a city. Send /subscribe to start again.")
            return
        confirm = await city.prompt(f"Every morning at 08:00, the weather for {name}. OK? (yes/no)", timeout=120)
    except WaitTimeoutError:
        await ctx.reply("No answer: send /subscribe when you are ready.")
        return
    if confirm.text.strip().lower() not in ("yes", "y", "ok"):
        await confirm.reply("Nothing changed.")
        return
    async with bot.stored("subscriptions", Subscriptions) as subs:
        subs.cities[ctx.user_id] = name
    await confirm.reply(f"Subscribed: {name}. /unsubscribe stops it.")


@bot.command("unsubscribe")
async def unsubscribe(ctx: Context) -> None:
    """Stop the morning message."""
    async with bot.stored("subscriptions", Subscriptions) as subs:
        city = subs.cities.pop(ctx.user_id, None)
    await ctx.reply(f"Unsubscribed from {city}." if city else "You were not subscribed.")


@bot.command("mycity", cooldown=Cooldown(1, 10))
async def mycity(ctx: Context) -> None:
    """Tell the city you are subscribed to."""
    async with bot.stored("subscriptions", Subscriptions) as subs:
        city = subs.cities.get(ctx.user_id)
    await ctx.reply(city or "You are not subscribed: /subscribe.")


@bot.cron("0 8 * * *", tz="Asia/Shanghai")
async def morning(me: Bot) -> None:
    """Send every subscriber the forecast; skip (and count) those the platform refuses."""
    async with me.stored("subscriptions", Subscriptions) as subs:
        for user, city in sorted(subs.cities.items()):
            try:
                await me.send("c2c", user, f"Good morning! {city}: {forecast(city)} today.")
            except ProactiveMessageError as exc:
                subs.refused += 1
                log.warning("morning message to %s not sent: %s", user, exc)
