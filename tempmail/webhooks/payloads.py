"""
Webhook requests: the event names a webhook may ask for, and the body of the
test ping.  Event bodies are built with the outbox, in
L{tempmail.outbox.event_payload}.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from tempmail.outbox import EVENT_NAMES
from tempmail.times import rfc3339


def parse_events(values: Any) -> tuple[str, ...]:
    """
    Read a webhook's C{events} list: lower case is canonical, and any other
    case (older clients send C{Arrival}, C{Deletion}) is accepted.

    @raise ValueError: naming the first unknown event.
    """
    if not isinstance(values, list) or not values:
        raise ValueError("events must be a non-empty list")
    events: list[str] = []
    for value in values:
        name = value.lower() if isinstance(value, str) else ""
        if name not in EVENT_NAMES:
            raise ValueError(f"Invalid event: {value}")
        if name not in events:
            events.append(name)
    return tuple(events)


def ping_payload(mailbox: str, webhook_id: str, delivery_id: str, now: datetime) -> bytes:
    """
    The body of C{POST /api/webhook/{id}/test}.
    """
    return json.dumps(
        {
            "event": "test",
            "mailbox": mailbox,
            "webhook_id": webhook_id,
            "delivery_id": delivery_id,
            "timestamp": rfc3339(now),
            "message": "This is a test webhook payload",
        }
    ).encode("utf-8")
