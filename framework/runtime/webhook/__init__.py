"""Webhook (HTTP callback) mode: an ASGI app that verifies and dispatches QQ callbacks, and its server.

See docs/webhook.md and protocol.md §4.
"""

from framework.runtime.webhook.app import EventSink, WebhookApp, WebhookBot, WebhookStats
from framework.runtime.webhook.serve import serve_webhook

__all__ = ["EventSink", "WebhookApp", "WebhookBot", "WebhookStats", "serve_webhook"]
