"""
Unit tests of L{TempmailESMTP} and L{SMTPServerFactory}.

Everything runs on Twisted's doubles: a L{StringTransport} stands in for the
socket, a L{Clock} for the reactor's timers, and the message is parsed
synchronously, so no thread or reactor is involved.
"""

from __future__ import annotations

import pathlib
import re

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import LogLevel, capturedLogs, formatEvent
from twisted.python.failure import Failure

from tempmail.interfaces import StorageUnavailable
from tempmail.models import DeliveredCopy, IncomingMessage, ParsedMessage, StoredMessage
from tempmail.parsing import parse_message
from tempmail.smtp.delivery import MailDelivery
from tempmail.smtp.factory import SMTPServerFactory
from tempmail.smtp.limits import SMTPLimits
from tempmail.smtp.protocol import TempmailESMTP
from tempmail.smtp.spool import SPOOL_AFTER, MemoryBudget
from tempmail.testing import MemoryMailStore
from tests.conftest import LoggedErrors
from tests.support import fired

DOMAIN = "tmp.test"
CRLF = b"\r\n"
SENDER_OK = b"250 2.1.0 Sender OK"
RECIPIENT_OK = b"250 2.1.5 Recipient OK"
GO_AHEAD = b"354 End data with <CR><LF>.<CR><LF>"
RETRY = b"451 4.3.0 Message not stored; try again later"
INTERNAL_ERROR = b"554 5.3.0 Message not stored: internal error"
STORED = re.compile(rb"^250 2\.0\.0 Ok: stored as (\S+( \S+)*)$")
# 2023-11-14 22:13:20 UTC
NOW = 1_700_000_000
NOW_TEXT = b"Tue, 14 Nov 2023 22:13:20 +0000"


def parse_now(raw: bytes) -> Deferred[ParsedMessage]:
    return succeed(parse_message(raw))


class HeldStore(MemoryMailStore):
    """
    A L{MemoryMailStore} whose C{deliver} waits until the test calls
    L{commit} or L{refuse}, like a database commit that takes a while.
    """

    def __init__(self) -> None:
        super().__init__()
        self.held: list[tuple[IncomingMessage, Deferred[list[DeliveredCopy]]]] = []

    def deliver(self, message: IncomingMessage) -> Deferred[list[DeliveredCopy]]:
        d: Deferred[list[DeliveredCopy]] = Deferred()
        self.held.append((message, d))
        return d

    def commit(self) -> None:
        message, d = self.held.pop(0)
        super().deliver(message).chainDeferred(d)

    def refuse(self, error: Exception | None = None) -> None:
        """
        Fail the oldest held delivery with C{error}, by default a
        L{StorageUnavailable}.
        """
        _, d = self.held.pop(0)
        d.errback(StorageUnavailable("disk full") if error is None else error)


class Session:
    """
    One L{TempmailESMTP} connected to a L{StringTransport}.
    """

    def __init__(
        self,
        store: MemoryMailStore | None = None,
        limits: SMTPLimits | None = None,
        reject_non_domain: bool = False,
        clock: Clock | None = None,
        budget: MemoryBudget | None = None,
        spool_directory: pathlib.Path | None = None,
    ) -> None:
        self.store = MemoryMailStore() if store is None else store
        self.clock = Clock() if clock is None else clock
        self.delivery = MailDelivery(self.store, DOMAIN, reject_non_domain, parse=parse_now)
        self.proto = TempmailESMTP(
            self.delivery,
            limits or SMTPLimits(),
            self.clock,
            budget,
            None if spool_directory is None else str(spool_directory),
        )
        self.transport = StringTransport()
        self.proto.makeConnection(self.transport)

    def send(self, data: bytes) -> None:
        self.proto.dataReceived(data)

    def take(self) -> list[bytes]:
        """
        The reply lines written since the last call, without CRLF.
        """
        written = self.transport.value()
        self.transport.clear()
        if not written:
            return []
        assert written.endswith(CRLF), written
        return written[:-2].split(CRLF)

    def command(self, line: bytes) -> list[bytes]:
        self.send(line + CRLF)
        return self.take()

    def start(self, *recipients: bytes, mail_from: bytes = b"<alice@example.org>") -> None:
        """
        Send MAIL, one RCPT per recipient and DATA, expecting success.
        """
        assert self.command(b"MAIL FROM:" + mail_from) == [SENDER_OK]
        for recipient in recipients:
            assert self.command(b"RCPT TO:<" + recipient + b">") == [RECIPIENT_OK]
        assert self.command(b"DATA") == [GO_AHEAD]

    def lose(self) -> None:
        self.proto.connectionLost(Failure(ConnectionDone()))


def body(*lines: bytes) -> bytes:
    """
    Message lines as sent after DATA, with the final dot.
    """
    return b"".join(line + CRLF for line in lines) + b"." + CRLF


def stored(store: MemoryMailStore, mailbox: str) -> list[StoredMessage]:
    page = fired(store.list_messages(mailbox, 100))
    return fired(store.get_messages([s.id for s in page.summaries]))


def raw_of(store: MemoryMailStore, message: StoredMessage) -> bytes:
    raw = fired(store.get_raw(message.summary.id))
    assert raw is not None
    return raw


def without_received(raw: bytes) -> bytes:
    """
    The raw message with our leading C{Received:} header (and its folded
    continuation lines) removed; fails if it does not start with one.
    """
    assert raw.startswith(b"Received: ")
    lines = raw.split(CRLF)
    rest = 1
    while lines[rest].startswith(b"\t"):
        rest += 1
    return CRLF.join(lines[rest:])


