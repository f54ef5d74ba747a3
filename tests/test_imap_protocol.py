"""
The IMAP protocol on a C{StringTransport}, over the in-memory store: login,
SELECT, FETCH, STORE, EXPUNGE, IDLE updates and the fixed Twisted bugs.
"""

from __future__ import annotations

from base64 import b64encode
from collections.abc import Iterator

import pytest

from tempmail.events import DeletionReason, EventKind, MailEvent
from tests.imap_session import BOX, RAW, Session, claim, selected
from tests.support import fired, open_grant


@pytest.fixture
def session() -> Iterator[Session]:
    s = Session()
    yield s
    s.close()


def test_capability_advertises_plain_with_initial_response(session: Session) -> None:
    reply = session.send(b"a CAPABILITY")
    assert b"AUTH=PLAIN" in reply and b"SASL-IR" in reply and b"IDLE" in reply
    assert b"UNSELECT" in reply and reply.endswith(b"a OK CAPABILITY completed\r\n")


def test_login_unclaimed_with_any_password(session: Session) -> None:
    assert session.send(b"a LOGIN bob anything") == b"a OK LOGIN completed\r\n"


def test_login_refuses_an_invalid_address(session: Session) -> None:
    assert b"a NO [AUTHENTICATIONFAILED]" in session.send(b'a LOGIN "a b@@" x')


def test_authenticate_plain_with_initial_response(session: Session) -> None:
    response = b64encode(b"\0bob\0pw")
    assert session.send(b"a AUTHENTICATE PLAIN " + response) == b"a OK LOGIN completed\r\n"


def test_authenticate_plain_after_a_continuation(session: Session) -> None:
    assert session.send(b"a AUTHENTICATE PLAIN") == b"+ \r\n"
    assert session.send(b64encode(b"\0bob\0pw")) == b"a OK LOGIN completed\r\n"


def test_authenticate_plain_malformed_is_bad(session: Session) -> None:
    assert session.send(b"a AUTHENTICATE PLAIN !!!") == b"a BAD malformed PLAIN response\r\n"
    assert session.send(b"b NOOP") == b"b OK NOOP completed\r\n"


def test_claimed_mailbox_needs_its_password_and_limits() -> None:
    s = Session()
    claim(s)
    assert b"a NO [AUTHENTICATIONFAILED]" in s.send(b"a LOGIN bob wrong")
    for tag in (b"b", b"c", b"d"):
        s.send(tag + b" LOGIN bob wrong")
    assert b"e NO [UNAVAILABLE]" in s.send(b"e LOGIN bob wrong")
    s.close()


def test_claimed_mailbox_opens_with_password_and_admin_token() -> None:
    s = Session()
    claim(s)
    assert s.send(b"a LOGIN bob right-password") == b"a OK LOGIN completed\r\n"
    s.close()
    s2 = Session()
    claim(s2)
    assert s2.send(b"a LOGIN bob admin-secret") == b"a OK LOGIN completed\r\n"
    s2.close()


def test_unclaimed_refused_when_not_allowed() -> None:
    s = Session(allow_unclaimed=False)
    assert b"a NO" in s.send(b"a LOGIN bob anything")
    s.close()


def test_select_reports_uidnext_permanentflags_and_unseen(session: Session) -> None:
    session.deliver()
    session.deliver()
    session.send(b"a LOGIN bob x")
    reply = session.send(b"b SELECT INBOX")
    assert b"* 2 EXISTS\r\n" in reply
    assert b"[UIDNEXT 3]" in reply
    assert b"[PERMANENTFLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft \\*)]" in reply
    assert b"* OK [UNSEEN 1]" in reply
    assert reply.endswith(b"b OK [READ-WRITE] SELECT completed\r\n")
    assert b"[READ-ONLY]" in session.send(b"c EXAMINE inbox")


def test_select_of_another_mailbox_is_no(session: Session) -> None:
    session.send(b"a LOGIN bob x")
    assert session.send(b"b SELECT Sent").startswith(b"b NO")
    assert session.send(b"c CREATE Sent").startswith(b"c NO")
    assert session.send(b"d DELETE Trash").startswith(b"d NO")


