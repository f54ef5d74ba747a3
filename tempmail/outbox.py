"""
The webhook outbox: what a committed change owes the webhooks.

A store that delivers, marks seen or deletes mail also writes, in the same
transaction, one L{NewDelivery} for every enabled webhook of that mailbox
that wants the event.  L{deliveries_for} decides which and builds each body,
so every backend writes the same rows.  A crash can then never keep the
change and lose its deliveries (or the reverse), and with several daemons on
one database the delivery is written once, by the one that made the change.

A delivery's body is small and self-contained: the message's summary, its
preview (never its whole HTML) and the API paths that fetch the rest.  It is
built once, so every retry sends the same bytes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from tempmail.events import DeletionReason, EventKind, MailEvent
from tempmail.models import MessageSummary, NewDelivery, Webhook
from tempmail.times import rfc3339

# The events a webhook can ask for, by their names in its C{events} list.
EVENT_NAMES = {kind.value: kind for kind in (EventKind.ARRIVAL, EventKind.DELETION, EventKind.READ)}


def email_json(summary: MessageSummary, gone: bool) -> dict[str, Any]:
    """
    The C{email} object of a payload.  C{body} is the preview (as is
    C{preview}); C{attachments} is a count.  A message that still exists
    has the API paths of its JSON and raw source.
    """
    body: dict[str, Any] = {
        "id": summary.id,
        "to": summary.mailbox,
        "from": summary.from_address,
        "subject": summary.subject,
        "body": summary.preview,
        "preview": summary.preview,
        "timestamp": rfc3339(summary.received_at),
        "size": summary.size,
        "attachments": summary.attachment_count,
    }
    if not gone:
        path = f"/api/email/{quote(summary.id)}"
        body["url"] = path
        body["raw_url"] = f"{path}/raw"
    return body


def event_payload(event: MailEvent, webhook_id: str, delivery_id: str, now: datetime) -> bytes:
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
        "email": email_json(event.summary, gone=event.kind is EventKind.DELETION),
    }
    if event.reason is not None:
        payload["reason"] = event.reason.value
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def deliveries_for(
    event: MailEvent,
    hooks: Sequence[Webhook],
    now: datetime,
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> list[NewDelivery]:
    """
    The deliveries C{event} causes among a mailbox's C{hooks}: one for each
    enabled webhook that wants the event, due at once.
    """
    name = event.kind.value
    if name not in EVENT_NAMES or event.summary is None:
        return []
    deliveries = []
    for hook in hooks:
        if hook.enabled and name in hook.events:
            delivery_id = new_id()
            payload = event_payload(event, hook.id, delivery_id, now)
            deliveries.append(NewDelivery(delivery_id, hook.id, name, payload, now))
    return deliveries


def arrival(summary: MessageSummary) -> MailEvent:
    """
    The event of a message filed in its mailbox.
    """
    return MailEvent(EventKind.ARRIVAL, summary.mailbox, summary)


def read(summary: MessageSummary) -> MailEvent:
    """
    The event of a message becoming seen.
    """
    return MailEvent(EventKind.READ, summary.mailbox, summary)


def deletion(summary: MessageSummary, reason: DeletionReason) -> MailEvent:
    """
    The event of a message deleted, and why.
    """
    return MailEvent(EventKind.DELETION, summary.mailbox, summary, reason)
