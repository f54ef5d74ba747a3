"""
An IMAP session on a C{StringTransport} over the in-memory store, for the
protocol tests.
"""

from __future__ import annotations

from collections.abc import Iterator

from twisted.cred.portal import Portal
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock

from tempmail.imap.account import AccessChecker, MailRealm
from tempmail.imap.append import Appender
from tempmail.imap.server import TempmailIMAPServer
from tempmail.parsing import parse_message
from tempmail.publishing import PublishingMailStore
from tempmail.testing import MemoryMailStore, RecordingEventHub, inline_access
from tests.support import TLSStringTransport, fired, incoming

BOX = "bob@tempmail.local"
MAX_APPEND = 4096
RAW = (
    "From: Alice <alice@sender.test>\r\nTo: bob@tempmail.local\r\n"
    "Subject: Grüße\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n\r\nhello\r\n"
).encode()


def run_now(steps: Iterator[object]) -> Deferred[None]:
    """
    Twisted's writing scheduler, without the reactor: every step at once,
    waiting only where a step is a Deferred not fired yet (a literal being
    produced), so the bytes come out in order.
    """
    done: Deferred[None] = Deferred()

    def go(_: object = None) -> None:
        for step in steps:
            if isinstance(step, Deferred) and not step.called:
                step.addCallback(go)
                return
        done.callback(None)

    go()
    return done


def claim(s: Session, password: str = "right-password") -> None:
    fired(Deferred.fromCoroutine(s.access.claim(BOX, password)))


class Session:
    def __init__(
        self,
        allow_unclaimed: bool = True,
        context_factory: object = None,
        allow_plaintext_auth: bool = True,
        beside: Session | None = None,
    ) -> None:
        """
        @param beside: another session whose store, hub and realm this one
            shares (a second connection to the same daemon).
        """
        if beside is None:
            self.clock = Clock()
            self.hub = RecordingEventHub()
            self.memory = MemoryMailStore()
            self.store = PublishingMailStore(self.memory, self.hub)
            self.access = inline_access(self.memory, self.clock, admin_token="admin-secret")
            self.realm = MailRealm(self.store, self.access, self.hub)
        else:
            self.clock, self.hub, self.memory = beside.clock, beside.hub, beside.memory
            self.store, self.access, self.realm = beside.store, beside.access, beside.realm
        portal = Portal(self.realm)
        portal.registerChecker(AccessChecker(self.access, allow_unclaimed))
        self.server = TempmailIMAPServer(scheduler=run_now, contextFactory=context_factory)
        self.server.allow_plaintext_auth = allow_plaintext_auth
        self.server.callLater = self.clock.callLater  # type: ignore[method-assign,assignment]
        self.server.portal = portal
        self.server.appender = Appender(lambda raw: succeed(parse_message(raw)), self.clock)
        self.server.max_append = MAX_APPEND
        # A transport that can start TLS, as a TCP connection can.
        self.transport = TLSStringTransport(peerAddress=IPv4Address("TCP", "192.0.2.7", 5000))
        self.server.makeConnection(self.transport)
        self.read()

    def deliver(self, raw: bytes = RAW, subject: str = "hi") -> int:
        message = incoming(BOX, subject=subject)
        message = type(message)(message.envelope, raw, message.parsed)
        (copy,) = fired(self.store.deliver(message))
        return copy.uid

    def taken_elsewhere(self) -> None:
        """
        Have the messages delivered so far taken as C{\\Recent} by some
        earlier session, so they are not recent in this one.
        """
        uids = fired(self.memory.list_uids(BOX))
        self.realm.recent.claim(BOX, uids[-1] if uids else 0)

    def read(self) -> bytes:
        while self.transport.producer is not None:
            self.transport.producer.resumeProducing()
        data = self.transport.value()
        self.transport.clear()
        return data

    def send(self, line: bytes) -> bytes:
        self.server.dataReceived(line + b"\r\n")
        self.hub.flush()
        return self.read()

    def close(self) -> None:
        self.server.connectionLost(None)


def selected(session: Session, count: int = 1, recent: bool = False) -> None:
    """
    Log in and select INBOX after delivering C{count} messages (taken as
    C{\\Recent} by an earlier session unless C{recent}).
    """
    for _ in range(count):
        session.deliver()
    if not recent:
        session.taken_elsewhere()
    session.send(b"a LOGIN bob x")
    session.send(b"b SELECT INBOX")
