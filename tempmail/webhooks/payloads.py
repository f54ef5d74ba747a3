"""
The JSON a webhook receives: the original's fields plus a delivery id and,
for deletions, the reason.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from tempmail.events import EventKind, MailEvent
from tempmail.models import MessageSummary
from tempmail.times import rfc3339

EVENT_NAMES = {kind.value: kind for kind in (EventKind.ARRIVAL, EventKind.DELETION, EventKind.READ)}


def parse_events(values: Any) -> tuple[str, ...]:
    """
    Read a webhook's C{events} list: lower case is canonical, and the
    original's capitalised C{Arrival}/C{Deletion} are accepted.

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


def email_json(summary: MessageSummary, body: str) -> dict[str, Any]:
    """
    The C{email} object of a payload; C{attachments} is a count.
    """
    return {
        "id": summary.id,
        "to": summary.mailbox,
        "from": summary.from_address,
        "subject": summary.subject,
        "body": body,
        "timestamp": rfc3339(summary.received_at),
        "attachments": summary.attachment_count,
    }


def event_payload(
    event: MailEvent, webhook_id: str, delivery_id: str, body: str, now: datetime
) -> bytes:
    """
    The body sent for C{event}; the same bytes on every retry.
    """
    assert event.summary is not None
    payload: dict[str, Any] = {
        "event": event.kind.value,
        "mailbox": event.mailbox,
        "webhook_id": webhook_id,
        "delivery_id": delivery_id,
        "timestamp": rfc3339(now),
        "email": email_json(event.summary, body),
    }
    if event.reason is not None:
        payload["reason"] = event.reason.value
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


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
