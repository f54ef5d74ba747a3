"""
Helpers shared by the unit tests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TypeVar

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from tempmail.models import (
    Envelope,
    IncomingMessage,
    MailboxGrant,
    ParsedAttachment,
    ParsedMessage,
)
from tempmail.testing import inline_access as synchronous_access

__all__ = ["T0", "fired", "incoming", "open_grant", "synchronous_access"]

T = TypeVar("T")
T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def fired(d: Deferred[T]) -> T:
    """
    Return the result of a Deferred that must already have fired.
    """
    results: list[T] = []
    failures: list[Failure] = []
    d.addCallbacks(results.append, failures.append)
    if failures:
        failures[0].raiseException()
    assert results, "the Deferred has not fired"
    return results[0]


def open_grant(mailbox: str) -> MailboxGrant:
    """
    A grant for a mailbox that was never claimed (lock version 0).
    """
    return MailboxGrant(mailbox, 0)


def incoming(
    *recipients: str, subject: str = "hi", at: datetime = T0, attachments: int = 0
) -> IncomingMessage:
    parsed = ParsedMessage(
        from_address="alice@sender.test",
        to=("header@example.com",),
        cc=("cc@example.com",),
        subject=subject,
        date=T0 - timedelta(minutes=1),
        message_id="<m1@sender.test>",
        text=f"text of {subject}",
        html=f"<p>{subject}</p>",
        headers=(("Subject", subject), ("X-Twice", "1"), ("X-Twice", "2")),
        attachments=tuple(
            ParsedAttachment(f"f{i}.bin", "application/octet-stream", None, False, bytes([i]) * 10)
            for i in range(attachments)
        ),
    )
    raw = f"Subject: {subject}\r\n\r\nbody\r\n".encode()
    return IncomingMessage(Envelope("alice@sender.test", recipients, at), raw, parsed)