SIMPLE = body(b"Subject: hi", b"", b"hello")


# Greeting and EHLO


def test_greeting_uses_domain() -> None:
    session = Session()
    assert session.take() == [b"220 tmp.test ESMTP tempmail"]


def test_ehlo_advertises_extensions() -> None:
    session = Session(limits=SMTPLimits(max_message_size=12345))
    session.take()
    reply = session.command(b"EHLO client.example")
    assert reply[0] == b"250-tmp.test Hello 192.168.1.1, nice to meet you"
    assert all(line.startswith(b"250-") for line in reply[:-1])
    assert reply[-1].startswith(b"250 ")
    keywords = {line[4:] for line in reply[1:]}
    assert {b"SIZE 12345", b"8BITMIME", b"PIPELINING", b"ENHANCEDSTATUSCODES"} <= keywords


# MAIL FROM


def test_mail_size_over_limit_refused_at_once() -> None:
    """
    A declared SIZE over the limit is refused at MAIL time, and no sender
    is recorded.
    """
    session = Session(limits=SMTPLimits(max_message_size=1000))
    session.take()
    assert session.command(b"MAIL FROM:<a@b.example> SIZE=1001") == [
        b"552 5.3.4 Message size exceeds fixed maximum message size"
    ]
    assert session.command(b"RCPT TO:<bob@tmp.test>") == [b"503 5.5.1 Need MAIL before RCPT"]


def test_mail_size_at_limit_accepted() -> None:
    session = Session(limits=SMTPLimits(max_message_size=1000))
    session.take()
    assert session.command(b"MAIL FROM:<a@b.example> SIZE=1000") == [SENDER_OK]


def test_mail_huge_size_refused() -> None:
    """
    A SIZE with thousands of digits is still just "too big": it must not
    blow up int() (Python refuses to convert more than 4300 digits), even
    with the command-line limit raised to let it through.
    """
    session = Session(limits=SMTPLimits(max_message_size=1000, max_command_length=16384))
    session.take()
    assert session.command(b"MAIL FROM:<a@b.example> SIZE=" + b"9" * 5000) == [
        b"552 5.3.4 Message size exceeds fixed maximum message size"
    ]
    assert session.command(b"NOOP") == [b"250 2.0.0 OK"]


@pytest.mark.parametrize("param", [b"SIZE=abc", b"SIZE=", b"SIZE", b"SIZE=-1", b"SIZE=1.5"])
def test_mail_bad_size(param: bytes) -> None:
    session = Session()
    session.take()
    assert session.command(b"MAIL FROM:<a@b.example> " + param) == [
        b"501 5.5.4 SIZE needs a number of bytes"
    ]


def test_mail_unknown_parameter() -> None:
    session = Session()
    session.take()
    assert session.command(b"MAIL FROM:<a@b.example> FOO=bar") == [
        b"555 5.5.4 Unsupported MAIL parameter FOO"
    ]
    # Nothing was recorded: a new MAIL is not "sender already given".
    assert session.command(b"MAIL FROM:<a@b.example>") == [SENDER_OK]


@pytest.mark.parametrize("param", [b"BODY=8BITMIME", b"body=7bit", b"SIZE=10 BODY=8BITMIME"])
def test_mail_body_parameter_accepted(param: bytes) -> None:
    session = Session()
    session.take()
    assert session.command(b"MAIL FROM:<a@b.example> " + param) == [SENDER_OK]


def test_mail_body_binarymime_refused() -> None:
    session = Session()
    session.take()
    assert session.command(b"MAIL FROM:<a@b.example> BODY=BINARYMIME") == [
        b"501 5.5.4 BODY must be 7BIT or 8BITMIME"
    ]


def test_second_mail_refused() -> None:
    session = Session()
    session.take()
    assert session.command(b"MAIL FROM:<a@b.example>") == [SENDER_OK]
    assert session.command(b"MAIL FROM:<c@d.example>") == [b"503 5.5.1 Sender already given"]


def test_null_sender_stored_as_empty() -> None:
    session = Session()
    session.take()
    session.start(b"bob@tmp.test", mail_from=b"<>")
    session.send(SIMPLE)
    assert STORED.match(session.take()[0])
    [message] = stored(session.store, "bob@tmp.test")
    assert message.envelope_from == ""


def test_commands_out_of_order() -> None:
    session = Session()
    session.take()
    assert session.command(b"DATA") == [b"503 5.5.1 Need MAIL before DATA"]
    assert session.command(b"MAIL FROM:<a@b.example>") == [SENDER_OK]
    assert session.command(b"DATA") == [b"503 5.5.1 Need RCPT before DATA"]


# RCPT TO


def test_too_many_recipients() -> None:
    """
    The recipient over C{max_recipients} gets 452; the transaction goes on
    with the ones accepted.
    """
    session = Session(limits=SMTPLimits(max_recipients=2))
    session.take()
    assert session.command(b"MAIL FROM:<a@b.example>") == [SENDER_OK]
    assert session.command(b"RCPT TO:<one@tmp.test>") == [RECIPIENT_OK]
    assert session.command(b"RCPT TO:<two@tmp.test>") == [RECIPIENT_OK]
    assert session.command(b"RCPT TO:<three@tmp.test>") == [b"452 4.5.3 Too many recipients"]
    assert session.command(b"DATA") == [GO_AHEAD]
    session.send(SIMPLE)
    match = STORED.match(session.take()[0])
    assert match is not None
    assert len(match.group(1).split()) == 2
    assert len(stored(session.store, "one@tmp.test")) == 1
    assert len(stored(session.store, "two@tmp.test")) == 1
    assert stored(session.store, "three@tmp.test") == []


