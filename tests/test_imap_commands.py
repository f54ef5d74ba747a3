"""
APPEND, COPY, UIDPLUS, STATUS, LIST, NAMESPACE and the mailbox commands
that answer NO, on a C{StringTransport} over the in-memory store.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from twisted.internet.defer import Deferred, fail

from tempmail.events import EventKind
from tempmail.interfaces import StorageUnavailable
from tests.imap_session import MAX_APPEND, RAW, Session, selected


@pytest.fixture
def session() -> Iterator[Session]:
    s = Session()
    yield s
    s.close()


def append(s: Session, raw: bytes, options: bytes = b"", tag: bytes = b"a") -> bytes:
    command = tag + b" APPEND INBOX " + options + b"{%d}" % (len(raw),)
    assert s.send(command).startswith(b"+ ")
    return s.send(raw)


def test_capabilities_name_uidplus_and_the_append_limit(session: Session) -> None:
    reply = session.send(b"a CAPABILITY")
    assert b" UIDPLUS" in reply and b" APPENDLIMIT=%d" % (MAX_APPEND,) in reply


def test_append_keeps_flags_date_and_bytes_and_is_an_arrival(session: Session) -> None:
    session.send(b"l LOGIN bob x")
    session.hub.published.clear()
    reply = append(session, RAW, b'(\\Seen $Saved \\Recent) "05-Dec-2026 10:00:00 +0100" ')
    assert re.fullmatch(rb"a OK \[APPENDUID \d+ 1\] APPEND completed\r\n", reply)
    assert [e.kind for e in session.hub.published][:1] == [EventKind.ARRIVAL]
    session.send(b"s SELECT INBOX")
    fetched = session.send(b"f FETCH 1 (FLAGS INTERNALDATE BODY.PEEK[])")
    # Recent in the session that selected the mailbox first.
    assert b"FLAGS (\\Seen $Saved \\Recent)" in fetched
    assert b'INTERNALDATE "05-Dec-2026 09:00:00 +0000"' in fetched
    assert b"{%d}\r\n" % (len(RAW),) + RAW in fetched


def test_append_while_selected_announces_exists(session: Session) -> None:
    selected(session)
    reply = append(session, b"Subject: x\r\n\r\nbody\r\n")
    assert b"* 2 EXISTS\r\n" in reply + session.read()
    assert b"[APPENDUID" in reply


def test_append_elsewhere_is_trycreate(session: Session) -> None:
    session.send(b"l LOGIN bob x")
    assert session.send(b"a APPEND Sent {3}").startswith(b"+ ")
    assert session.send(b"abc") == b"a NO [TRYCREATE] only INBOX exists here\r\n"


def test_append_too_big_is_refused_before_the_literal(session: Session) -> None:
    session.send(b"l LOGIN bob x")
    reply = session.send(b"a APPEND INBOX {%d}" % (MAX_APPEND + 1,))
    assert reply == b"a NO [TOOBIG] messages are limited to %d bytes\r\n" % (MAX_APPEND,)
    assert session.send(b"b NOOP") == b"b OK NOOP completed\r\n"


def test_append_with_a_bad_flag_or_date(session: Session) -> None:
    session.send(b"l LOGIN bob x")
    assert append(session, RAW, b"(\\Bogus) ").startswith(b"a NO APPEND refused")
    assert session.send(b'b APPEND INBOX "yesterday" {3}').startswith(b"b BAD ")
    assert session.send(b"c STATUS INBOX (MESSAGES)").startswith(b"* STATUS INBOX (MESSAGES 0)")


def test_copy_answers_copyuid_and_keeps_flags(session: Session) -> None:
    selected(session, count=3)
    session.send(b"a STORE 2 +FLAGS (\\Flagged)")
    reply = session.send(b"b COPY 2:3 INBOX")
    assert re.search(rb"b OK \[COPYUID \d+ 2:3 4:5\] COPY completed\r\n", reply)
    assert b"* 5 EXISTS" in reply + session.read()
    # A copy arrives while this session is selected: it is recent here.
    assert b"* 4 FETCH (FLAGS (\\Flagged \\Recent) UID 4)" in session.send(b"c FETCH 4 (FLAGS UID)")
    uid_copy = session.send(b"d UID COPY 1 INBOX")
    assert re.search(rb"\[COPYUID \d+ 1 6\]", uid_copy)


def test_copy_elsewhere_is_trycreate(session: Session) -> None:
    selected(session)
    assert session.send(b"a COPY 1 Trash") == b"a NO [TRYCREATE] only INBOX exists here\r\n"


def test_uid_expunge_only_the_uids_named(session: Session) -> None:
    selected(session, count=3)
    session.send(b"a STORE 1:3 +FLAGS.SILENT (\\Deleted)")
    assert session.send(b"b UID EXPUNGE 2") == b"* 2 EXPUNGE\r\nb OK EXPUNGE completed\r\n"
    assert session.send(b"c UID SEARCH ALL").startswith(b"* SEARCH 1 3\r\n")
    assert session.send(b"d UID EXPUNGE x").startswith(b"d BAD ")


def test_close_expunges_silently_and_unselect_does_not(session: Session) -> None:
    selected(session, count=2)
    session.send(b"a STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert session.send(b"b UNSELECT") == b"b OK UNSELECT completed\r\n"
    session.send(b"c SELECT INBOX")
    assert session.send(b"d CLOSE") == b"d OK CLOSE completed\r\n"
    assert b"MESSAGES 1" in session.send(b"e STATUS INBOX (MESSAGES)")


def test_status_list_lsub_namespace(session: Session) -> None:
    session.deliver()
    session.send(b"l LOGIN bob x")
    status = session.send(b"a STATUS inbox (MESSAGES UIDNEXT UNSEEN RECENT)")
    # No session has selected the mailbox yet: the message is recent.
    assert status.startswith(b"* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UNSEEN 1 RECENT 1)\r\n")
    assert session.send(b"b STATUS Trash (MESSAGES)") == (
        b"b NO [NONEXISTENT] only INBOX exists here\r\n"
    )
    assert session.send(b'c LIST "" ""') == b'* LIST (\\Noselect) "/" ""\r\nc OK LIST completed\r\n'
    assert b'* LIST (\\HasNoChildren) "/" "INBOX"' in session.send(b'd LIST "" *')
    assert b'* LSUB (\\HasNoChildren) "/" "INBOX"' in session.send(b'e LSUB "" *')
    assert session.send(b'f LSUB "" "Trash"') == b"f OK LSUB completed\r\n"
    assert session.send(b"g NAMESPACE") == (
        b'* NAMESPACE (("" "/")) NIL NIL\r\ng OK NAMESPACE completed\r\n'
    )


@pytest.mark.parametrize(
    "command",
    [b"CREATE Trash", b"DELETE Trash", b"DELETE INBOX", b"RENAME INBOX Old", b"RENAME a b"],
)
def test_other_mailboxes_are_no_never_bad(session: Session, command: bytes) -> None:
    session.send(b"l LOGIN bob x")
    assert session.send(b"a " + command).startswith(b"a NO ")
    assert session.send(b"b NOOP") == b"b OK NOOP completed\r\n"


def test_a_failed_copy_or_append_is_no_not_bad(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    selected(session)
    monkeypatch.setattr(
        session.store, "deliver", lambda message: fail(StorageUnavailable("disk full"))
    )
    # Twisted answers a failed COPY with a str, which becomes BAD (twisted#10280).
    assert session.send(b"a COPY 1 INBOX") == b"a NO [UNAVAILABLE] COPY failed; try again\r\n"
    assert append(session, RAW, tag=b"b") == b"b NO [UNAVAILABLE] APPEND failed; try again\r\n"
    assert session.send(b"c NOOP") == b"c OK NOOP completed\r\n"


def test_expunge_numbers_each_after_the_ones_before(session: Session) -> None:
    selected(session, count=5)
    session.send(b"a STORE 2,4,5 +FLAGS.SILENT (\\Deleted)")
    reply = session.send(b"b EXPUNGE")
    assert reply == b"* 2 EXPUNGE\r\n* 3 EXPUNGE\r\n* 3 EXPUNGE\r\nb OK EXPUNGE completed\r\n"
    assert session.send(b"c UID SEARCH ALL").startswith(b"* SEARCH 1 3\r\n")


def test_pipelined_commands_are_answered_in_order(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    selected(session)
    held: list[Deferred[None]] = []
    store_flags = session.store.store_flags

    async def slow(*args: Any) -> Any:
        gate: Deferred[None] = Deferred()
        held.append(gate)
        await gate
        return await store_flags(*args)

    monkeypatch.setattr(session.store, "store_flags", slow)
    session.server.dataReceived(b"a STORE 1 +FLAGS (\\Flagged)\r\nb CHECK\r\nc NOOP\r\n")
    # CHECK and NOOP wait for the STORE sent before them.
    assert session.transport.value() == b""
    held[0].callback(None)
    assert session.read() == (
        b"* 1 FETCH (FLAGS (\\Flagged))\r\na OK STORE completed\r\n"
        b"b OK CHECK completed\r\nc OK NOOP completed\r\n"
    )
