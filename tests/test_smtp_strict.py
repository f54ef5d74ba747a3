"""
Unit tests of SMTP command strictness (line length, HELO names, paths) and
of STARTTLS (the injection fix, the state reset, TLS required) on Twisted's
L{StringTransport}.
"""

from __future__ import annotations

import pytest

from tempmail.received import tls_of
from tempmail.smtp.commands import Reply, command_too_long, parse_mail, parse_rcpt, valid_helo
from tempmail.smtp.limits import SMTPLimits
from tempmail.smtp.protocol import TempmailESMTP
from tests.support import TLSStringTransport
from tests.test_smtp_protocol import SENDER_OK, SIMPLE, Session, raw_of, stored

TOO_LONG = b"500 5.5.2 Line too long"
BAD_HELO = b"501 5.5.4 Syntax: EHLO domain or address literal"


class TLSSession(Session):
    """
    A L{Session} on a L{TLSStringTransport}, with a context factory.
    """

    def __init__(self, require_tls: bool = False) -> None:
        super().__init__()
        self.context_factory = object()
        self.proto = TempmailESMTP(
            self.delivery,
            SMTPLimits(),
            self.clock,
            context_factory=self.context_factory,
            require_tls=require_tls,
        )
        self.tls_transport = TLSStringTransport()
        self.transport = self.tls_transport
        self.proto.makeConnection(self.transport)
        self.take()


# Command-line length


def test_command_line_limit_counts_crlf() -> None:
    assert not command_too_long(b"x" * 510, 512)
    assert command_too_long(b"x" * 511, 512)


def test_mail_line_may_carry_its_parameters() -> None:
    line = b"MAIL FROM:<" + b"a" * 480 + b"@b.example> SIZE=1000 BODY=8BITMIME"
    assert len(line) > 510
    assert not command_too_long(line, 512)
    assert command_too_long(b"RCPT TO:<" + b"a" * 510 + b">", 512)


def test_long_command_line_refused_in_step() -> None:
    """
    A 2,000-byte MAIL line gets 500 and nothing of it is read as a command;
    the session carries on with the next line.
    """
    session = Session()
    session.take()
    long_mail = b"MAIL FROM:<" + b"a" * 2000 + b"@b.example>"
    assert session.command(long_mail) == [TOO_LONG]
    assert session.command(b"EHLO " + b"a" * 2000) == [TOO_LONG]
    assert session.command(b"MAIL FROM:<a@b.example>") == [SENDER_OK]


def test_long_line_split_across_reads_refused_once() -> None:
    session = Session()
    session.take()
    session.send(b"NOOP " + b"x" * 300)
    session.send(b"x" * 300 + b"\r\nNOOP\r\n")
    assert session.take() == [TOO_LONG, b"250 2.0.0 OK"]


def test_command_limit_is_configurable() -> None:
    session = Session(limits=SMTPLimits(max_command_length=1000))
    session.take()
    assert session.command(b"NOOP " + b"x" * 900) == [b"250 2.0.0 OK"]


# HELO and EHLO


@pytest.mark.parametrize(
    "name",
    [b"mail.example.org", b"localhost", b"[192.0.2.1]", b"[IPv6:2001:db8::1]", b"host_1.example."],
)
def test_valid_helo(name: bytes) -> None:
    assert valid_helo(name)
    session = Session()
    session.take()
    assert session.command(b"EHLO " + name)[0].startswith(b"250-tmp.test Hello")


@pytest.mark.parametrize(
    "name",
    [
        b"",
        b"bad\x00name",
        b"bad\x07name",
        b"b\xc3\xa4d.example",
        b"two words",
        b"-leading.example",
        b"a..b",
        b"[not an address]",
        b"x" * 64 + b".example",
    ],
)
@pytest.mark.parametrize("command", [b"HELO", b"EHLO"])
def test_invalid_helo_refused(command: bytes, name: bytes) -> None:
    session = Session()
    session.take()
    assert session.command(command + b" " + name) == [BAD_HELO]


# MAIL and RCPT paths


@pytest.mark.parametrize(
    "rest", [b"FROM:<a\x00b@example.org>", b"FROM:<a@example.org>\x01", b"FROM:<a\x7f@b.example>"]
)
def test_mail_control_characters(rest: bytes) -> None:
    assert parse_mail(rest, 1000) == Reply(
        501, b"5.5.4 Control characters are not allowed in a path"
    )


