"""
IMAP SEARCH (and MCP's search) in SQL: a L{tempmail.search} criterion
becomes one C{WHERE} clause over a mailbox's copies, run on one UID range
at a time.

Flags, times received, sizes and UIDs are plain columns.  Headers, the
day the Date header names and body text are read from the stored raw
bytes by deterministic functions registered on each connection
(L{register}), which decode them as L{tempmail.search} describes; SQLite
calls them only for rows the rest of the clause has not already ruled out.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tempmail.flags import SEEN
from tempmail.search import (
    AllOf,
    AnyOf,
    Criterion,
    DateField,
    DateIs,
    DateRelation,
    Everything,
    HasFlag,
    HeaderContains,
    Not,
    ReceivedAfter,
    SizeIs,
    TextContains,
    UidIn,
    header_contains,
    sent_day,
    text_contains,
)
from tempmail.storage.timestamps import to_micros


def register(connection: sqlite3.Connection) -> None:
    """
    Add the matching functions the search SQL calls to C{connection}.
    """
    connection.create_function(
        "tm_header_contains",
        3,
        lambda raw, name, text: header_contains(bytes(raw), name, text),
        deterministic=True,
    )
    connection.create_function(
        "tm_sent_day",
        1,
        lambda raw: _iso(sent_day(bytes(raw))),
        deterministic=True,
    )
    connection.create_function(
        "tm_text_contains",
        3,
        lambda raw, text, headers: text_contains(bytes(raw), text, bool(headers)),
        deterministic=True,
    )


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _day_start(day: date) -> int:
    return to_micros(datetime.combine(day, time(), tzinfo=UTC))


def _sent(criterion: DateIs) -> tuple[str, list[Any]]:
    # The day as the header writes it, compared as ISO text (NULL, no
    # readable Date header, matches nothing).
    operator = {
        DateRelation.BEFORE: "<",
        DateRelation.ON: "=",
        DateRelation.SINCE: ">=",
    }[criterion.relation]
    return f"tm_sent_day(m.raw) {operator} ?", [criterion.day.isoformat()]


def _received(criterion: DateIs) -> tuple[str, list[Any]]:
    column = "mm.received_at"
    start, end = _day_start(criterion.day), _day_start(criterion.day + timedelta(days=1))
    if criterion.relation is DateRelation.BEFORE:
        return f"{column} < ?", [start]
    if criterion.relation is DateRelation.ON:
        return f"({column} >= ? AND {column} < ?)", [start, end]
    return f"{column} >= ?", [start]


Clause = tuple[str, list[Any]]
# The tests that read the raw message: headers, body text, the sent date
# (a DateIs only with DateField.SENT).
ContentTest = HeaderContains | TextContains | DateIs
# How such a test becomes SQL.
ContentMatch = Callable[[ContentTest], Clause]


def match_in_sqlite(criterion: ContentTest) -> Clause:
    """
    A test of the raw message as a call of the functions L{register} adds.
    """
    if isinstance(criterion, DateIs):
        return _sent(criterion)
    if isinstance(criterion, HeaderContains):
        return "tm_header_contains(m.raw, ?, ?)", [criterion.name, criterion.text]
    return "tm_text_contains(m.raw, ?, ?)", [criterion.text, int(criterion.headers)]


def where(criterion: Criterion, content: ContentMatch = match_in_sqlite) -> Clause:
    """
    The SQL condition (over C{mm}, the copy, and C{m}, its message) and
    its parameters.

    @param content: how header and body-text tests are written.
    """
    match criterion:
        case Everything():
            return "TRUE", []
        case HasFlag(flag=flag) if flag == SEEN:
            return "mm.seen = 1", []
        case HasFlag(flag=flag):
            return (
                "EXISTS (SELECT 1 FROM message_flags f "
                "WHERE f.entry_id = mm.id AND lower(f.flag) = lower(?))",
                [flag],
            )
        case HeaderContains() | TextContains():
            return content(criterion)
        case DateIs(field=DateField.SENT):
            return content(criterion)
        case DateIs():
            return _received(criterion)
        case ReceivedAfter(moment=moment):
            return "mm.received_at > ?", [to_micros(moment)]
        case SizeIs(larger=larger, size=size):
            return ("m.size > ?" if larger else "m.size < ?"), [size]
        case UidIn(ranges=ranges):
            if not ranges:
                return "FALSE", []
            return (
                "(" + " OR ".join("mm.uid BETWEEN ? AND ?" for _ in ranges) + ")",
                [bound for pair in ranges for bound in pair],
            )
        case Not(criterion=inner):
            sql, params = where(inner, content)
            return f"NOT ({sql})", params
        case AnyOf(criteria=parts) | AllOf(criteria=parts):
            if not parts:
                return ("FALSE" if isinstance(criterion, AnyOf) else "TRUE"), []
            joiner = " OR " if isinstance(criterion, AnyOf) else " AND "
            compiled = [where(part, content) for part in parts]
            return (
                "(" + joiner.join(f"({sql})" for sql, _ in compiled) + ")",
                [param for _, params in compiled for param in params],
            )
    raise TypeError(f"not a search criterion: {criterion!r}")


def search_uids(
    cursor: Any, mailbox: str, criterion: Criterion, first: int, last: int
) -> list[int]:
    condition, params = where(criterion)
    cursor.execute(
        "SELECT mm.uid FROM mailbox_messages mm JOIN mailboxes mb ON mb.id = mm.mailbox_id "
        "JOIN messages m ON m.id = mm.message_id "
        f"WHERE mb.address = ? AND mm.uid BETWEEN ? AND ? AND ({condition}) ORDER BY mm.uid",
        (mailbox, first, last, *params),
    )
    return [row[0] for row in cursor.fetchall()]
