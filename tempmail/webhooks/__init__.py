"""
Webhooks: per-mailbox, signed, stored, retried, and refused for private
targets.
"""

from tempmail.webhooks.dispatcher import WebhookDispatcher
from tempmail.webhooks.sender import WebhookSender, pinned_client
from tempmail.webhooks.targets import TargetChecker, TargetRefused

__all__ = ["TargetChecker", "TargetRefused", "WebhookDispatcher", "WebhookSender", "pinned_client"]