def test_list_lsub_status(session: Session) -> None:
    session.deliver()
    session.send(b"a LOGIN bob x")
    assert b'* LIST (\\HasNoChildren) "/" "INBOX"' in session.send(b'b LIST "" "*"')
    assert b"* LSUB" in session.send(b'c LSUB "" "*"')
    status = session.send(b"d STATUS INBOX (MESSAGES UIDNEXT UNSEEN)")
    assert b"MESSAGES 1" in status and b"UIDNEXT 2" in status and b"UNSEEN 1" in status
    assert session.send(b'e LIST "" "Other"') == b"e OK LIST completed\r\n"


def test_fetch_raw_is_byte_exact(session: Session) -> None:
    selected(session)
    reply = session.send(b"c FETCH 1 (BODY.PEEK[] RFC822.SIZE UID FLAGS)")
    assert b"{%d}\r\n" % len(RAW) + RAW in reply
    assert b"RFC822.SIZE %d" % len(RAW) in reply and b"UID 1" in reply


def test_fetch_utf8_header_is_exact_and_not_dropped(session: Session) -> None:
    selected(session)
    reply = session.send(b"c FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"{20}\r\nSubject: Gr\xc3\xbc\xc3\x9fe\r\n\r\n)" in reply
    assert reply.endswith(b"c OK FETCH completed\r\n")
    envelope = session.send(b"d FETCH 1 (ENVELOPE BODYSTRUCTURE INTERNALDATE)")
    assert b'"Mon, 01 Jan 2024 10:00:00 +0000" {7}\r\nGr\xc3\xbc\xc3\x9fe (' in envelope
    assert not session.transport.disconnecting


def test_bodystructure_defaults_to_text_plain() -> None:
    s = Session()
    selected(s)
    s.deliver(b"Subject: x\r\n\r\nbody\r\n")
    s.send(b"n NOOP")
    reply = s.send(b"c FETCH 2 (BODYSTRUCTURE)")
    assert b'("text" "plain"' in reply.lower()
    s.close()


def test_store_and_silent_and_uid_forms(session: Session) -> None:
    selected(session, 2)
    reply = session.send(b"c STORE 1 +FLAGS (\\Seen $Work)")
    assert b"* 1 FETCH (FLAGS (\\Seen $Work))" in reply
    assert session.send(b"d UID STORE 2 +FLAGS.SILENT (\\Flagged)").endswith(
        b"d OK STORE completed\r\n"
    )
    assert b"UID 2" in session.send(b"e UID FETCH 2 (FLAGS)")
    assert session.send(b"f STORE 1 +FLAGS (\\Recent)").startswith(b"f NO")
    assert any(e.kind is EventKind.READ for e in session.hub.published)


def test_expunge_follows_sequence_rules(session: Session) -> None:
    selected(session, 3)
    session.send(b"c STORE 1:2 +FLAGS.SILENT (\\Deleted)")
    reply = session.send(b"d EXPUNGE")
    assert reply == b"* 1 EXPUNGE\r\n* 1 EXPUNGE\r\nd OK EXPUNGE completed\r\n"
    assert b"UID 3" in session.send(b"e FETCH 1 (UID)")
    reasons = [e.reason for e in session.hub.published if e.kind is EventKind.DELETION]
    assert reasons == [DeletionReason.EXPUNGED, DeletionReason.EXPUNGED]


def test_idle_hears_arrivals_deletions_and_flags(session: Session) -> None:
    selected(session, 2)
    assert session.send(b"c IDLE") == b"+\r\n"
    session.deliver()
    session.hub.flush()
    # The only selected session takes the arrival as \\Recent.
    assert session.read() == b"* 3 EXISTS\r\n* 1 RECENT\r\n"
    (first,) = fired(session.memory.messages_by_uid(BOX, 1, 1))
    fired(session.store.set_seen(open_grant(BOX), first.id, True))
    session.hub.flush()
    assert session.read() == b"* 1 FETCH (FLAGS (\\Seen))\r\n"
    fired(session.store.delete_message(open_grant(BOX), first.id))
    session.hub.flush()
    assert session.read() == b"* 1 EXPUNGE\r\n"
    assert session.send(b"junk") == b"* BAD only DONE ends IDLE\r\n"
    assert session.send(b"DONE") == b"c OK IDLE terminated\r\n"


