"""
IMAP SEARCH and UID SEARCH on a C{StringTransport}: every key is read,
sequence numbers and UIDs come out right, literals and charsets.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from tempmail.imap.search import BadSearch, Token, parse_search
from tempmail.search import (
    AllOf,
    AnyOf,
    DateField,
    DateIs,
    DateRelation,
    HasFlag,
    HeaderContains,
    Not,
    SizeIs,
    TextContains,
    UidIn,
)
from tests.imap_session import Session, selected
from tests.support import fired, open_grant

UIDS = [2, 4, 6, 8]


def message(sender: str, subject: str, body: str = "hello") -> bytes:
    return f"From: {sender}\r\nSubject: {subject}\r\n\r\n{body}\r\n".encode()


@pytest.fixture
def session() -> Iterator[Session]:
    """
    A session with INBOX selected: UIDs 2, 3 and 4 at sequence numbers
    1, 2 and 3 (UID 1 was deleted before the login).
    """
    s = Session()
    s.deliver(message("gone@x.test", "deleted"))
    s.deliver(message("Alice <alice@a.test>", "Grüße aus Köln", "Käse und Brot"))
    s.deliver(message("bob@b.test", "meeting", "see you"))
    s.deliver(message("carol@c.test", "report " + "x" * 3000))
    (first,) = fired(s.store.messages_by_uid("bob@tempmail.local", 1, 1))
    fired(s.store.delete_message(open_grant("bob@tempmail.local"), first.id))
    selected(s, count=0)
    yield s
    s.close()


@pytest.mark.parametrize(
    ("keys", "seqs", "uids"),
    [
        (b"ALL", b"1 2 3", b"2 3 4"),
        (b"FROM alice", b"1", b"2"),
        (b'SUBJECT "MEETING"', b"2", b"3"),
        (b"BODY see", b"2", b"3"),
        (b"TEXT alice", b"1", b"2"),
        (b"LARGER 1000", b"3", b"4"),
        (b"NOT FROM alice", b"2 3", b"3 4"),
        (b"OR FROM alice FROM bob", b"1 2", b"2 3"),
        (b"(FROM alice) UNSEEN", b"1", b"2"),
        (b"2:*", b"2 3", b"3 4"),
        (b"UID 3:4", b"2 3", b"3 4"),
        (b"UID 1", b"", b""),
        (b"SINCE 1-Jan-2020 BEFORE 1-Jan-2100", b"1 2 3", b"2 3 4"),
        (b"NEW", b"", b""),
        (b"OLD", b"1 2 3", b"2 3 4"),
        (b"RECENT", b"", b""),
        (b"CHARSET UTF-8 SUBJECT k\xc3\xb6ln", b"1", b"2"),
        (b'CHARSET "utf-8" BODY "k\xc3\xa4se"', b"1", b"2"),
        (b"HEADER subject report", b"3", b"4"),
    ],
)
def test_search_and_uid_search(session: Session, keys: bytes, seqs: bytes, uids: bytes) -> None:
    space = b" " if seqs else b""
    assert session.send(b"a SEARCH " + keys) == (
        b"* SEARCH" + space + seqs + b"\r\na OK SEARCH completed\r\n"
    )
    assert session.send(b"b UID SEARCH " + keys) == (
        b"* SEARCH" + space + uids + b"\r\nb OK SEARCH completed\r\n"
    )


def test_flags_and_keywords(session: Session) -> None:
    session.send(b"a STORE 2 +FLAGS (\\Flagged $Work)")
    assert b"* SEARCH 2\r\n" in session.send(b"b SEARCH FLAGGED KEYWORD $work")
    assert b"* SEARCH 1 3\r\n" in session.send(b"c SEARCH UNKEYWORD $Work")
    session.send(b"d STORE 1 +FLAGS (\\Seen)")
    assert b"* SEARCH 1\r\n" in session.send(b"e SEARCH SEEN")
    assert b"* SEARCH 2 3\r\n" in session.send(b"f SEARCH UNSEEN")


def test_a_literal_among_the_keys(session: Session) -> None:
    assert (
        session.send(b"a SEARCH CHARSET UTF-8 SUBJECT {5}") == b"+ Ready for 5 octets of text\r\n"
    )
    reply = session.send(b"K\xc3\xb6ln FROM alice")
    assert reply == b"* SEARCH 1\r\na OK SEARCH completed\r\n"


def test_nil_is_a_search_string(session: Session) -> None:
    # Twisted reads the atom NIL as None; as a string it is the text NIL.
    session.deliver(message("nil@n.test", "the word nil"))
    session.send(b"a NOOP")
    assert session.send(b"b SEARCH SUBJECT NIL") == b"* SEARCH 4\r\nb OK SEARCH completed\r\n"
    assert session.send(b"c SEARCH NIL").startswith(b"c BAD ")


def test_unknown_charset_is_no_badcharset(session: Session) -> None:
    reply = session.send(b"a SEARCH CHARSET KOI8-R ALL")
    assert reply == b"a NO [BADCHARSET (UTF-8 US-ASCII)]\r\n"


@pytest.mark.parametrize(
    "keys",
    [
        *(b"FROB", b"FROM", b"SINCE yesterday", b"LARGER big", b"(FROM a", b"UID x:y"),
        *(
            b"OR ALL",
            b"LARGER 4294967296",
            b"SMALLER 99999999999999999999",
            b"LARGER " + b"9" * 5000,
        ),
    ],
)
def test_bad_keys_are_bad_and_the_session_goes_on(session: Session, keys: bytes) -> None:
    assert session.send(b"a SEARCH " + keys).startswith(b"a BAD ")
    assert session.send(b"b NOOP") == b"b OK NOOP completed\r\n"


def test_the_criterion_read_from_every_key() -> None:
    tokens: list[Token] = [
        b"OR", b"SENTON", b"2-Feb-2026", b"SMALLER", b"5",
        [b"NOT", b"CC", b"x", b"BCC", b"y"], b"1:2,*", b"UNDRAFT", b"ANSWERED",
    ]  # fmt: skip
    criterion = parse_search(tokens, UIDS)
    assert criterion == AllOf(
        (
            AnyOf(
                (
                    DateIs(DateField.SENT, DateRelation.ON, date(2026, 2, 2)),
                    SizeIs(False, 5),
                )
            ),
            AllOf((Not(HeaderContains("cc", "x")), HeaderContains("bcc", "y"))),
            UidIn(((2, 4), (8, 8))),
            Not(HasFlag("\\Draft")),
            HasFlag("\\Answered"),
        )
    )
    assert parse_search([b"BODY", b"x"], UIDS) == TextContains("x", headers=False)
    with pytest.raises(BadSearch):
        parse_search([], UIDS)
