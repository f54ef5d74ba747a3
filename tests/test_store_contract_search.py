"""
The search contract (L{IMessageStore.search_uids}) against every store: each
kind of criterion, with decoded headers and MIME-decoded bodies.
"""

from __future__ import annotations

import email.utils
from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone

import pytest_twisted

from tempmail.flags import FlagMode
from tempmail.interfaces import IMailStore
from tempmail.search import (
    NOTHING,
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
)
from tests.support import T0, incoming, open_grant

BOX = "search@x.test"

PLAIN = (
    b"From: Alice Smith <alice@a.test>\r\nTo: Bob <bob@x.test>\r\nCc: carol@c.test\r\n"
    b"Bcc: dave@d.test\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= from Alice\r\n"
    b"\r\nHello World\r\n"
)
MULTIPART = (
    b"From: reports@r.test\r\nTo: search@x.test\r\nSubject: Report\r\n"
    b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="XX"\r\n\r\n'
    b"--XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"w5xuw69jb2RlIGJvZHkgdGV4dA==\r\n"
    b"--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"bmVlZGxlIGluIGEgYmxvYg==\r\n--XX--\r\n"
)
QUOTED = (
    b"From: <zed (the z)@ (home) z.test>\r\nTo: search@x.test\r\nSubject: other\r\n"
    b"X-Custom: Some Value\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n"
    b"\r\ncaf=C3=A9 au lait\r\n" + b"padding line\r\n" * 400
)


def dated(raw: bytes, day: date) -> bytes:
    """
    C{raw} with a Date header late on C{day} west of UTC (already the next
    day in UTC: the SENT keys take the day as written).
    """
    sent = datetime.combine(day, time(23, 30), tzinfo=timezone(timedelta(hours=-5)))
    return b"Date: " + email.utils.format_datetime(sent).encode() + b"\r\n" + raw


async def seed(store: IMailStore) -> None:
    for days, raw in enumerate((PLAIN, MULTIPART, QUOTED)):
        message = incoming(BOX, at=T0 + timedelta(days=2 * days))
        sent = T0 + timedelta(days=2 * days - 1)
        parsed = replace(message.parsed, date=sent)
        await store.deliver(replace(message, raw=dated(raw, sent.date()), parsed=parsed))
    grant = open_grant(BOX)
    await store.store_flags(grant, [1], frozenset({"\\Flagged"}), FlagMode.ADD)
    await store.store_flags(grant, [2], frozenset({"\\Seen"}), FlagMode.ADD)
    await store.store_flags(grant, [3], frozenset({"$Work", "\\Deleted"}), FlagMode.ADD)


T0_DAY = T0.date()
CASES: list[tuple[Criterion, list[int]]] = [
    (Everything(), [1, 2, 3]),
    (NOTHING, []),
    (HasFlag("\\Seen"), [2]),
    (Not(HasFlag("\\Seen")), [1, 3]),
    (HasFlag("\\Flagged"), [1]),
    (HasFlag("$Work"), [3]),
    (HasFlag("\\Deleted"), [3]),
    (HeaderContains("from", "SMITH"), [1]),
    (HeaderContains("from", "alice@a.test"), [1]),
    (HeaderContains("to", "bob"), [1]),
    (HeaderContains("cc", "carol"), [1]),
    (HeaderContains("bcc", "dave"), [1]),
    # An address written with comments inside is found in its plain form.
    (HeaderContains("from", "zed@z.test"), [3]),
    (HeaderContains("from", "the z"), [3]),
    (HeaderContains("subject", "other@"), []),
    # Full Unicode case folding: ß matches ss.
    (HeaderContains("subject", "grüsse"), [1]),
    (HeaderContains("subject", "GRÜßE"), [1]),
    (HeaderContains("subject", "report"), [2]),
    (HeaderContains("x-custom", "some val"), [3]),
    (HeaderContains("x-custom", ""), [3]),
    (HeaderContains("x-missing", ""), []),
    (TextContains("hello world", headers=False), [1]),
    (TextContains("ünïcode BODY", headers=False), [2]),
    (TextContains("needle", headers=False), []),
    (TextContains("café", headers=False), [3]),
    (TextContains("alice", headers=False), []),
    (TextContains("alice", headers=True), [1]),
    (DateIs(DateField.RECEIVED, DateRelation.BEFORE, T0_DAY + timedelta(days=2)), [1]),
    (DateIs(DateField.RECEIVED, DateRelation.ON, T0_DAY + timedelta(days=2)), [2]),
    (DateIs(DateField.RECEIVED, DateRelation.SINCE, T0_DAY + timedelta(days=2)), [2, 3]),
    (DateIs(DateField.SENT, DateRelation.BEFORE, T0_DAY), [1]),
    (DateIs(DateField.SENT, DateRelation.ON, T0_DAY + timedelta(days=1)), [2]),
    (DateIs(DateField.SENT, DateRelation.SINCE, T0_DAY + timedelta(days=1)), [2, 3]),
    (DateIs(DateField.RECEIVED, DateRelation.ON, date(2001, 1, 1)), []),
    # Exact times: strictly after, to the microsecond, in any zone.
    (ReceivedAfter(T0), [2, 3]),
    (ReceivedAfter(T0 - timedelta(microseconds=1)), [1, 2, 3]),
    (ReceivedAfter((T0 + timedelta(days=4)).astimezone(timezone(timedelta(hours=-5)))), []),
    (Not(ReceivedAfter(T0 + timedelta(days=2))), [1, 2]),
    (SizeIs(larger=True, size=2000), [3]),
    (SizeIs(larger=False, size=len(dated(PLAIN, T0_DAY)) + 1), [1]),
    (UidIn(((1, 1), (3, 9))), [1, 3]),
    (UidIn(()), []),
    (AnyOf((HasFlag("\\Seen"), HasFlag("\\Flagged"))), [1, 2]),
    (AllOf((Not(HasFlag("\\Seen")), Not(HasFlag("\\Deleted")))), [1]),
    (AllOf(()), [1, 2, 3]),
    (Not(AnyOf((UidIn(((1, 2),)), TextContains("café", headers=False)))), []),
]


@pytest_twisted.ensureDeferred
async def test_every_kind_of_criterion(store: IMailStore) -> None:
    await seed(store)
    found = {repr(c): await store.search_uids(BOX, c, 1, 10) for c, _ in CASES}
    assert found == {repr(c): expected for c, expected in CASES}


@pytest_twisted.ensureDeferred
async def test_only_the_range_asked_and_only_the_mailbox(store: IMailStore) -> None:
    await seed(store)
    await store.deliver(incoming("other@x.test"))
    assert await store.search_uids(BOX, Everything(), 2, 3) == [2, 3]
    assert await store.search_uids(BOX, Everything(), 4, 9) == []
    assert await store.search_uids("other@x.test", Everything(), 1, 9) == [1]
    assert await store.search_uids("nobody@x.test", Everything(), 1, 9) == []