def test_duplicate_recipient_stored_once() -> None:
    """
    The same mailbox named three ways is one recipient and one copy.
    """
    session = Session()
    session.take()
    assert session.command(b"MAIL FROM:<a@b.example>") == [SENDER_OK]
    assert session.command(b"RCPT TO:<bob@tmp.test>") == [RECIPIENT_OK]
    assert session.command(b"RCPT TO:<Bob@TMP.TEST>") == [RECIPIENT_OK]
    assert session.command(b"RCPT TO:bob") == [RECIPIENT_OK]
    assert session.command(b"DATA") == [GO_AHEAD]
    session.send(SIMPLE)
    match = STORED.match(session.take()[0])
    assert match is not None
    assert len(match.group(1).split()) == 1
    [message] = stored(session.store, "bob@tmp.test")
    assert message.envelope_to == ("bob@tmp.test",)


def test_reject_non_domain() -> None:
    session = Session(reject_non_domain=True)
    session.take()
    assert session.command(b"MAIL FROM:<a@b.example>") == [SENDER_OK]
    assert session.command(b"RCPT TO:<bob@elsewhere.example>") == [
        b"550 5.1.1 <bob@elsewhere.example>: this server only accepts mail for tmp.test"
    ]
    assert session.command(b"RCPT TO:<bob@tmp.test>") == [RECIPIENT_OK]


def test_other_domains_accepted_by_default() -> None:
    session = Session()
    session.take()
    assert session.command(b"MAIL FROM:<a@b.example>") == [SENDER_OK]
    assert session.command(b"RCPT TO:<bob@elsewhere.example>") == [RECIPIENT_OK]


@pytest.mark.parametrize("path", [b"<>", b"<@tmp.test>", b"<a,b@tmp.test>", b"<bob@bad_domain>"])
def test_invalid_recipient_address(path: bytes) -> None:
    session = Session()
    session.take()
    assert session.command(b"MAIL FROM:<a@b.example>") == [SENDER_OK]
    [reply] = session.command(b"RCPT TO:" + path)
    assert reply.startswith(b"553 5.1.3 Bad recipient address syntax: ")
    assert session.command(b"DATA") == [b"503 5.5.1 Need RCPT before DATA"]


def test_rcpt_parameters_refused() -> None:
    session = Session()
    session.take()
    assert session.command(b"MAIL FROM:<a@b.example>") == [SENDER_OK]
    assert session.command(b"RCPT TO:<bob@tmp.test> NOTIFY=NEVER") == [
        b"555 5.5.4 RCPT parameters are not supported"
    ]


# DATA size


def test_oversize_data_refused_after_final_dot() -> None:
    """
    A message over the limit is read to its end, refused with 552 only at
    the final dot, and the session takes the next message.
    """
    session = Session(limits=SMTPLimits(max_message_size=100))
    session.take()
    session.start(b"bob@tmp.test")
    session.send(b"".join(b"x" * 60 + CRLF for _ in range(3)))
    assert session.take() == []
    session.send(b"." + CRLF)
    assert session.take() == [b"552 5.3.4 Message size exceeds fixed maximum message size"]
    assert stored(session.store, "bob@tmp.test") == []
    session.start(b"bob@tmp.test")
    session.send(SIMPLE)
    assert STORED.match(session.take()[0])
    assert len(stored(session.store, "bob@tmp.test")) == 1


@pytest.mark.parametrize(("length", "accepted"), [(98, True), (99, False)])
def test_data_size_boundary(length: int, accepted: bool) -> None:
    """
    The limit counts each body line with its CRLF: 98 + 2 bytes fit in 100.
    """
    session = Session(limits=SMTPLimits(max_message_size=100))
    session.take()
    session.start(b"bob@tmp.test")
    session.send(body(b"y" * length))
    [reply] = session.take()
    assert (STORED.match(reply) is not None) == accepted
    assert len(stored(session.store, "bob@tmp.test")) == int(accepted)


# Overlong lines


def test_overlong_body_line() -> None:
    """
    An overlong line inside DATA fails the message at its final dot; the
    body lines after it are not read as commands.
    """
    session = Session(limits=SMTPLimits(max_line_length=100))
    session.take()
    session.start(b"bob@tmp.test")
    session.send(
        b"Subject: long" + CRLF
        + CRLF
        + b"A" * 200 + CRLF
        + b"RCPT TO:<x@y.example>" + CRLF
        + b"MAIL FROM:<a@b.example>" + CRLF
        + b"QUIT" + CRLF
    )  # fmt: skip
    assert session.take() == []
    assert not session.transport.disconnecting
    session.send(b"." + CRLF)
    assert session.take() == [b"500 5.5.2 Line too long; message refused"]
    assert stored(session.store, "bob@tmp.test") == []
    assert stored(session.store, "x@y.example") == []
    assert session.command(b"NOOP") == [b"250 2.0.0 OK"]
    session.start(b"bob@tmp.test")
    session.send(SIMPLE)
    assert STORED.match(session.take()[0])


