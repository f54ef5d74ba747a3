"""
Helpers shared by the unit tests.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.utils import format_datetime
from typing import TypeVar

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from tempmail.models import Envelope, IncomingMessage, MailboxGrant
from tempmail.parsing import parse_message
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
    """
    A message as SMTP hands it over: raw bytes (a text and an HTML body, a
    header given twice, C{attachments} attachments C{f<i>.bin} of ten bytes
    C{i}) and the fields L{parse_message} reads from them.
    """
    parts = [
        "Content-Type: multipart/alternative; boundary=alt\r\n\r\n"
        "--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"text of {subject}\r\n"
        "--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        f"<p>{subject}</p>\r\n--alt--\r\n"
    ] + [
        "Content-Type: application/octet-stream\r\n"
        f'Content-Disposition: attachment; filename="f{i}.bin"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
        f"{base64.b64encode(bytes([i]) * 10).decode()}\r\n"
        for i in range(attachments)
    ]
    raw = (
        "From: alice@sender.test\r\nTo: header@example.com\r\nCc: cc@example.com\r\n"
        f"Subject: {Header(subject, 'utf-8').encode()}\r\nX-Twice: 1\r\nX-Twice: 2\r\n"
        f"Date: {format_datetime(T0 - timedelta(minutes=1))}\r\n"
        "Message-ID: <m1@sender.test>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=mixed\r\n\r\n"
        + "".join(f"--mixed\r\n{part}" for part in parts)
        + "--mixed--\r\n"
    ).encode()
    return IncomingMessage(Envelope("alice@sender.test", recipients, at), raw, parse_message(raw))
