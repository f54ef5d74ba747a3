"""
Every FETCH item on a C{StringTransport}: ENVELOPE, BODY and BODYSTRUCTURE,
body sections and partial fetches cut from the exact bytes, the RFC822
items, the implicit C{\\Seen}, and FETCH and SEARCH in bounded batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from twisted.internet.defer import Deferred

from tempmail.events import EventKind
from tempmail.imap import fetching, mailbox
from tempmail.imap.message import Part
from tempmail.imap.sections import Entity
from tests.imap_session import BOX, Session, selected

COMPLEX = (
    b"Return-Path: <x@y>\r\n"
    b'From: "Alice A." <alice@a.test>\r\n'
    b"Sender: sender@a.test\r\n"
    b"To: Bob <bob@tempmail.local>, undisclosed-recipients:;\r\n"
    b"Cc: carol@c.test\r\n"
    b"Subject: Mixed\r\n"
    b"Date: Tue, 02 Jan 2024 10:00:00 +0100\r\n"
    b"Message-ID: <m1@a.test>\r\n"
    b"In-Reply-To: <m0@a.test>\r\n"
    b"X-Twice: 1\r\nX-Twice: 2\r\n"
    b"X-Folded: one\r\n two\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="BoUnD"\r\n'
    b"\r\n"
    b"preamble\r\n"
    b"--BoUnD\r\n"
    b'Content-Type: text/plain; charset="UTF-8"; format=flowed\r\n'
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Gr\xc3\xbc\xc3\x9fe\r\nline two\r\n"
    b"--BoUnD\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"From: inner@i.test\r\nSubject: Inner\r\n"
    b"Content-Type: multipart/alternative; boundary=in\r\n\r\n"
    b"--in\r\nContent-Type: text/plain\r\n\r\ninner text\r\n"
    b"--in\r\nContent-Type: text/html\r\n\r\n<p>inner</p>\r\n--in--\r\n"
    b"--BoUnD\r\n"
    b'Content-Type: application/octet-stream; name="a.bin"\r\n'
    b'Content-Disposition: attachment; filename="a.bin"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"AAECAw==\r\n"
    b"--BoUnD--\r\n"
    b"epilogue\r\n"
)
HEADER = COMPLEX[: COMPLEX.index(b"\r\n\r\n") + 4]
SEMICOLON = b"Subject: bare\r\nContent-Type: text/plain;\r\n\r\nhi\r\n"
UNTYPED = b"Subject: none\r\n\r\nhi\r\n"


@pytest.fixture
def session() -> Iterator[Session]:
    s = Session()
    for raw in (COMPLEX, SEMICOLON, UNTYPED):
        s.deliver(raw)
    selected(s, count=0)
    yield s
    s.close()


def fetch(s: Session, items: bytes, seq: bytes = b"1") -> bytes:
    reply = s.send(b"f FETCH " + seq + b" " + items)
    assert reply.endswith(b"f OK FETCH completed\r\n"), reply
    return reply[: -len(b"f OK FETCH completed\r\n")]


def test_envelope_has_every_field_and_groups(session: Session) -> None:
    assert fetch(session, b"ENVELOPE") == (
        b'* 1 FETCH (ENVELOPE ("Tue, 02 Jan 2024 10:00:00 +0100" "Mixed" '
        b'(("Alice A." NIL "alice" "a.test")) ((NIL NIL "sender" "a.test")) '
        b'(("Alice A." NIL "alice" "a.test")) '
        b'(("Bob" NIL "bob" "tempmail.local") (NIL NIL "undisclosed-recipients" NIL) '
        b'(NIL NIL NIL NIL)) ((NIL NIL "carol" "c.test")) NIL "<m0@a.test>" "<m1@a.test>"))\r\n'
    )
    assert fetch(session, b"ENVELOPE", b"3") == (
        b'* 3 FETCH (ENVELOPE (NIL "none" NIL NIL NIL NIL NIL NIL NIL NIL))\r\n'
    )


def test_envelope_names_from_comments_and_keeps_routes() -> None:
    s = Session()
    s.deliver(b"From: user@domain (Real Name)\r\nTo: <@r1,@r2:user@domain>\r\n\r\nhi\r\n")
    selected(s, count=0)
    assert fetch(s, b"ENVELOPE") == (
        b'* 1 FETCH (ENVELOPE (NIL NIL (("Real Name" NIL "user" "domain")) '
        b'(("Real Name" NIL "user" "domain")) (("Real Name" NIL "user" "domain")) '
        b'((NIL "@r1,@r2" "user" "domain")) NIL NIL NIL NIL))\r\n'
    )
    s.close()


def test_a_folded_boundary_is_unfolded() -> None:
    s = Session()
    s.deliver(
        b'Content-Type: multipart/mixed; boundary="foo\r\n bar"\r\n\r\n'
        b"--foo bar\r\nContent-Type: text/html\r\n\r\nhello\r\n--foo bar--\r\n"
    )
    selected(s, count=0)
    assert fetch(s, b"(BODYSTRUCTURE BODY.PEEK[1])") == (
        b'* 1 FETCH (BODYSTRUCTURE (("text" "html" NIL NIL NIL "7BIT" 5 1 NIL NIL NIL NIL) '
        b'"mixed" ("boundary" "foo bar") NIL NIL NIL) BODY[1] {5}\r\nhello)\r\n'
    )
    s.close()


def test_digest_parts_default_to_messages() -> None:
    s = Session()
    s.deliver(
        b'Content-Type: multipart/digest; boundary="d"\r\n\r\n'
        b"--d\r\n\r\nSubject: m1\r\n\r\nm1 body\r\n"
        b"--d\r\nX-Mime: m2\r\n\r\nSubject: m2\r\n\r\nm2 body\r\n--d--\r\n"
    )
    selected(s, count=0)
    part = (
        b'("message" "rfc822" NIL NIL NIL "7BIT" 22 (NIL "%s" NIL NIL NIL NIL NIL NIL NIL NIL) '
        b'("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 7 1) 3)'
    )
    assert fetch(s, b"BODY") == (
        b"* 1 FETCH (BODY (" + part % b"m1" + b" " + part % b"m2" + b' "digest"))\r\n'
    )
    assert fetch(s, b"(BODY.PEEK[1.HEADER] BODY.PEEK[2.MIME] BODY.PEEK[2.TEXT])") == (
        b"* 1 FETCH (BODY[1.HEADER] {15}\r\nSubject: m1\r\n\r\n "
        b"BODY[2.MIME] {14}\r\nX-Mime: m2\r\n\r\n BODY[2.TEXT] {7}\r\nm2 body)\r\n"
    )
    s.close()


def test_bodystructure_keeps_parameters_and_nests_messages(session: Session) -> None:
    inner = (
        b'("message" "rfc822" NIL NIL NIL "7BIT" 187 (NIL "Inner" ((NIL NIL "inner" "i.test")) '
        b'((NIL NIL "inner" "i.test")) ((NIL NIL "inner" "i.test")) NIL NIL NIL NIL NIL) '
        b'(("text" "plain" NIL NIL NIL "7BIT" 10 1 NIL NIL NIL NIL) '
        b'("text" "html" NIL NIL NIL "7BIT" 12 1 NIL NIL NIL NIL) "alternative" '
        b'("boundary" "in") NIL NIL NIL) 13 NIL NIL NIL NIL)'
    )
    assert fetch(session, b"BODYSTRUCTURE") == (
        b'* 1 FETCH (BODYSTRUCTURE (("text" "plain" ("charset" "UTF-8" "format" "flowed") '
        b'NIL NIL "8BIT" 17 2 NIL NIL NIL NIL) ' + inner + b' ("application" "octet-stream" '
        b'("name" "a.bin") NIL NIL "BASE64" 8 NIL ("attachment" ("filename" "a.bin")) NIL NIL) '
        b'"mixed" ("boundary" "BoUnD") NIL NIL NIL))\r\n'
    )
    body = fetch(session, b"BODY")
    assert body.startswith(b'* 1 FETCH (BODY (("text" "plain" ("charset" "UTF-8" "format" '
                           b'"flowed") NIL NIL "8BIT" 17 2) ("message"')  # fmt: skip
    assert body.endswith(b'("application" "octet-stream" ("name" "a.bin") NIL NIL "BASE64" 8) '
                         b'"mixed"))\r\n')  # fmt: skip


def test_single_parts_get_the_defaults_and_never_crash(session: Session) -> None:
    assert fetch(session, b"(BODYSTRUCTURE BODY)", b"3") == (
        b'* 3 FETCH (BODYSTRUCTURE ("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 4 1 '
        b'NIL NIL NIL NIL) BODY ("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 4 1))\r\n'
    )
    assert fetch(session, b"BODYSTRUCTURE", b"2") == (
        b'* 2 FETCH (BODYSTRUCTURE ("text" "plain" NIL NIL NIL "7BIT" 4 1 NIL NIL NIL NIL))\r\n'
    )


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (b"BODY[]", COMPLEX),
        (b"BODY[HEADER]", HEADER),
        (b"BODY[TEXT]", COMPLEX[len(HEADER) :]),
        (b"BODY[1]", b"Gr\xc3\xbc\xc3\x9fe\r\nline two"),
        (
            b"BODY[1.MIME]",
            b'Content-Type: text/plain; charset="UTF-8"; format=flowed\r\n'
            b"Content-Transfer-Encoding: 8bit\r\n\r\n",
        ),
        (
            b"BODY[2.HEADER]",
            b"From: inner@i.test\r\nSubject: Inner\r\n"
            b"Content-Type: multipart/alternative; boundary=in\r\n\r\n",
        ),
        (b"BODY[2.1]", b"inner text"),
        (b"BODY[2.2.MIME]", b"Content-Type: text/html\r\n\r\n"),
        (b"BODY[3]", b"AAECAw=="),
        (
            b"BODY[HEADER.FIELDS (x-twice X-FOLDED)]",
            b"X-Twice: 1\r\nX-Twice: 2\r\nX-Folded: one\r\n two\r\n\r\n",
        ),
        # No empty field for a header the message lacks (twisted#4037).
        (b"BODY[HEADER.FIELDS (X-NOPE)]", b"\r\n"),
        (b"RFC822", COMPLEX),
        (b"RFC822.HEADER", HEADER),
        (b"RFC822.TEXT", COMPLEX[len(HEADER) :]),
    ],
)
def test_sections_are_exact_bytes(session: Session, section: bytes, expected: bytes) -> None:
    peek = section.replace(b"BODY[", b"BODY.PEEK[")
    reply = fetch(session, peek)
    label = section.replace(b"(x-twice X-FOLDED)", b"(X-Twice X-Folded)").replace(
        b"X-NOPE", b"X-Nope"
    )
    # RFC822 and RFC822.TEXT have no PEEK form: they set \Seen.
    seen = b" FLAGS (\\Seen)" if section in (b"RFC822", b"RFC822.TEXT") else b""
    literal = b" {%d}\r\n" % (len(expected),) + expected
    assert reply == b"* 1 FETCH (" + label + literal + seen + b")\r\n"


def test_header_fields_not_and_partial_and_missing_parts(session: Session) -> None:
    reply = fetch(
        session,
        b"(BODY.PEEK[HEADER.FIELDS.NOT (RETURN-PATH FROM SENDER TO CC SUBJECT DATE MESSAGE-ID "
        b"IN-REPLY-TO MIME-VERSION CONTENT-TYPE)] BODY.PEEK[]<2.5> BODY.PEEK[3]<6.10> "
        b"BODY.PEEK[9] BODY.PEEK[]<99999.1>)",
    )
    assert b"] {47}\r\nX-Twice: 1\r\nX-Twice: 2\r\nX-Folded: one\r\n two\r\n\r\n" in reply
    assert b" BODY[]<2> {5}\r\nturn-" in reply
    assert b" BODY[3]<6> {2}\r\n==" in reply
    assert b" BODY[9] NIL " in reply
    assert reply.endswith(b" BODY[]<99999> {0}\r\n)\r\n")


def test_rfc822_size_and_macros(session: Session) -> None:
    reply = fetch(session, b"FAST", b"3")
    assert reply == (
        b'* 3 FETCH (FLAGS () INTERNALDATE "29-Nov-2026 12:00:00 +0000" RFC822.SIZE %d)\r\n'
        % (len(UNTYPED),)
    )
    assert b"ENVELOPE (NIL " in fetch(session, b"ALL", b"3")
    assert b"BODY (" in fetch(session, b"FULL", b"3")


def test_body_without_peek_sets_seen_and_says_so(session: Session) -> None:
    session.hub.published.clear()
    assert fetch(session, b"BODY.PEEK[TEXT]", b"3") == b"* 3 FETCH (BODY[TEXT] {4}\r\nhi\r\n)\r\n"
    assert fetch(session, b"BODY[TEXT]", b"3") == (
        b"* 3 FETCH (BODY[TEXT] {4}\r\nhi\r\n FLAGS (\\Seen))\r\n"
    )
    assert {e.kind for e in session.hub.published} == {EventKind.READ, EventKind.FLAGS_CHANGED}
    assert fetch(session, b"(FLAGS RFC822.TEXT)", b"2").startswith(b"* 2 FETCH (FLAGS (\\Seen) ")
    assert session.read() == b""  # its own change is not echoed
    session.send(b"e EXAMINE INBOX")
    assert fetch(session, b"RFC822", b"1").endswith(b"epilogue\r\n)\r\n")
    assert b"UNSEEN 1" in session.send(b"s STATUS INBOX (UNSEEN)")


class Recording:
    """
    Wraps a store method to record the arguments of each call.
    """

    def __init__(self, method: Any) -> None:
        self.method = method
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, *args: Any) -> Any:
        self.calls.append(args)
        return self.method(*args)


def test_fetch_and_search_read_in_batches(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(4):
        session.deliver(UNTYPED)
    session.send(b"n NOOP")
    monkeypatch.setattr(fetching, "FETCH_BATCH", 3)
    monkeypatch.setattr(fetching, "FETCH_BYTES", len(UNTYPED) * 2)
    monkeypatch.setattr(mailbox, "SEARCH_BATCH", 3)
    store = session.store
    by_uid = Recording(store.messages_by_uid)
    raw = Recording(store.raws_by_id)
    search = Recording(store.search_uids)
    monkeypatch.setattr(store, "messages_by_uid", by_uid)
    monkeypatch.setattr(store, "raws_by_id", raw)
    monkeypatch.setattr(store, "search_uids", search)

    reply = fetch(session, b"(UID RFC822.SIZE)", b"1:*")
    assert reply.count(b" FETCH (") == 7 and raw.calls == []
    assert [call[1:] for call in by_uid.calls] == [(1, 3), (4, 6), (7, 7)]
    assert fetch(session, b"BODY.PEEK[]", b"2:*").count(b" FETCH (") == 6
    # Reads of at most two UNTYPED messages' worth of bytes (SEMICOLON, a
    # little larger, alone), never across the UID batches 2:4 and 5:7.
    assert [len(call[0]) for call in raw.calls] == [1, 2, 2, 1]
    assert session.send(b"s SEARCH ALL").startswith(b"* SEARCH 1 2 3 4 5 6 7\r\n")
    assert [call[0] for call in search.calls] == [BOX] * 3
    assert [call[2:] for call in search.calls] == [(1, 3), (4, 6), (7, 7)]


def test_parts_answer_headers_asked_by_str_or_bytes_names() -> None:
    # Twisted asks with lower-case str names and with upper-case bytes.
    part = Part(Entity(COMPLEX))
    assert part.getHeaders(False, "subject", b"X-TWICE") == {"subject": "Mixed", "x-twice": "1"}
    assert "subject" not in part.getHeaders(True, b"SUBJECT")
    assert part.getSubPart(0).getBodyFile().read() == b"Gr\xc3\xbc\xc3\x9fe\r\nline two"
    with pytest.raises(IndexError):
        part.getSubPart(3)


def test_fetch_waits_while_the_client_is_not_reading(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetching, "FETCH_BYTES", 1)
    gates: list[Deferred[None]] = []
    read_bodies = session.server.mbox.read_bodies

    async def held(group: Any) -> Any:
        gate: Deferred[None] = Deferred()
        gates.append(gate)
        await gate
        return await read_bodies(group)

    monkeypatch.setattr(session.server.mbox, "read_bodies", held)
    session.server.dataReceived(b"f FETCH 1:3 (BODY.PEEK[TEXT])\r\n")
    producer = session.transport.producer
    assert producer is not None and len(gates) == 1
    producer.pauseProducing()
    gates[0].callback(None)
    # One message written; the next is not read while the client is slow.
    assert session.transport.value().count(b" FETCH (") == 1 and len(gates) == 1
    producer.resumeProducing()
    assert len(gates) == 2
    gates[1].callback(None)
    gates[2].callback(None)
    reply = session.transport.value()
    assert reply.count(b" FETCH (") == 3 and reply.endswith(b"f OK FETCH completed\r\n")
    assert session.transport.producer is None


def test_sparse_sets_read_only_what_they_name(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(5):
        session.deliver(UNTYPED)
    session.send(b"n NOOP")
    by_uid = Recording(session.store.messages_by_uid)
    monkeypatch.setattr(session.store, "messages_by_uid", by_uid)
    assert fetch(session, b"UID", b"1,7:8").count(b" FETCH (") == 3
    assert [call[1:] for call in by_uid.calls] == [(1, 1), (7, 8)]
    by_uid.calls.clear()
    assert b"[COPYUID" in session.send(b"c COPY 2,8 INBOX")
    assert [call[1:] for call in by_uid.calls] == [(2, 2), (8, 8)]


def test_store_writes_in_batches(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mailbox, "STORE_BATCH", 2)
    writes = Recording(session.store.store_flags)
    monkeypatch.setattr(session.store, "store_flags", writes)
    reply = session.send(b"s STORE 1:* +FLAGS (\\Flagged)")
    assert reply.count(b"FLAGS (\\Flagged)") == 3 and reply.endswith(b"s OK STORE completed\r\n")
    assert [list(call[1]) for call in writes.calls] == [[1, 2], [3]]
    assert session.read() == b""  # its own writes are not echoed