def test_deletion_elsewhere_waits_for_noop(session: Session) -> None:
    selected(session, 2)
    (first,) = fired(session.memory.messages_by_uid(BOX, 1, 1))
    fired(session.store.delete_message(open_grant(BOX), first.id))
    session.hub.flush()
    assert session.read() == b""
    # Until announced, sequence number 1 stays put; the gone message is
    # simply not returned.
    assert session.send(b"c FETCH 2 (UID)") == b"* 2 FETCH (UID 2)\r\nc OK FETCH completed\r\n"
    assert session.send(b"d NOOP") == b"* 1 EXPUNGE\r\nd OK NOOP completed\r\n"


def test_claim_ends_an_open_session(session: Session) -> None:
    selected(session)
    claim(session)
    session.hub.publish(MailEvent(EventKind.LOCK_CHANGED, BOX))
    session.hub.flush()
    assert session.read().startswith(b"* BYE")
    assert session.transport.disconnecting


def test_unknown_command_is_bad_and_session_goes_on(session: Session) -> None:
    assert session.send(b"a FROB").startswith(b"a BAD")
    assert session.send(b"b NOOP") == b"b OK NOOP completed\r\n"


# STARTTLS


def test_logindisabled_until_starttls() -> None:
    s = Session(context_factory=object(), allow_plaintext_auth=False)
    reply = s.send(b"a CAPABILITY")
    assert b"LOGINDISABLED" in reply and b"STARTTLS" in reply and b"AUTH=" not in reply
    refused = b"NO [PRIVACYREQUIRED] use STARTTLS before logging in\r\n"
    assert s.send(b"b LOGIN bob x") == b"b " + refused
    assert s.send(b"c AUTHENTICATE PLAIN " + b64encode(b"\0bob\0pw")) == b"c " + refused
    assert s.send(b"d STARTTLS") == b"d OK Begin TLS negotiation now\r\n"
    reply = s.send(b"e CAPABILITY")
    assert b"LOGINDISABLED" not in reply and b"STARTTLS" not in reply and b"AUTH=PLAIN" in reply
    assert s.send(b"f LOGIN bob x") == b"f OK LOGIN completed\r\n"
    s.close()


def test_plaintext_auth_allowed_keeps_starttls_offered() -> None:
    s = Session(context_factory=object(), allow_plaintext_auth=True)
    reply = s.send(b"a CAPABILITY")
    assert b"STARTTLS" in reply and b"LOGINDISABLED" not in reply
    assert s.send(b"b LOGIN bob x") == b"b OK LOGIN completed\r\n"
    s.close()


def test_starttls_drops_pipelined_commands() -> None:
    """
    C{a STARTTLS} and C{b LOGIN} in one packet: LOGIN never runs; the next
    command, read from inside TLS, is answered as unauthenticated.
    """
    s = Session(context_factory=object(), allow_plaintext_auth=False)
    s.server.dataReceived(b"a STARTTLS\r\nb LOGIN bob x\r\n")
    assert s.read() == b"a OK Begin TLS negotiation now\r\n"
    assert s.server.startedTLS
    assert s.send(b"c SELECT INBOX").startswith(b"c BAD")


def test_starttls_drops_commands_held_behind_a_running_one() -> None:
    """
    Lines queued while a command ran are dropped too when one of them is
    STARTTLS: the queue was read before the handshake.
    """
    s = Session(context_factory=object(), allow_plaintext_auth=False)
    s.server.blocked = []  # type: ignore[assignment]
    s.server.dataReceived(b"a NOOP\r\nb STARTTLS\r\nc LOGIN bob x\r\n")
    s.server._unblock()
    assert s.read() == (b"a OK NOOP completed\r\nb OK Begin TLS negotiation now\r\n")
    assert s.send(b"d SELECT INBOX").startswith(b"d BAD")