def test_overlong_command_line() -> None:
    session = Session(limits=SMTPLimits(max_line_length=100))
    session.take()
    assert session.command(b"MAIL FROM:<" + b"a" * 200 + b"@b.example>") == [
        b"500 5.5.2 Line too long"
    ]
    assert session.command(b"MAIL FROM:<a@b.example>") == [SENDER_OK]


@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_overlong_command_line_in_chunks(chunk: int) -> None:
    """
    An overlong line that arrives in pieces gets one 500, and the command
    after it is read from its first byte.
    """
    session = Session(limits=SMTPLimits(max_line_length=100))
    session.take()
    data = b"NOOP " + b"z" * 300 + CRLF + b"NOOP" + CRLF
    for i in range(0, len(data), chunk):
        session.send(data[i : i + chunk])
    assert session.take() == [b"500 5.5.2 Line too long", b"250 2.0.0 OK"]


@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_overlong_body_line_in_chunks(chunk: int) -> None:
    session = Session(limits=SMTPLimits(max_line_length=100))
    session.take()
    session.start(b"bob@tmp.test")
    data = b"B" * 300 + CRLF + b"RSET" + CRLF + b"." + CRLF + b"NOOP" + CRLF
    for i in range(0, len(data), chunk):
        session.send(data[i : i + chunk])
    assert session.take() == [b"500 5.5.2 Line too long; message refused", b"250 2.0.0 OK"]
    assert stored(session.store, "bob@tmp.test") == []


@pytest.mark.parametrize("split", ["whole", "before-cr", "between-cr-lf", "bytewise"])
def test_line_of_exactly_max_length(split: str) -> None:
    """
    A line of exactly C{max_line_length} bytes is allowed, wherever the
    chunks happen to split it.
    """
    session = Session(limits=SMTPLimits(max_line_length=100))
    session.take()
    line = b"NOOP " + b"n" * 95
    assert len(line) == 100
    data = line + CRLF
    if split == "whole":
        chunks = [data]
    elif split == "before-cr":
        chunks = [line, CRLF]
    elif split == "between-cr-lf":
        chunks = [line + b"\r", b"\n"]
    else:
        chunks = [data[i : i + 1] for i in range(len(data))]
    for piece in chunks:
        session.send(piece)
    assert session.take() == [b"250 2.0.0 OK"]


def test_line_one_over_max_length_split_between_cr_lf() -> None:
    session = Session(limits=SMTPLimits(max_line_length=100))
    session.take()
    line = b"NOOP " + b"n" * 96
    session.send(line + b"\r")
    session.send(b"\n")
    assert session.take() == [b"500 5.5.2 Line too long"]


# Commit timing and pipelining


def test_250_only_after_commit() -> None:
    store = HeldStore()
    session = Session(store=store)
    session.take()
    session.start(b"bob@tmp.test")
    session.send(SIMPLE)
    assert session.take() == []
    assert len(store.held) == 1
    store.commit()
    [reply] = session.take()
    match = STORED.match(reply)
    assert match is not None
    [message] = stored(store, "bob@tmp.test")
    assert match.group(1) == message.summary.id.encode()


def test_pipelined_commands_wait_for_commit() -> None:
    """
    Commands sent in the same chunk as the final dot are answered after the
    250, in order; the transport is paused meanwhile.
    """
    store = HeldStore()
    session = Session(store=store)
    session.take()
    session.start(b"bob@tmp.test")
    session.send(SIMPLE + b"NOOP\r\nMAIL FROM:<c@d.example>\r\nRCPT TO:<carol@tmp.test>\r\n")
    assert session.take() == []
    assert session.transport.producerState == "paused"
    # Bytes the transport had already read arrive while paused: queued too.
    session.send(b"RSET\r\n")
    assert session.take() == []
    store.commit()
    replies = session.take()
    assert len(replies) == 5
    assert STORED.match(replies[0])
    assert replies[1:] == [b"250 2.0.0 OK", SENDER_OK, RECIPIENT_OK, b"250 2.0.0 Reset"]
    assert session.transport.producerState == "producing"


def test_pipelined_transactions_commit_in_order() -> None:
    """
    A second whole transaction queued behind a pending commit is not even
    started until the first commit is answered.
    """
    store = HeldStore()
    session = Session(store=store)
    session.take()
    session.start(b"bob@tmp.test")
    session.send(
        body(b"Subject: one", b"", b"1")
        + b"MAIL FROM:<c@d.example>\r\nRCPT TO:<carol@tmp.test>\r\nDATA\r\n"
        + body(b"Subject: two", b"", b"2")
    )
    assert session.take() == []
    assert len(store.held) == 1
    store.commit()
    replies = session.take()
    assert len(replies) == 4
    assert STORED.match(replies[0])
    assert replies[1:] == [SENDER_OK, RECIPIENT_OK, GO_AHEAD]
    assert len(store.held) == 1
    # Nothing more is queued behind the second commit, so there is no
    # reason to stop reading (a client that waits costs no pause).
    assert session.transport.producerState == "producing"
    store.commit()
    [reply] = session.take()
    assert STORED.match(reply)
    assert session.transport.producerState == "producing"
    [first] = stored(store, "bob@tmp.test")
    [second] = stored(store, "carol@tmp.test")
    assert (first.summary.subject, second.summary.subject) == ("one", "two")


