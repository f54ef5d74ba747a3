"""
A stored message as Twisted's C{IMessage}: headers, parts and the raw bytes.

The raw bytes are served as stored (C{IMessageFile}), so C{BODY[]} and
C{RFC822} are byte-exact.  Headers are parsed once, on first use.  Twisted
writes header values with an ASCII-only encoder (twisted#9258), so values
with 8-bit text are returned RFC 2047-encoded; a raw UTF-8 header would
otherwise drop the connection.
"""

from __future__ import annotations

import email
import email.header
import email.message
import email.policy
import email.utils
from collections.abc import Iterable
from io import BytesIO

from twisted.mail import imap4
from zope.interface import implementer

from tempmail.flags import SEEN
from tempmail.models import MessageSummary

# What RFC 2045 says a part without a Content-Type is.
DEFAULT_CONTENT_TYPE = "text/plain; charset=us-ascii"


def _split(raw: bytes) -> tuple[bytes, bytes]:
    """
    The header block (with its blank line) and the body of C{raw}.
    """
    for separator in (b"\r\n\r\n", b"\n\n"):
        at = raw.find(separator)
        if at >= 0:
            return raw[: at + len(separator)], raw[at + len(separator) :]
    return raw, b""


def _ascii(value: str) -> str:
    """
    A header value Twisted can write: RFC 2047-encoded if it is not ASCII,
    with folding undone.
    """
    # Undecodable 8-bit bytes come from the parser as surrogates.
    value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    value = " ".join(value.split())
    if value.isascii():
        return value
    return email.header.Header(value, "utf-8").encode()


def _wanted(names: Iterable[str | bytes]) -> set[str]:
    # Twisted asks with lower-case str names (ENVELOPE, BODYSTRUCTURE) and
    # with upper-case bytes (BODY[HEADER.FIELDS (...)]).
    return {
        (name.decode("ascii", "replace") if isinstance(name, bytes) else name).lower()
        for name in names
    }


@implementer(imap4.IMessagePart)
class Part:
    """
    One MIME part of a message, parsed with the standard library.
    """

    def __init__(self, part: email.message.Message, raw: bytes | None = None) -> None:
        """
        @param raw: the part's exact bytes, when known (the whole message).
        """
        self._part = part
        self._raw = raw

    def _headers(
        self, negate: bool, names: Iterable[str | bytes], defaults: bool
    ) -> dict[str, str]:
        wanted = _wanted(names)
        headers: dict[str, str] = {}
        for name, value in self._part.raw_items():
            key = name.lower()
            if (key in wanted) != negate and key not in headers:
                headers[key] = _ascii(str(value))
        if defaults and "content-type" not in headers and ("content-type" in wanted) != negate:
            headers["content-type"] = DEFAULT_CONTENT_TYPE
        return headers

    def getHeaders(self, negate: bool, *names: str | bytes) -> dict[str, str]:
        """
        The headers named (or, with C{negate}, all others), keyed by
        lower-case name; the first of repeated headers.
        """
        # Only Twisted's own BODYSTRUCTURE asks with str names; a client's
        # HEADER.FIELDS comes as bytes and must see the message as it is.
        internal = bool(names) and all(isinstance(name, str) for name in names)
        return self._headers(negate, names, defaults=internal)

    def _body(self) -> bytes:
        if self._raw is not None:
            return _split(self._raw)[1]
        payload = self._part.get_payload(decode=False)
        if isinstance(payload, list):
            return b"".join(
                Part(sub).as_bytes() for sub in payload if isinstance(sub, email.message.Message)
            )
        return str(payload).encode("utf-8", "surrogateescape")

    def as_bytes(self) -> bytes:
        """
        The part's bytes, headers included.
        """
        if self._raw is not None:
            return self._raw
        return self._part.as_bytes()

    def getBodyFile(self) -> BytesIO:
        """
        The part's body, without its headers.
        """
        return BytesIO(self._body())

    def getSize(self) -> int:
        """
        The part's size in bytes.
        """
        if self._raw is not None:
            return len(self._raw)
        return len(self._body())

    def isMultipart(self) -> bool:
        """
        Whether the part has sub-parts.
        """
        return self._part.is_multipart()

    def getSubPart(self, part: int) -> Part:
        """
        The sub-part at 0-based index C{part}.

        @raise IndexError: if there is none.
        """
        payload = self._part.get_payload()
        if not isinstance(payload, list) or not 0 <= part < len(payload):
            raise IndexError(part)
        sub = payload[part]
        if not isinstance(sub, email.message.Message):
            raise IndexError(part)
        return Part(sub)


@implementer(imap4.IMessage, imap4.IMessageFile)
class Message(Part):
    """
    A message of a mailbox, from its summary and its raw bytes.
    """

    def __init__(self, summary: MessageSummary, raw: bytes) -> None:
        super().__init__(email.message_from_bytes(raw, policy=email.policy.compat32), raw)
        self.summary = summary

    def getUID(self) -> int:
        """
        The message's UID.
        """
        return self.summary.uid

    def getFlags(self) -> list[str]:
        """
        The stored flags, C{\\Seen} included.
        """
        flags = list(self.summary.flags)
        if self.summary.seen and SEEN not in flags:
            flags.insert(0, SEEN)
        return flags

    def getInternalDate(self) -> str:
        """
        When the message was received, as an RFC 2822 date.
        """
        return email.utils.format_datetime(self.summary.received_at)

    def open(self) -> BytesIO:
        """
        The stored bytes, exactly.
        """
        assert self._raw is not None
        return BytesIO(self._raw)
