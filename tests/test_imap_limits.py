"""
The IMAP factory's limits: connections in total and per address, and the
timeout before login.
"""

from __future__ import annotations

from typing import Any

from twisted.cred.portal import Portal
from twisted.internet.address import IPv4Address
from twisted.internet.defer import succeed
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from tempmail.imap.account import AccessChecker, MailRealm
from tempmail.imap.append import Appender
from tempmail.imap.factory import IMAPLimits, IMAPServerFactory
from tempmail.parsing import parse_message
from tempmail.testing import MemoryMailStore, RecordingEventHub, inline_access


def factory(clock: Clock, **limits: float) -> IMAPServerFactory:
    store = MemoryMailStore()
    access = inline_access(store, clock)
    portal = Portal(MailRealm(store, access, RecordingEventHub()))
    portal.registerChecker(AccessChecker(access))
    appender = Appender(lambda raw: succeed(parse_message(raw)), clock)
    return IMAPServerFactory(portal, IMAPLimits(**limits), clock, appender)  # type: ignore[arg-type]


def connect(f: IMAPServerFactory, host: str) -> tuple[Any, StringTransport]:
    address = IPv4Address("TCP", host, 1000)
    protocol = f.buildProtocol(address)
    transport = StringTransport(peerAddress=address)
    protocol.makeConnection(transport)
    return protocol, transport


def test_per_ip_and_total_limits() -> None:
    clock = Clock()
    f = factory(clock, max_connections=3, max_connections_per_ip=2)
    first, _ = connect(f, "192.0.2.1")
    connect(f, "192.0.2.1")
    _, refused = connect(f, "192.0.2.1")
    assert refused.value().startswith(b"* BYE [UNAVAILABLE]") and refused.disconnecting
    _, other = connect(f, "192.0.2.2")
    assert other.value().startswith(b"* OK")
    _, full = connect(f, "192.0.2.3")
    assert full.value().startswith(b"* BYE")
    first.connectionLost(None)
    _, again = connect(f, "192.0.2.3")
    assert again.value().startswith(b"* OK")


def test_login_timeout_closes_a_silent_client() -> None:
    clock = Clock()
    f = factory(clock, login_timeout=10)
    protocol, transport = connect(f, "192.0.2.1")
    clock.advance(9)
    assert not transport.disconnecting
    clock.advance(2)
    assert transport.disconnecting and b"* BYE" in transport.value()
    protocol.connectionLost(None)
    assert not f.sessions


def test_literal_limit_is_bad_not_a_drop() -> None:
    clock = Clock()
    f = factory(clock, max_literal=100)
    protocol, transport = connect(f, "192.0.2.1")
    transport.clear()
    protocol.dataReceived(b"a LOGIN {1000}\r\n")
    assert transport.value().startswith(b"a BAD") and not transport.disconnecting
    protocol.connectionLost(None)
    clock.advance(3600)


def test_an_overlong_line_is_bad_not_a_drop() -> None:
    clock = Clock()
    f = factory(clock, max_line_length=100)
    protocol, transport = connect(f, "192.0.2.1")
    transport.clear()
    # The whole line at once, with the next command behind it.
    protocol.dataReceived(b"a NOOP " + b"x" * 200 + b"\r\nb NOOP\r\n")
    clock.advance(0)
    assert transport.value() == (
        b"a BAD command line longer than 100 bytes\r\nb OK NOOP completed\r\n"
    )
    transport.clear()
    # A line that arrives in pieces is skipped as it comes.
    protocol.dataReceived(b"c NOOP " + b"y" * 150)
    protocol.dataReceived(b"y" * 150)
    assert transport.value() == b""
    protocol.dataReceived(b"yy\r\nd NOOP\r\n")
    assert transport.value() == (
        b"c BAD command line longer than 100 bytes\r\nd OK NOOP completed\r\n"
    )
    assert not transport.disconnecting
    protocol.connectionLost(None)