def test_many_pipelined_transactions_with_a_synchronous_store() -> None:
    """
    With a store that answers at once (like L{MemoryMailStore}), a client
    that sends many whole transactions in one chunk without waiting for 354
    gets every one stored and answered: the commit-wait must not recurse
    once per message.
    """
    session = Session()
    session.take()
    transaction = b"MAIL FROM:<a@b.example>\r\nRCPT TO:<bob@tmp.test>\r\nDATA\r\n" + SIMPLE
    session.send(transaction * 300)
    replies = session.take()
    assert sum(1 for r in replies if STORED.match(r)) == 300
    assert fired(session.store.list_messages("bob@tmp.test", 1)).total == 300


def test_storage_failure() -> None:
    """
    A store that is unavailable gets 451, so the sender retries; the error
    is logged as a warning with its text.
    """
    store = MemoryMailStore()
    store.fail_writes = True
    session = Session(store=store)
    session.take()
    session.start(b"bob@tmp.test", b"carol@tmp.test")
    with capturedLogs() as events:
        session.send(SIMPLE)
    assert session.take() == [RETRY]
    [warning] = [e for e in events if e["log_level"] == LogLevel.warn]
    assert "the store refuses writes" in formatEvent(warning)
    assert stored(store, "bob@tmp.test") == []
    assert stored(store, "carol@tmp.test") == []
    store.fail_writes = False
    session.start(b"bob@tmp.test")
    session.send(SIMPLE)
    assert STORED.match(session.take()[0])


def test_storage_failure_after_wait() -> None:
    """
    A commit that fails late gets 451, then the queued commands run.
    """
    store = HeldStore()
    session = Session(store=store)
    session.take()
    session.start(b"bob@tmp.test")
    session.send(SIMPLE + b"NOOP\r\n")
    assert session.take() == []
    store.refuse()
    assert session.take() == [RETRY, b"250 2.0.0 OK"]
    assert session.transport.producerState == "producing"
    assert stored(store, "bob@tmp.test") == []


def test_internal_error_after_data(logged_errors: LoggedErrors) -> None:
    """
    A failure other than L{StorageUnavailable} is a bug: retrying would fail
    the same way, so the reply is 554 (give up), the traceback is logged,
    and the session goes on.
    """
    store = HeldStore()
    session = Session(store=store)
    session.take()
    session.start(b"bob@tmp.test")
    session.send(SIMPLE + b"NOOP\r\n")
    bug = KeyError("no such column")
    store.refuse(bug)
    assert session.take() == [INTERNAL_ERROR, b"250 2.0.0 OK"]
    [event] = logged_errors.events
    assert event["log_failure"].value is bug
    assert logged_errors.take() == ["A message was not stored because of an internal error"]
    session.start(b"bob@tmp.test")
    session.send(SIMPLE)
    store.commit()
    assert STORED.match(session.take()[0])


def test_parser_failure_after_data(logged_errors: LoggedErrors) -> None:
    """
    An exception from parsing, before the store is reached, is an internal
    error too: 554, and nothing is stored.
    """
    store = MemoryMailStore()

    def broken(raw: bytes) -> ParsedMessage:
        raise ValueError("parser bug")

    delivery = MailDelivery(
        store, DOMAIN, parse=lambda raw: maybeDeferred(broken, raw), inline_limit=0
    )
    proto = TempmailESMTP(delivery, SMTPLimits(), Clock())
    transport = StringTransport()
    proto.makeConnection(transport)
    transport.clear()
    proto.dataReceived(b"MAIL FROM:<a@b.example>\r\nRCPT TO:<bob@tmp.test>\r\nDATA\r\n" + SIMPLE)
    assert transport.value().split(CRLF)[-2] == INTERNAL_ERROR
    [event] = logged_errors.events
    assert event["log_failure"].check(ValueError)
    # The traceback of where the parser raised is kept.
    assert event["log_failure"].getTracebackObject() is not None
    logged_errors.take()
    assert stored(store, "bob@tmp.test") == []


# What is stored


def test_three_recipients_three_copies_byte_exact() -> None:
    """
    One message to three recipients gives three copies, each the raw bytes
    with our Received: header first and the rest exactly as sent.
    """
    clock = Clock()
    clock.advance(NOW)
    session = Session(clock=clock)
    session.take()
    session.command(b"EHLO client.example")
    recipients = [b"bob@tmp.test", b"carol@tmp.test", b"dave@other.example"]
    session.start(*recipients, mail_from=b"<alice@example.org>")
    lines = [
        b"From: Alice <alice@example.org>",
        b"Subject: =?utf-8?q?caf=C3=A9?=",
        b"X-Folded: one",
        b" two  ",
        b"Content-Type: text/plain; charset=utf-8",
        b"Content-Transfer-Encoding: 8bit",
        b"",
        b"caf\xc3\xa9 \xff\xfe raw bytes\ttab  ",
        b"",
        b"",
        b"end",
    ]
    session.send(body(*lines))
    match = STORED.match(session.take()[0])
    assert match is not None
    assert len(match.group(1).split()) == 3
    expected_header = (
        b"Received: from client.example ([192.168.1.1])\r\n"
        b"\tby tmp.test (tempmail) with ESMTP;\r\n"
        b"\t" + NOW_TEXT + b"\r\n"
    )
    for recipient in recipients:
        [message] = stored(session.store, recipient.decode())
        raw = raw_of(session.store, message)
        assert raw == expected_header + b"".join(line + CRLF for line in lines)
        assert message.envelope_from == "alice@example.org"
        assert message.envelope_to == ("bob@tmp.test", "carol@tmp.test", "dave@other.example")
        assert message.summary.received_at.timestamp() == NOW


