"""
Search criteria for a mailbox's messages (IMAP SEARCH, MCP's
C{search_emails}), independent of any database, and the text matching
every store shares.

A criterion is a small tree of frozen dataclasses.  Each store turns it
into its own query (SQL for SQLite); the parts that need the message itself
(headers and body text) are matched by L{header_contains} and
L{text_contains}, which read the stored raw bytes:

  - header values are RFC 2047-decoded before matching, so C{SUBJECT café}
    finds C{=?utf-8?q?caf=C3=A9?=};
  - body text is MIME-decoded: each C{text/*} part's transfer encoding
    (base64, quoted-printable) and charset are undone; other parts
    (images, archives, ...) are not searched;
  - matching is a case-insensitive substring (Unicode case folding).
"""

from __future__ import annotations

import contextlib
import email
import email.header
import email.message
import email.policy
import email.utils
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum

from tempmail.parsing import unicode_text


class DateField(Enum):
    """
    Which date of a message a L{DateIs} compares.
    """

    RECEIVED = "received"  # INTERNALDATE: BEFORE, ON, SINCE
    SENT = "sent"  # the Date header's day as written: SENTBEFORE, SENTON, SENTSINCE


class DateRelation(Enum):
    """
    How a message's date compares with the day given (RFC 3501: whole
    days, the time of day disregarded).
    """

    BEFORE = "before"
    ON = "on"
    SINCE = "since"


@dataclass(frozen=True)
class Everything:
    """
    Every message (C{ALL}).
    """


@dataclass(frozen=True)
class HasFlag:
    """
    Messages with a flag, spelt as L{tempmail.flags.normalise_flags} spells
    it (C{\\Seen} included); keywords match in any case, as IMAP's do.
    """

    flag: str


@dataclass(frozen=True)
class HeaderContains:
    """
    Messages with a header C{name} (lower case) whose decoded value
    contains C{text}; an empty C{text} matches any message that has the
    header.
    """

    name: str
    text: str


@dataclass(frozen=True)
class TextContains:
    """
    Messages whose decoded body text (and, with C{headers}, header values)
    contains C{text}: C{BODY} and C{TEXT}.
    """

    text: str
    headers: bool


@dataclass(frozen=True)
class DateIs:
    """
    Messages whose date is before, on or since C{day}: the day received
    in UTC, or for C{SENT} the day the Date header names, its time and
    zone disregarded (RFC 3501 6.4.4; L{sent_day}).  A message without a
    readable Date header matches no C{SENT} criterion.
    """

    field: DateField
    relation: DateRelation
    day: date


@dataclass(frozen=True)
class ReceivedAfter:
    """
    Messages received (filed in the mailbox) strictly after C{moment}, a
    time with its zone, to the microsecond.  C{Not(ReceivedAfter(t))} is
    "received at or before t".  IMAP's date keys compare whole days; this
    serves searches that give exact times (MCP's C{since} and C{until}).
    """

    moment: datetime


@dataclass(frozen=True)
class SizeIs:
    """
    Messages larger (C{LARGER}) or smaller (C{SMALLER}) than C{size} bytes.
    """

    larger: bool
    size: int


@dataclass(frozen=True)
class UidIn:
    """
    Messages whose UID is in one of the inclusive C{ranges}.
    """

    ranges: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Not:
    """
    Messages the criterion does not match.
    """

    criterion: Criterion


@dataclass(frozen=True)
class AnyOf:
    """
    Messages any of the criteria match (C{OR}).
    """

    criteria: tuple[Criterion, ...]


@dataclass(frozen=True)
class AllOf:
    """
    Messages all of the criteria match (a list of keys, or C{(...)}).
    """

    criteria: tuple[Criterion, ...]


Criterion = (
    Everything
    | HasFlag
    | HeaderContains
    | TextContains
    | DateIs
    | ReceivedAfter
    | SizeIs
    | UidIn
    | Not
    | AnyOf
    | AllOf
)

NOTHING: Criterion = Not(Everything())


def all_of(criteria: Sequence[Criterion]) -> Criterion:
    """
    The criterion that every one of C{criteria} holds: the one itself if
    there is only one, L{Everything} if there are none.
    """
    if not criteria:
        return Everything()
    return criteria[0] if len(criteria) == 1 else AllOf(tuple(criteria))


def _fold(text: str) -> str:
    return text.casefold()


def _decoded(value: str) -> str:
    """
    A header value with its RFC 2047 words decoded and folding undone.
    """
    with contextlib.suppress(ValueError, LookupError, UnicodeError):
        value = str(email.header.make_header(email.header.decode_header(value)))
    return " ".join(value.split())


_ADDRESS_HEADERS = frozenset({"from", "sender", "reply-to", "to", "cc", "bcc"})


def _header_block(raw: bytes) -> bytes:
    for separator in (b"\r\n\r\n", b"\n\n"):
        at = raw.find(separator)
        if at >= 0:
            return raw[: at + len(separator)]
    return raw


def sent_day(raw: bytes) -> date | None:
    """
    The day the first C{Date} header of the message C{raw} names, as
    written (its time and zone disregarded); C{None} if there is none or
    it cannot be read.
    """
    headers = email.message_from_bytes(_header_block(raw), policy=email.policy.compat32)
    for key, value in headers.raw_items():
        if key.lower() == "date":
            parsed = email.utils.parsedate_tz(unicode_text(value))
            if parsed is None:
                return None
            with contextlib.suppress(ValueError):
                return date(parsed[0], parsed[1], parsed[2])
            return None
    return None


def day_matches(relation: DateRelation, on: date | None, day: date) -> bool:
    """
    Whether a message dated C{on} is C{relation} C{day}; a message with no
    readable date (C{None}) matches nothing.
    """
    if on is None:
        return False
    if relation is DateRelation.BEFORE:
        return on < day
    return on == day if relation is DateRelation.ON else on >= day


def header_contains(raw: bytes, name: str, text: str) -> bool:
    """
    Whether a header C{name} of the message C{raw} contains C{text}.
    """
    headers = email.message_from_bytes(_header_block(raw), policy=email.policy.compat32)
    wanted = _fold(text)
    for key, value in headers.raw_items():
        if key.lower() != name.lower():
            continue
        decoded = _decoded(unicode_text(value))
        if wanted in _fold(decoded):
            return True
        # An address may be written with comments or spaces inside it
        # ("<user (x)@ domain.org>"): its plain form is searched too.
        if key.lower() in _ADDRESS_HEADERS and any(
            wanted in _fold(address) for _, address in email.utils.getaddresses([decoded])
        ):
            return True
    return False


def _part_text(part: email.message.Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")


def text_contains(raw: bytes, text: str, headers: bool) -> bool:
    """
    Whether the decoded text of the message C{raw} contains C{text}: its
    C{text/*} parts, and with C{headers} its header values too.
    """
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    wanted = _fold(text)
    if headers and any(
        wanted in _fold(f"{key}: {_decoded(unicode_text(value))}")
        for key, value in message.raw_items()
    ):
        return True
    for part in message.walk():
        if part.is_multipart() or part.get_content_maintype() not in ("text", "message"):
            continue
        if wanted in _fold(_part_text(part)):
            return True
    return False
