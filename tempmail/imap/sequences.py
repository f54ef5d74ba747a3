"""
Sequence sets against a session's list of UIDs.

A session keeps the UIDs of its selected mailbox, ascending: position
I{n} is sequence number I{n + 1}.  Sets are resolved by bisection over
their ranges, so C{1:*} on a large mailbox never walks numbers that are
not there.
"""

from __future__ import annotations

import contextlib
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from twisted.mail.imap4 import MessageSet


def resolve(uids: Sequence[int], messages: MessageSet, by_uid: bool) -> list[tuple[int, int]]:
    """
    The C{(sequence number, UID)} pairs C{messages} names, ascending.

    @param by_uid: whether the set holds UIDs (C{UID FETCH} and friends)
        rather than sequence numbers.
    """
    if not uids:
        return []
    # "*" is the largest number in use (RFC 3501 6.4.8); a set already
    # resolved keeps its value.
    with contextlib.suppress(ValueError):
        messages.last = uids[-1] if by_uid else len(uids)
    chosen: set[int] = set()
    for low, high in messages.ranges:
        if by_uid:
            start, end = bisect_left(uids, low), bisect_right(uids, high)
        else:
            start, end = max(low, 1) - 1, min(high, len(uids))
        chosen.update(range(start, end))
    return [(index + 1, uids[index]) for index in sorted(chosen)]


def uid_ranges(
    uids: Sequence[int], messages: MessageSet, by_uid: bool
) -> tuple[tuple[int, int], ...]:
    """
    The inclusive UID ranges C{messages} names, for a store to search.

    Sequence ranges become the UIDs at their ends; the store's answer is
    read back through the session's list, so UIDs it does not know are
    never reported.
    """
    if not uids:
        return ()
    with contextlib.suppress(ValueError):
        messages.last = uids[-1] if by_uid else len(uids)
    ranges = []
    for low, high in messages.ranges:
        if by_uid:
            ranges.append((low, high))
            continue
        start, end = max(low, 1), min(high, len(uids))
        if start <= end:
            ranges.append((uids[start - 1], uids[end - 1]))
    return tuple(ranges)


def runs(pairs: Sequence[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """
    C{(sequence number, UID)} pairs split where the sequence numbers jump.

    Within a run the session knows every UID between the first and the
    last, so a store read of that UID range holds only what was asked.
    """
    split: list[list[tuple[int, int]]] = []
    for pair in pairs:
        if split and pair[0] == split[-1][-1][0] + 1:
            split[-1].append(pair)
        else:
            split.append([pair])
    return split