def test_received_header_for_one_recipient() -> None:
    clock = Clock()
    clock.advance(NOW)
    session = Session(clock=clock)
    session.take()
    session.start(b"bob@tmp.test")
    session.send(SIMPLE)
    [message] = stored(session.store, "bob@tmp.test")
    raw = raw_of(session.store, message)
    assert raw.startswith(
        b"Received: from unknown ([192.168.1.1])\r\n"
        b"\tby tmp.test (tempmail) with ESMTP\r\n"
        b"\tfor <bob@tmp.test>;\r\n"
        b"\t" + NOW_TEXT + b"\r\n"
        b"Subject: hi\r\n"
    )


def test_helo_name_cannot_inject_header_lines() -> None:
    """
    A bare LF (or other control byte) in the EHLO name would otherwise start
    a new header line inside our Received: header: the name is refused, and
    the header says C{unknown}.
    """
    session = Session()
    session.take()
    assert session.command(b"EHLO evil\nX-Injected: yes\tfor") == [
        b"501 5.5.4 Syntax: EHLO domain or address literal"
    ]
    session.start(b"bob@tmp.test")
    session.send(SIMPLE)
    [message] = stored(session.store, "bob@tmp.test")
    raw = raw_of(session.store, message)
    assert raw.startswith(b"Received: from unknown ([192.168.1.1])\r\n")
    assert b"X-Injected" not in raw


def test_bare_lf_becomes_crlf() -> None:
    session = Session()
    session.take()
    session.start(b"bob@tmp.test")
    session.send(b"Subject: lf\r\n\r\none\ntwo\nthree\r\n.\r\n")
    assert STORED.match(session.take()[0])
    [message] = stored(session.store, "bob@tmp.test")
    assert without_received(raw_of(session.store, message)) == (
        b"Subject: lf\r\n\r\none\r\ntwo\r\nthree\r\n"
    )


def test_bare_lf_dot_does_not_end_data() -> None:
    """
    Only CRLF.CRLF ends DATA: C{\\n.\\n} is body (no SMTP smuggling).
    """
    session = Session()
    session.take()
    session.start(b"bob@tmp.test")
    session.send(b"Subject: x\r\n\r\nbody\n.\nMAIL FROM:<evil@example.org>\r\n")
    assert session.take() == []
    session.send(b".\r\n")
    assert STORED.match(session.take()[0])
    [message] = stored(session.store, "bob@tmp.test")
    assert b"MAIL FROM:<evil@example.org>" in raw_of(session.store, message)


def test_dot_unstuffing() -> None:
    session = Session()
    session.take()
    session.start(b"bob@tmp.test")
    session.send(body(b"Subject: dots", b"", b"..", b"..leading", b"...two", b"mid.dle."))
    assert STORED.match(session.take()[0])
    [message] = stored(session.store, "bob@tmp.test")
    assert without_received(raw_of(session.store, message)) == (
        b"Subject: dots\r\n\r\n.\r\n.leading\r\n..two\r\nmid.dle.\r\n"
    )


# Idle timeout


def test_idle_timeout() -> None:
    session = Session(limits=SMTPLimits(timeout=30))
    session.take()
    session.clock.advance(29.9)
    assert session.take() == []
    assert not session.transport.disconnecting
    session.clock.advance(0.2)
    assert session.take() == [b"421 4.4.2 tmp.test Idle for too long, closing connection"]
    assert session.transport.disconnecting


def test_activity_resets_idle_timeout() -> None:
    session = Session(limits=SMTPLimits(timeout=30))
    session.take()
    session.clock.advance(20)
    assert session.command(b"NOOP") == [b"250 2.0.0 OK"]
    session.clock.advance(20)
    assert session.take() == []
    assert not session.transport.disconnecting
    session.clock.advance(10.1)
    assert session.take() == [b"421 4.4.2 tmp.test Idle for too long, closing connection"]


def test_connection_lost_cancels_idle_timeout() -> None:
    session = Session(limits=SMTPLimits(timeout=30))
    assert len(session.clock.getDelayedCalls()) == 1
    session.lose()
    assert session.clock.getDelayedCalls() == []


def test_idle_timeout_while_commit_pending() -> None:
    """
    Whatever the idle timer does while the server itself is busy committing,
    nothing may follow a 421: the client has been told the session is over.
    """
    store = HeldStore()
    session = Session(store=store, limits=SMTPLimits(timeout=30))
    session.take()
    session.start(b"bob@tmp.test")
    session.send(SIMPLE)
    session.clock.advance(31)
    store.commit()
    replies = session.take()
    assert replies, "neither 250 nor 421 was sent"
    closing = [i for i, line in enumerate(replies) if line.startswith(b"421 ")]
    assert closing in ([], [len(replies) - 1]), replies


def test_idle_timer_restarts_after_the_reply() -> None:
    """
    The idle timer is off while the client waits for the commit, and runs
    again from the reply on.
    """
    store = HeldStore()
    session = Session(store=store, limits=SMTPLimits(timeout=30))
    session.take()
    session.start(b"bob@tmp.test")
    session.send(SIMPLE)
    session.clock.advance(100)
    assert session.take() == []
    store.commit()
    assert STORED.match(session.take()[0])
    session.clock.advance(29)
    assert not session.transport.disconnecting
    session.clock.advance(1.1)
    assert session.take() == [b"421 4.4.2 tmp.test Idle for too long, closing connection"]


