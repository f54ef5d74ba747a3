"""
IMAP message flags: which ones a store keeps, and how they are spelt.

A copy's C{\\Seen} flag is its C{seen} column (the REST API's "read"); every
other flag is kept as text.  System flags are spelt the one way RFC 3501
does, whatever case a client used; keywords are IMAP atoms and keep the
case they were first given in.  C{\\Recent} is a property of an IMAP
session, never stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from enum import Enum

from tempmail.models import FlagUpdate, MessageSummary

SEEN = "\\Seen"
DELETED = "\\Deleted"
SYSTEM_FLAGS = (SEEN, "\\Answered", "\\Flagged", DELETED, "\\Draft")
_CANONICAL = {flag.lower(): flag for flag in SYSTEM_FLAGS}
# An IMAP atom: no controls, space, parentheses, braces, %, *, quotes,
# backslash or ].
_KEYWORD = re.compile(r'^[^\x00-\x20\x7f(){%*"\\\]]+$')
MAX_FLAG_LENGTH = 128


class FlagMode(Enum):
    """
    How a flag write combines with the flags a message has (IMAP STORE).
    """

    ADD = "add"
    REMOVE = "remove"
    REPLACE = "replace"


class InvalidFlag(ValueError):
    """
    Text that is not a flag a message can carry.
    """


def normalise_flags(flags: Iterable[str]) -> frozenset[str]:
    """
    The stored spelling of each flag.

    @raise InvalidFlag: for C{\\Recent}, an unknown system flag, or a
        keyword that is not an IMAP atom.
    """
    result = set()
    for flag in flags:
        if flag.startswith("\\"):
            canonical = _CANONICAL.get(flag.lower())
            if canonical is None:
                raise InvalidFlag(f"{flag} cannot be stored")
            result.add(canonical)
        elif _KEYWORD.match(flag) and len(flag) <= MAX_FLAG_LENGTH:
            result.add(flag)
        else:
            raise InvalidFlag(f"{flag!r} is not a valid keyword")
    return frozenset(result)


def apply_flags(current: frozenset[str], flags: frozenset[str], mode: FlagMode) -> frozenset[str]:
    """
    The flags a message has after a write of C{flags} in C{mode}.
    """
    if mode is FlagMode.ADD:
        return current | flags
    if mode is FlagMode.REMOVE:
        return current - flags
    return flags


def flag_update(before: MessageSummary, flags: frozenset[str], mode: FlagMode) -> FlagUpdate:
    """
    What a write of C{flags} in C{mode} makes of a message: the summary it
    then has (C{\\Seen} as C{seen}, the rest sorted in C{flags}), and
    whether anything changed.  Every store computes flag writes with this.
    """
    current = frozenset(before.flags) | ({SEEN} if before.seen else set())
    wanted = apply_flags(current, flags, mode)
    if wanted == current:
        return FlagUpdate(before, before.seen, changed=False)
    after = replace(before, seen=SEEN in wanted, flags=tuple(sorted(wanted - {SEEN})))
    return FlagUpdate(after, before.seen, changed=True)
