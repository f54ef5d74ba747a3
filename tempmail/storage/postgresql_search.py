"""
IMAP SEARCH on PostgreSQL: the same C{WHERE} clause as SQLite's
(L{tempmail.storage.sqlite_search.where}) for flags, dates, sizes and
UIDs; only the header, body-text and sent-date tests differ.

SQLite calls Python functions inside the query for those.  PostgreSQL
cannot without a server-side language, so the header, text and sent-date
tests are answered first, by the same matching functions (L{header_contains},
L{text_contains}, L{sent_day}) on the raw messages of the searched UID range, read in
batches; each test then enters the clause as the UIDs it matched.  The
results are the same as SQLite's; the cost is that the raw messages of the
range travel to the node (SQLite reads them too, but skips those the rest of
the clause rules out).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tempmail.search import (
    AllOf,
    AnyOf,
    Criterion,
    DateField,
    DateIs,
    HeaderContains,
    Not,
    TextContains,
    day_matches,
    header_contains,
    sent_day,
    text_contains,
)
from tempmail.storage.sqlite_messages import chunks
from tempmail.storage.sqlite_search import Clause, ContentTest, where

# Raw messages read at once while matching headers and text.
BATCH = 100

_FROM = (
    "FROM mailbox_messages mm JOIN mailboxes mb ON mb.id = mm.mailbox_id "
    "JOIN messages m ON m.id = mm.message_id "
    "WHERE mb.address = ? AND mm.uid BETWEEN ? AND ?"
)


def _content_tests(criterion: Criterion) -> Iterator[ContentTest]:
    match criterion:
        case HeaderContains() | TextContains() | DateIs(field=DateField.SENT):
            yield criterion
        case Not(criterion=inner):
            yield from _content_tests(inner)
        case AnyOf(criteria=parts) | AllOf(criteria=parts):
            for part in parts:
                yield from _content_tests(part)


def _matches(test: ContentTest, raw: bytes) -> bool:
    if isinstance(test, DateIs):
        return day_matches(test.relation, sent_day(raw), test.day)
    if isinstance(test, HeaderContains):
        return header_contains(raw, test.name, test.text)
    return text_contains(raw, test.text, test.headers)


def _match_content(
    cursor: Any, mailbox: str, tests: set[ContentTest], first: int, last: int
) -> dict[ContentTest, list[int]]:
    matched: dict[ContentTest, list[int]] = {test: [] for test in tests}
    cursor.execute(f"SELECT mm.uid {_FROM} ORDER BY mm.uid", (mailbox, first, last))
    uids = [uid for (uid,) in cursor.fetchall()]
    for part in chunks(uids, BATCH):
        cursor.execute(
            f"SELECT mm.uid, m.raw {_FROM} AND mm.uid IN ({','.join('?' * len(part))})",
            (mailbox, first, last, *part),
        )
        for uid, raw in cursor.fetchall():
            content = bytes(raw)
            for test in tests:
                if _matches(test, content):
                    matched[test].append(uid)
    return matched


def search_uids(
    cursor: Any, mailbox: str, criterion: Criterion, first: int, last: int
) -> list[int]:
    matched = _match_content(cursor, mailbox, set(_content_tests(criterion)), first, last)

    def content(test: ContentTest) -> Clause:
        return "mm.uid = ANY(?)", [matched[test]]

    condition, params = where(criterion, content)
    cursor.execute(
        f"SELECT mm.uid {_FROM} AND ({condition}) ORDER BY mm.uid",
        (mailbox, first, last, *params),
    )
    return [row[0] for row in cursor.fetchall()]