def test_connection_lost_while_commit_pending() -> None:
    """
    A client that hangs up after the final dot does not stop the commit, and
    its late result is handled quietly.
    """
    store = HeldStore()
    session = Session(store=store)
    session.take()
    session.start(b"bob@tmp.test")
    session.send(SIMPLE + b"NOOP\r\n")
    session.lose()
    closed = session.proto.whenClosed()
    assert closed.called
    store.commit()
    assert len(stored(store, "bob@tmp.test")) == 1
    # The queued NOOP was dropped with the connection.
    assert b"250 2.0.0 OK" not in session.take()


def test_quit() -> None:
    session = Session()
    session.take()
    session.send(b"QUIT\r\nNOOP\r\n")
    assert session.take() == [b"221 2.0.0 Bye"]
    assert session.transport.disconnecting


# The factory


def connect(factory: SMTPServerFactory) -> tuple[StringTransport, Protocol]:
    transport = StringTransport()
    proto = factory.buildProtocol(IPv4Address("TCP", "192.0.2.1", 40000))
    proto.makeConnection(transport)
    return transport, proto


def make_factory(
    store: MemoryMailStore | None = None, max_connections: int = 200
) -> SMTPServerFactory:
    delivery = MailDelivery(MemoryMailStore() if store is None else store, DOMAIN, parse=parse_now)
    return SMTPServerFactory(delivery, SMTPLimits(), Clock(), max_connections=max_connections)


def test_factory_refuses_connections_over_limit() -> None:
    factory = make_factory(max_connections=2)
    first, first_proto = connect(factory)
    second, _ = connect(factory)
    assert first.value().startswith(b"220 ")
    assert second.value().startswith(b"220 ")
    third, third_proto = connect(factory)
    assert not isinstance(third_proto, TempmailESMTP)
    assert third.value() == b"421 4.7.0 tmp.test Too many connections, try again later\r\n"
    assert third.disconnecting
    assert len(factory.sessions) == 2
    # Once a session ends, there is room again.
    assert isinstance(first_proto, TempmailESMTP)
    first_proto.connectionLost(Failure(ConnectionDone()))
    assert len(factory.sessions) == 1
    fourth, fourth_proto = connect(factory)
    assert isinstance(fourth_proto, TempmailESMTP)
    assert fourth.value() == b"220 tmp.test ESMTP tempmail\r\n"


def test_factory_shutdown_idle_sessions() -> None:
    """
    Every idle session is told 421 and closed; the shutdown Deferred fires
    once all connections have actually closed.
    """
    factory = make_factory()
    transport, proto = connect(factory)
    other_transport, other_proto = connect(factory)
    assert isinstance(proto, TempmailESMTP)
    transport.clear()
    other_transport.clear()
    done = factory.shutdown()
    for t in (transport, other_transport):
        assert t.value() == b"421 4.3.2 tmp.test Service shutting down\r\n"
        assert t.disconnecting
    assert not done.called
    proto.connectionLost(Failure(ConnectionDone()))
    assert not done.called
    other_proto.connectionLost(Failure(ConnectionDone()))
    assert done.called
    assert factory.sessions == set()


def test_factory_shutdown_with_no_sessions() -> None:
    assert make_factory().shutdown().called


def test_factory_shutdown_waits_for_pending_commit() -> None:
    """
    A session waiting for its commit gets 250 first, then 421.
    """
    store = HeldStore()
    factory = make_factory(store)
    transport, proto = connect(factory)
    assert isinstance(proto, TempmailESMTP)
    proto.dataReceived(b"MAIL FROM:<a@b.example>\r\nRCPT TO:<bob@tmp.test>\r\nDATA\r\n" + SIMPLE)
    transport.clear()
    done = factory.shutdown()
    assert transport.value() == b""
    assert not transport.disconnecting
    store.commit()
    lines = transport.value().split(CRLF)
    assert len(lines) == 3 and lines[2] == b""
    assert STORED.match(lines[0])
    assert lines[1] == b"421 4.3.2 tmp.test Service shutting down"
    assert transport.disconnecting
    assert not done.called
    proto.connectionLost(Failure(ConnectionDone()))
    assert done.called
    assert len(stored(store, "bob@tmp.test")) == 1


def test_factory_shutdown_with_pipelined_commands_queued() -> None:
    """
    Shutdown while a commit is pending and the next transaction's commands
    are queued: the 250 comes first, 421 is the last reply, and no second
    commit is started.
    """
    store = HeldStore()
    factory = make_factory(store)
    transport, proto = connect(factory)
    assert isinstance(proto, TempmailESMTP)
    proto.dataReceived(
        b"MAIL FROM:<a@b.example>\r\nRCPT TO:<bob@tmp.test>\r\nDATA\r\n"
        + SIMPLE
        + b"MAIL FROM:<c@d.example>\r\nRCPT TO:<carol@tmp.test>\r\nDATA\r\n"
    )
    transport.clear()
    factory.shutdown()
    store.commit()
    lines = transport.value().split(CRLF)
    assert lines[-1] == b""
    assert STORED.match(lines[0])
    assert lines[-2] == b"421 4.3.2 tmp.test Service shutting down"
    assert transport.disconnecting
    assert store.held == []
    proto.dataReceived(body(b"Subject: late"))
    assert transport.value().split(CRLF)[-2] == b"421 4.3.2 tmp.test Service shutting down"
    assert store.held == []


