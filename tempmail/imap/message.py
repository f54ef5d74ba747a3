"""
A stored message as Twisted's C{IMessage}: its flags, dates and exact bytes.

The server's FETCH reads the bytes (L{Message.raw}) and its MIME parts
(L{Message.entity}) directly: sections come from L{tempmail.imap.sections}
and ENVELOPE and BODYSTRUCTURE from L{tempmail.imap.structure}.  The
C{IMessagePart} methods are there for the interface's other users, and
answer from the same bytes.
"""

from __future__ import annotations

import email.utils
from io import BytesIO

from twisted.mail import imap4
from zope.interface import implementer

from tempmail.flags import SEEN
from tempmail.imap.sections import Entity
from tempmail.models import MessageSummary

RECENT = "\\Recent"


@implementer(imap4.IMessagePart)
class Part:
    """
    One MIME part of a message (or the message itself), as exact bytes.
    """

    def __init__(self, entity: Entity) -> None:
        self.entity = entity

    def getHeaders(self, negate: bool, *names: str | bytes) -> dict[str, str]:
        """
        The headers named (or, with C{negate}, all others), keyed by
        lower-case name; the first of repeated headers, as sent.
        """
        wanted = {
            (name.decode("ascii", "replace") if isinstance(name, bytes) else name).lower()
            for name in names
        }
        headers: dict[str, str] = {}
        for name, value in self.entity.fields.raw_items():
            key = name.lower()
            if (key in wanted) != negate and key not in headers:
                headers[key] = str(value)
        return headers

    def getBodyFile(self) -> BytesIO:
        """
        The part's body, without its header.
        """
        return BytesIO(self.entity.body)

    def getSize(self) -> int:
        """
        The size of the part's body in bytes.
        """
        return len(self.entity.body)

    def isMultipart(self) -> bool:
        """
        Whether the part has sub-parts.
        """
        return self.entity.is_multipart

    def getSubPart(self, part: int) -> Part:
        """
        The sub-part at 0-based index C{part}.

        @raise IndexError: if there is none.
        """
        parts = self.entity.parts
        if not 0 <= part < len(parts):
            raise IndexError(part)
        return Part(parts[part])


@implementer(imap4.IMessage, imap4.IMessageFile)
class Message(Part):
    """
    A message of a mailbox, from its summary and its raw bytes.
    """

    def __init__(self, summary: MessageSummary, raw: bytes, recent: bool = False) -> None:
        """
        @param raw: the stored bytes; empty when only the summary was read
            (FLAGS, UID, INTERNALDATE and RFC822.SIZE need no more).
        @param recent: whether the message is C{\\Recent} in the session
            that reads it.
        """
        super().__init__(Entity(raw))
        self.summary = summary
        self.raw = raw
        self.recent = recent

    def getUID(self) -> int:
        """
        The message's UID.
        """
        return self.summary.uid

    def getFlags(self) -> list[str]:
        """
        The stored flags, C{\\Seen} included, and C{\\Recent} if the
        message is recent in this session.
        """
        flags = list(self.summary.flags)
        if self.summary.seen and SEEN not in flags:
            flags.insert(0, SEEN)
        if self.recent:
            flags.append(RECENT)
        return flags

    def getInternalDate(self) -> str:
        """
        When the message was received, as an RFC 2822 date.
        """
        return email.utils.format_datetime(self.summary.received_at)

    def getSize(self) -> int:
        """
        The size of the whole message in bytes (RFC822.SIZE).
        """
        return self.summary.size

    def open(self) -> BytesIO:
        """
        The stored bytes, exactly.
        """
        return BytesIO(self.raw)
