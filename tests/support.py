"""
Helpers shared by the unit tests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TypeVar

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from tempmail.access import MailboxAccess
from tempmail.interfaces import IMailStore
from tempmail.models import Envelope, IncomingMessage, ParsedAttachment, ParsedMessage
from tempmail.passwords import hash_password, verify_password
from tempmail.ratelimit import MemoryFailureLimiter

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


def synchronous_access(
    store: IMailStore, clock: Clock | None = None, admin_token: str | None = None
) -> MailboxAccess:
    """
    A L{MailboxAccess} that hashes in the calling thread, for in-memory tests.
    """
    return MailboxAccess(
        store,
        MemoryFailureLimiter(clock or Clock(), free_failures=3),
        clock or Clock(),
        "tempmail.local",
        admin_token=admin_token,
        verify=lambda password, encoded: succeed(verify_password(password, encoded)),
        hasher=lambda password: succeed(hash_password(password)),
    )


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