def test_factory_shutdown_after_quit_sends_nothing() -> None:
    factory = make_factory()
    transport, proto = connect(factory)
    assert isinstance(proto, TempmailESMTP)
    proto.dataReceived(b"QUIT\r\n")
    transport.clear()
    factory.shutdown()
    assert transport.value() == b""


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b"AUTH", b"502 5.5.1 AUTH is not supported here"),
        (b"AUTH PLAIN AGJvYgBwdw==", b"502 5.5.1 AUTH is not supported here"),
        (b"STARTTLS", b"454 4.7.0 TLS not available"),
        (b"\xff\xfe HELLO", b"502 5.5.1 Command not implemented"),
    ],
)
def test_odd_commands_get_replies_not_disconnects(line: bytes, reply: bytes) -> None:
    session = Session()
    session.take()
    assert session.command(line) == [reply]
    assert session.command(b"NOOP") == [b"250 2.0.0 OK"]


def test_recipient_that_is_not_utf8_is_refused() -> None:
    session = Session()
    session.take()
    assert session.command(b"MAIL FROM:<a@b.example>") == [SENDER_OK]
    assert session.command(b"RCPT TO:<\xff@tmp.test>") == [
        b"553 5.1.3 The address is not valid UTF-8"
    ]


# Memory: spooling and the budget

NO_MEMORY = b"452 4.3.1 Insufficient system storage; try again later"


def large_body(size: int) -> tuple[bytes, bytes]:
    """
    (what is sent after DATA, what is stored after the Received: header)
    for a message of about C{size} bytes with dot-stuffed lines.
    """
    lines = [b"Subject: large", b""] + [b"..%07d line of text" % i for i in range(size // 25)]
    sent = body(*lines)
    return sent, b"".join(
        line[1:] + CRLF if line.startswith(b".") else line + CRLF for line in lines
    )


@pytest.mark.parametrize("chunk", [1000, 65536])
def test_a_large_message_is_spooled_and_stored_byte_for_byte(
    tmp_path: pathlib.Path, chunk: int
) -> None:
    budget = MemoryBudget(10 * 1024 * 1024)
    store = HeldStore()
    session = Session(store=store, budget=budget, spool_directory=tmp_path)
    session.take()
    session.start(b"bob@tmp.test")
    sent, kept = large_body(3 * SPOOL_AFTER)
    for start in range(0, len(sent), chunk):
        session.send(sent[start : start + chunk])
    # Read back whole to be stored, and held against the budget until the
    # commit is answered; the spool file is gone.
    ((message, _),) = store.held
    assert message.raw.endswith(CRLF + kept)
    assert budget.held == len(message.raw)
    assert list(tmp_path.iterdir()) == []
    store.commit()
    assert STORED.match(session.take()[0])
    assert budget.held == 0


def test_over_the_budget_a_message_is_refused_with_452_and_nothing_is_held() -> None:
    budget = MemoryBudget(2 * SPOOL_AFTER)
    first, second = HeldStore(), HeldStore()
    one = Session(store=first, budget=budget)
    two = Session(store=second, budget=budget)
    for session in (one, two):
        session.take()
        session.start(b"bob@tmp.test")
    big, _ = large_body(int(1.5 * SPOOL_AFTER))
    one.send(big)
    assert len(first.held) == 1 and budget.held > SPOOL_AFTER
    # The second message does not fit beside the first, waiting for its
    # commit: 452, and the session goes on.
    two.send(big)
    assert two.take() == [NO_MEMORY]
    assert second.held == []
    assert budget.held == len(first.held[0][0].raw)
    first.commit()
    assert STORED.match(one.take()[0])
    assert budget.held == 0
    assert two.command(b"MAIL FROM:<a@b.example>") == [SENDER_OK]


def test_a_used_up_budget_refuses_new_transactions() -> None:
    budget = MemoryBudget(100)
    session = Session(budget=budget)
    session.take()
    budget.hold(100)
    assert session.command(b"MAIL FROM:<a@b.example>") == [NO_MEMORY]
    budget.release(100)
    assert session.command(b"MAIL FROM:<a@b.example>") == [SENDER_OK]


def test_a_spool_that_cannot_be_written_is_answered_452(tmp_path: pathlib.Path) -> None:
    # A spool directory that cannot take the file stands for a full disk.
    budget = MemoryBudget(10 * 1024 * 1024)
    store = HeldStore()
    session = Session(store=store, budget=budget, spool_directory=tmp_path / "gone")
    session.take()
    session.start(b"bob@tmp.test")
    big, _ = large_body(3 * SPOOL_AFTER)
    session.send(big)
    assert session.take() == [NO_MEMORY]
    assert store.held == []
    assert budget.held == 0
    assert session.command(b"MAIL FROM:<a@b.example>") == [SENDER_OK]


def test_a_refused_or_dropped_message_holds_nothing(tmp_path: pathlib.Path) -> None:
    budget = MemoryBudget(10 * 1024 * 1024)
    session = Session(
        limits=SMTPLimits(max_message_size=2 * SPOOL_AFTER),
        budget=budget,
        spool_directory=tmp_path,
    )
    session.take()
    session.start(b"bob@tmp.test")
    big, _ = large_body(3 * SPOOL_AFTER)
    session.send(big)
    assert session.take() == [b"552 5.3.4 Message size exceeds fixed maximum message size"]
    assert budget.held == 0
    session.start(b"bob@tmp.test")
    session.send(big[: SPOOL_AFTER + 1000])
    session.proto.connectionLost()
    assert budget.held == 0
    assert list(tmp_path.iterdir()) == []
