"""
IMAP SEARCH keys (RFC 3501 6.4.4) turned into a L{tempmail.search}
criterion that any store can run.

Twisted parses the command line into nested lists of byte strings; this
module reads every search key from them.  Sequence sets are turned into
UID ranges against the session's view, so the store only ever sees UIDs.
Strings are UTF-8 (C{CHARSET UTF-8}, or US-ASCII, a subset of it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import date

from twisted.mail.imap4 import IllegalIdentifierError, MessageSet, parseIdList

from tempmail.flags import SEEN, InvalidFlag, normalise_flags
from tempmail.imap.sequences import uid_ranges
from tempmail.search import (
    NOTHING,
    AnyOf,
    Criterion,
    DateField,
    DateIs,
    DateRelation,
    Everything,
    HasFlag,
    HeaderContains,
    Not,
    SizeIs,
    TextContains,
    UidIn,
    all_of,
)

# Charsets a client may name in SEARCH; US-ASCII is a subset of UTF-8.
CHARSETS = (b"UTF-8", b"US-ASCII")

_MONTHS = {
    name: number
    for number, name in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_DATE = re.compile(rb"^(\d{1,2})-([A-Za-z]{3})-(\d{4})$")

_FLAG_KEYS = {
    b"ANSWERED": ("\\Answered", True),
    b"DELETED": ("\\Deleted", True),
    b"DRAFT": ("\\Draft", True),
    b"FLAGGED": ("\\Flagged", True),
    b"SEEN": ("\\Seen", True),
    b"UNANSWERED": ("\\Answered", False),
    b"UNDELETED": ("\\Deleted", False),
    b"UNDRAFT": ("\\Draft", False),
    b"UNFLAGGED": ("\\Flagged", False),
    b"UNSEEN": ("\\Seen", False),
}
_HEADER_KEYS = {b"BCC": "bcc", b"CC": "cc", b"FROM": "from", b"SUBJECT": "subject", b"TO": "to"}
_DATE_KEYS = {
    b"BEFORE": (DateField.RECEIVED, DateRelation.BEFORE),
    b"ON": (DateField.RECEIVED, DateRelation.ON),
    b"SINCE": (DateField.RECEIVED, DateRelation.SINCE),
    b"SENTBEFORE": (DateField.SENT, DateRelation.BEFORE),
    b"SENTON": (DateField.SENT, DateRelation.ON),
    b"SENTSINCE": (DateField.SENT, DateRelation.SINCE),
}


class BadSearch(ValueError):
    """
    The search keys are not valid RFC 3501 syntax (answered BAD).
    """


Token = bytes | list["Token"]


def _string(token: Token | None) -> str:
    # Twisted reads the atom NIL as None; as a search string it is "NIL".
    if token is None:
        return "NIL"
    if not isinstance(token, bytes):
        raise BadSearch("a string was expected")
    try:
        return token.decode("utf-8")
    except UnicodeDecodeError:
        raise BadSearch("search strings must be UTF-8") from None


def _number(token: Token) -> int:
    # RFC 3501's numbers are unsigned 32-bit; a longer one would overflow
    # a store's integer (or int()'s 4300-digit limit).
    if isinstance(token, bytes) and token.isdigit() and len(token) <= 10:
        number = int(token)
        if number < 2**32:
            return number
    raise BadSearch("a number from 0 to 4294967295 was expected")


def _date(token: Token) -> date:
    match = _DATE.match(token) if isinstance(token, bytes) else None
    month = _MONTHS.get(match.group(2).decode().lower()) if match else None
    if match is None or month is None:
        raise BadSearch("dates are written like 1-Feb-2026")
    try:
        return date(int(match.group(3)), month, int(match.group(1)))
    except ValueError:
        raise BadSearch("no such date") from None


def _flag(token: Token) -> str:
    try:
        (flag,) = normalise_flags([_string(token)])
    except InvalidFlag as invalid:
        raise BadSearch(str(invalid)) from None
    return flag


class _Reader:
    """
    Reads search keys from Twisted's parsed tokens, one key at a time.
    """

    def __init__(self, tokens: Sequence[Token], uids: Sequence[int], recent: Criterion) -> None:
        self._tokens: Iterator[Token] = iter(tokens)
        self._uids = uids
        self._recent = recent

    def _next(self) -> Token:
        try:
            return next(self._tokens)
        except StopIteration:
            raise BadSearch("a search key is incomplete") from None

    def all(self) -> list[Criterion]:
        keys = []
        for token in self._tokens:
            keys.append(self._key(token))
        return keys

    def _set(self, token: Token, by_uid: bool) -> UidIn:
        if not isinstance(token, bytes):
            raise BadSearch("a sequence set was expected")
        try:
            messages: MessageSet = parseIdList(token)
        except (IllegalIdentifierError, ValueError):
            raise BadSearch("not a sequence set") from None
        return UidIn(uid_ranges(self._uids, messages, by_uid))

    def _key(self, token: Token) -> Criterion:
        if isinstance(token, list):
            keys = _Reader(token, self._uids, self._recent).all()
            if not keys:
                raise BadSearch("an empty parenthesised group")
            return all_of(keys)
        if not isinstance(token, bytes):
            raise BadSearch("a search key was expected")
        key = token.upper()
        if key == b"ALL":
            return Everything()
        if key == b"RECENT":
            return self._recent
        if key == b"OLD":
            return Not(self._recent)
        if key == b"NEW":
            return all_of([self._recent, Not(HasFlag(SEEN))])
        if key in _FLAG_KEYS:
            flag, present = _FLAG_KEYS[key]
            return HasFlag(flag) if present else Not(HasFlag(flag))
        if key in (b"KEYWORD", b"UNKEYWORD"):
            has = HasFlag(_flag(self._next()))
            return has if key == b"KEYWORD" else Not(has)
        if key in _HEADER_KEYS:
            return HeaderContains(_HEADER_KEYS[key], _string(self._next()))
        if key == b"HEADER":
            name = _string(self._next()).strip().lower()
            return HeaderContains(name, _string(self._next()))
        if key in (b"BODY", b"TEXT"):
            return TextContains(_string(self._next()), headers=key == b"TEXT")
        if key in _DATE_KEYS:
            field, relation = _DATE_KEYS[key]
            return DateIs(field, relation, _date(self._next()))
        if key in (b"LARGER", b"SMALLER"):
            return SizeIs(key == b"LARGER", _number(self._next()))
        if key == b"UID":
            return self._set(self._next(), by_uid=True)
        if key == b"NOT":
            return Not(self._key(self._next()))
        if key == b"OR":
            first = self._key(self._next())
            return AnyOf((first, self._key(self._next())))
        if key[:1].isdigit() or key[:1] == b"*":
            return self._set(token, by_uid=False)
        raise BadSearch(f"unknown search key {key.decode('ascii', 'replace')}")


def parse_search(
    tokens: Sequence[Token], uids: Sequence[int], recent: Criterion = NOTHING
) -> Criterion:
    """
    The criterion of a SEARCH command's keys.

    @param uids: the session's UIDs, ascending (sequence number I{n} is
        C{uids[n - 1]}).
    @param recent: the messages C{\\Recent} in the session (C{RECENT}).
    @raise BadSearch: if the keys are not valid.
    """
    keys = _Reader(tokens, uids, recent).all()
    if not keys:
        raise BadSearch("SEARCH needs at least one key")
    return all_of(keys)