@pytest.mark.parametrize("rest", [b"FROM:<alice>", b"FROM:<alice@>", b"FROM:<@example.org>"])
def test_mail_malformed_sender(rest: bytes) -> None:
    assert parse_mail(rest, 1000) == Reply(553, b"5.1.7 Bad sender address syntax")


def test_mail_source_route_ignored() -> None:
    assert parse_mail(b"FROM:<@relay.example:alice@example.org>", 1000) == "alice@example.org"


def test_rcpt_control_characters() -> None:
    assert parse_rcpt(b"TO:<bob\x00@tmp.test>") == Reply(
        501, b"5.5.4 Control characters are not allowed in a path"
    )


# STARTTLS


def test_starttls_discards_pipelined_commands() -> None:
    """
    C{STARTTLS} and C{RSET} in one packet: 220, TLS starts, and RSET is
    never answered, neither before nor after the handshake.
    """
    session = TLSSession()
    session.command(b"EHLO client.example")
    session.send(b"STARTTLS\r\nRSET\r\nMAIL FROM:<injected@example.org>\r\n")
    assert session.take() == [b"220 2.0.0 Ready to start TLS"]
    assert session.tls_transport.tls is session.context_factory
    # The next bytes come from inside TLS.
    assert session.command(b"NOOP") == [b"250 2.0.0 OK"]


def test_starttls_resets_the_session() -> None:
    """
    RFC 3207: a sender given before STARTTLS is forgotten, and EHLO must
    come again before MAIL.
    """
    session = TLSSession()
    session.command(b"EHLO client.example")
    assert session.command(b"MAIL FROM:<a@b.example>") == [SENDER_OK]
    assert session.command(b"STARTTLS") == [b"220 2.0.0 Ready to start TLS"]
    assert session.command(b"MAIL FROM:<a@b.example>") == [
        b"503 5.5.1 Send EHLO again after STARTTLS"
    ]
    ehlo = session.command(b"EHLO client.example")
    assert b"250-STARTTLS" not in ehlo
    assert session.command(b"MAIL FROM:<a@b.example>") == [SENDER_OK]


def test_starttls_twice_refused() -> None:
    session = TLSSession()
    session.command(b"STARTTLS")
    assert session.command(b"STARTTLS") == [b"454 4.7.0 TLS not available"]


def test_starttls_without_tls_configured() -> None:
    session = Session()
    session.take()
    assert b"250-STARTTLS" not in session.command(b"EHLO client.example")
    assert session.command(b"STARTTLS") == [b"454 4.7.0 TLS not available"]


def test_require_tls_refuses_mail_in_plain_text() -> None:
    session = TLSSession(require_tls=True)
    assert b"250-STARTTLS" in session.command(b"EHLO client.example")
    assert session.command(b"MAIL FROM:<a@b.example>") == [
        b"530 5.7.0 Must issue a STARTTLS command first"
    ]
    session.command(b"STARTTLS")
    session.command(b"EHLO client.example")
    assert session.command(b"MAIL FROM:<a@b.example>") == [SENDER_OK]


def test_received_header_records_tls() -> None:
    session = TLSSession()
    session.command(b"STARTTLS")
    session.command(b"EHLO client.example")
    session.start(b"bob@tmp.test")
    session.send(SIMPLE)
    [message] = stored(session.store, "bob@tmp.test")
    raw = raw_of(session.store, message)
    assert raw.startswith(
        b"Received: from client.example ([192.168.1.1])\r\n"
        b"\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\r\n"
        b"\tby tmp.test (tempmail) with ESMTPS\r\n"
    )
    assert tls_of(message.headers) == {"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384"}


def test_tls_of_plain_and_foreign_headers() -> None:
    ours_plain = "from a ([1.2.3.4]) by tmp.test (tempmail) with ESMTP; Tue, 1 Jan 2030"
    foreign = "from a (using TLSv1.3 with cipher X) by mx.example (Postfix) with ESMTPS; x"
    assert tls_of((("Received", ours_plain),)) is None
    assert tls_of((("Received", foreign),)) is None
    assert tls_of((("Subject", "hi"),)) is None
