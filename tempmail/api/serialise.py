"""
The JSON shapes of the REST API.

Field names are the ones existing clients read (C{id}, C{to}, C{from}, C{subject},
C{body}, C{timestamp}, C{attachments}) so its clients keep working; the
extra fields are additions, never renames.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tempmail.models import (
    AttachmentInfo,
    DeliveryAttempt,
    MailboxInfo,
    MessagePage,
    MessageSummary,
    StoredMessage,
    Webhook,
)
from tempmail.received import tls_of
from tempmail.times import rfc3339


def summary_json(summary: MessageSummary) -> dict[str, Any]:
    """
    A mailbox listing entry.  C{attachments} is a count here, as in the
    WebSocket and webhook payloads.
    """
    return {
        "id": summary.id,
        "to": summary.mailbox,
        "from": summary.from_address,
        "subject": summary.subject,
        "timestamp": rfc3339(summary.received_at),
        "size": summary.size,
        "seen": summary.seen,
        "attachments": summary.attachment_count,
        "preview": summary.preview,
    }


def attachment_json(message_id: str, attachment: AttachmentInfo) -> dict[str, Any]:
    """
    An attachment's metadata with its download URL.
    """
    return {
        "index": attachment.index,
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "content_id": attachment.content_id,
        "inline": attachment.inline,
        "url": f"/api/email/{quote(message_id)}/attachments/{attachment.index}",
    }


def headers_json(headers: tuple[tuple[str, str], ...]) -> dict[str, list[str]]:
    """
    Headers as a mapping of name to every value, in order.
    """
    result: dict[str, list[str]] = {}
    for name, value in headers:
        result.setdefault(name, []).append(value)
    return result


def message_json(message: StoredMessage) -> dict[str, Any]:
    """
    A whole message: the listing fields plus the separate bodies,
    headers and envelope.
    """
    summary = message.summary
    return {
        "id": summary.id,
        "to": summary.mailbox,
        "from": summary.from_address,
        "subject": summary.subject,
        "body": message.html or message.text,
        "timestamp": rfc3339(summary.received_at),
        "attachments": [attachment_json(summary.id, a) for a in message.attachments],
        "text": message.text,
        "html": message.html,
        "headers": headers_json(message.headers),
        "header_to": list(message.to),
        "cc": list(message.cc),
        "date": None if message.date is None else rfc3339(message.date),
        "message_id": message.message_id,
        "size": summary.size,
        "seen": summary.seen,
        "envelope_from": message.envelope_from,
        "envelope_to": list(message.envelope_to),
        "raw_url": f"/api/email/{quote(summary.id)}/raw",
        # Read from our Received: header: {"version", "cipher"} or null.
        "tls": tls_of(message.headers),
    }


def page_json(page: MessagePage, emails: list[dict[str, Any]]) -> dict[str, Any]:
    """
    A listing: C{emails}, plus C{total} and the next cursor.
    """
    return {"emails": emails, "total": page.total, "next_before": page.next_before}


def mailbox_json(mailbox: MailboxInfo) -> dict[str, Any]:
    """
    A mailbox in the operator's listing.
    """
    return {
        "address": mailbox.address,
        "messages": mailbox.messages,
        "is_locked": mailbox.is_locked,
        "created_at": rfc3339(mailbox.created_at),
    }


def webhook_json(webhook: Webhook, with_secret: bool = False) -> dict[str, Any]:
    """
    A webhook with the field names clients read; its secret only when just
    created.
    """
    body: dict[str, Any] = {
        "id": webhook.id,
        "mailbox_address": webhook.mailbox,
        "webhook_url": webhook.url,
        "events": list(webhook.events),
        "created_at": rfc3339(webhook.created_at),
        "enabled": webhook.enabled,
        "disabled_reason": webhook.disabled_reason,
        "consecutive_failures": webhook.consecutive_failures,
    }
    if with_secret:
        body["secret"] = webhook.secret
    return body


def attempt_json(attempt: DeliveryAttempt) -> dict[str, Any]:
    """
    One logged delivery attempt.
    """
    return {
        "delivery_id": attempt.delivery_id,
        "event": attempt.event,
        "attempt": attempt.attempt,
        "time": rfc3339(attempt.at),
        "status": attempt.status,
        "error": attempt.error,
        "duration_ms": attempt.duration_ms,
    }
