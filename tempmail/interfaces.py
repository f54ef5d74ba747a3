"""
The seams between tempmail's layers.

Everything above the storage package talks to mail through L{IMailStore}; a
SQLite implementation is the embedded default, an in-memory one ships in
L{tempmail.testing}, and a PostgreSQL one will follow.  All methods return
Deferreds and none of them assumes a particular database.
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet.defer import Deferred
from zope.interface import Interface

from tempmail.models import (
    AttachmentContent,
    DeliveredCopy,
    IncomingMessage,
    MessagePage,
    StoredMessage,
)


class StorageUnavailable(Exception):
    """
    The store could not complete an operation (disk full, database locked,
    connection lost).  SMTP answers 451 so the sender retries.
    """


class UnknownCursor(ValueError):
    """
    A listing's C{before} cursor names no message in that mailbox.
    """


class IMailStore(Interface):
    """
    Durable storage for mailboxes and their messages.

    Message ids are opaque strings, one per mailbox copy: a message sent to
    three recipients is three ids sharing one stored raw body.  Addresses are
    always normalised (see L{tempmail.addresses.normalise_address}).
    """

    def deliver(message: IncomingMessage) -> Deferred[list[DeliveredCopy]]:
        """
        File an L{IncomingMessage} in the mailbox of each envelope recipient.

        The Deferred fires only once the message is committed, with one
        L{DeliveredCopy} per recipient; each mailbox is created on first use
        and its next UID assigned.  It fails with L{StorageUnavailable} if
        nothing was stored.
        """

    def list_messages(
        mailbox: str, limit: int, offset: int = 0, before: str | None = None
    ) -> Deferred[MessagePage]:
        """
        Return a L{MessagePage} of summaries, newest first.

        @param before: a message id; the page starts after it.  Fails with
            L{UnknownCursor} if that id is not in C{mailbox}.
        @param offset: messages to skip (ignored when C{before} is given).
        """

    def get_messages(ids: Sequence[str]) -> Deferred[list[StoredMessage]]:
        """
        Return the L{StoredMessage}s for those C{ids} that exist, in the order
        asked.
        """

    def get_raw(id: str) -> Deferred[bytes | None]:
        """
        Return the exact raw bytes of a message, or C{None} if it is unknown.
        """

    def get_attachment(id: str, index: int) -> Deferred[AttachmentContent | None]:
        """
        Return an L{AttachmentContent}, or C{None} if either is unknown.
        """

    def set_seen(id: str, seen: bool) -> Deferred[bool | None]:
        """
        Set or clear the seen flag.  Fires with whether it changed, or C{None}
        if the message is unknown.
        """

    def delete_message(id: str) -> Deferred[bool]:
        """
        Delete one mailbox copy; fires with whether it existed.  The raw body
        goes with its last copy.
        """

    def empty_mailbox(mailbox: str) -> Deferred[int]:
        """
        Delete every message of a mailbox; fires with how many went.  The
        mailbox keeps its UID counter, so UIDs never repeat.
        """

    def check_health() -> Deferred[None]:
        """
        Fire when the store answers a trivial query; fail otherwise.
        """

    def close() -> Deferred[None]:
        """
        Finish pending work and release the database.
        """
