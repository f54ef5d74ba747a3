"""
C{\\Recent} (RFC 3501 2.3.2): a message is recent in the one session that
is first told of it.

A mailbox's messages are claimed in UID order, so what has been claimed is
one number per mailbox: the highest UID some session has taken as recent.
A session opened with SELECT takes every UID above it; while selected, it
takes each arrival that no other session has taken first.  EXAMINE and
STATUS look without taking.  The numbers live in the daemon's memory:
after a restart, the first session to select a mailbox is told its
messages are recent again, which clients take as a hint only.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

from tempmail.search import NOTHING, Criterion, UidIn


class RecentClaims:
    """
    The highest UID claimed as recent, for every mailbox a session has
    opened since the daemon started.
    """

    def __init__(self) -> None:
        self._claimed: dict[str, int] = {}

    def claimed(self, mailbox: str) -> int:
        """
        The highest UID of C{mailbox} a session has taken (0 if none).
        """
        return self._claimed.get(mailbox, 0)

    def claim(self, mailbox: str, upto: int) -> int:
        """
        Take the UIDs of C{mailbox} up to C{upto}; return the highest taken
        before, so the caller's recent UIDs are those above it.
        """
        before = self.claimed(mailbox)
        if upto > before:
            self._claimed[mailbox] = upto
        return before


class SessionRecent:
    """
    The UIDs recent in one session: a range it took when it opened the
    mailbox, and the arrivals it took while selected.
    """

    def __init__(self, above: int, upto: int) -> None:
        """
        @param above: recent UIDs are greater than this...
        @param upto: ...and at most this, besides later arrivals.
        """
        self.above = above
        self.upto = upto
        self.arrivals: set[int] = set()

    def __contains__(self, uid: object) -> bool:
        return isinstance(uid, int) and (self.above < uid <= self.upto or uid in self.arrivals)

    def count(self, uids: Sequence[int]) -> int:
        """
        How many of C{uids} (ascending: the session's messages) are recent.
        """
        in_range = max(0, bisect_right(uids, self.upto) - bisect_right(uids, self.above))
        return in_range + sum(1 for uid in self.arrivals if uid > self.upto and _has(uids, uid))

    def criterion(self) -> Criterion:
        """
        The search criterion of the recent messages (C{RECENT}).
        """
        ranges = [(self.above + 1, self.upto)] if self.upto > self.above else []
        ranges += [(uid, uid) for uid in sorted(self.arrivals)]
        return UidIn(tuple(ranges)) if ranges else NOTHING


def _has(uids: Sequence[int], uid: int) -> bool:
    at = bisect_right(uids, uid)
    return at > 0 and uids[at - 1] == uid
