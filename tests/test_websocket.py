"""
The mailbox WebSocket: its frames, its factory's limits and origin check,
the close that tells a slow client to resync, and its lock checks, which
fail closed (driven over a loopback port with an Autobahn client).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
import pytest_twisted
from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredQueue, fail, maybeDeferred
from twisted.internet.task import Clock
from twisted.web.server import Site

from tempmail.access import AccessDenied, Credentials, MailboxAccess, TooManyFailures
from tempmail.api.frames import connected_frame, encoded_frame, event_frame
from tempmail.api.websocket import MailboxSocket, MailboxSocketFactory, SocketLimits
from tempmail.events import DeletionReason, EventKind, MailEvent
from tempmail.hub import EventHub
from tempmail.interfaces import StorageUnavailable
from tempmail.models import LockState, MailboxGrant, MessageSummary
from tempmail.publishing import PublishingMailStore
from tempmail.ratelimit import MemoryFailureLimiter
from tempmail.testing import InlinePasswordHasher, MemoryMailStore, inline_access
from tests.conftest import LoggedErrors

T = TypeVar("T")
T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
BOX = "a@tempmail.local"
PASSWORD = "s3cret-pass"
# Generous: a loopback round trip takes milliseconds.
TIMEOUT = 10
# The reactor as a TCP reactor, whose listening ports have a host and port.
tcp: Any = reactor


def summary(id: str = "m1", mailbox: str = "a@x.test") -> MessageSummary:
    return MessageSummary(id, mailbox, 1, "f@x.test", "s", T0, 10, False, 0, "p")


def test_frames_keep_their_bytes() -> None:
    s = summary()
    assert connected_frame("a@x.test") == b'{"type": "Connected", "address": "a@x.test"}'
    assert encoded_frame(MailEvent(EventKind.ARRIVAL, "a@x.test", s)) == (
        b'{"type": "Email", "id": "m1", "to": "a@x.test", "from": "f@x.test", '
        b'"subject": "s", "timestamp": "2026-11-29T12:00:00.000000Z", "size": 10, '
        b'"seen": false, "attachments": 0, "preview": "p"}'
    )
    deleted = MailEvent(EventKind.DELETION, "a@x.test", s, DeletionReason.RETENTION)
    assert encoded_frame(deleted) == (
        b'{"type": "EmailDeleted", "id": "m1", "address": "a@x.test", "reason": "retention"}'
    )
    assert encoded_frame(MailEvent(EventKind.READ, "a@x.test", s)) == (
        b'{"type": "EmailRead", "id": "m1", "address": "a@x.test"}'
    )
    assert event_frame(MailEvent(EventKind.LOCK_CHANGED, "a@x.test")) is None
    assert encoded_frame(MailEvent(EventKind.LOCK_CHANGED, "a@x.test")) is None


def test_a_flag_change_has_its_own_frame() -> None:
    flagged = MessageSummary(
        "m1", "a@x.test", 1, "f@x.test", "s", T0, 10, True, 0, "p", ("$Label1", "\\Flagged")
    )
    event = MailEvent(EventKind.FLAGS_CHANGED, "a@x.test", flagged)
    assert event_frame(event) == {
        "type": "EmailFlags",
        "id": "m1",
        "address": "a@x.test",
        "seen": True,
        "flags": ["$Label1", "\\Flagged"],
    }
    # Encoded once, however many sockets send it.
    assert encoded_frame(event) is encoded_frame(
        MailEvent(EventKind.FLAGS_CHANGED, "a@x.test", flagged)
    )


def test_socket_limits_and_origins() -> None:
    store = MemoryMailStore()
    factory = MailboxSocketFactory(
        EventHub(Clock()),
        inline_access(store),
        Clock(),
        frozenset({"https://app.example.com"}),
        SocketLimits(max_connections=3, max_per_client=2),
    )
    assert [factory.admit("1.1.1.1") for _ in range(3)] == [True, True, False]
    assert factory.admit("2.2.2.2") is True
    assert factory.admit("3.3.3.3") is False
    factory.release("1.1.1.1")
    assert factory.admit("3.3.3.3") is True
    assert factory.origin_allowed(None, "h:1") and factory.origin_allowed("", "h:1")
    assert factory.origin_allowed("http://h:1", "h:1")
    assert factory.origin_allowed("https://app.example.com", "h:1")
    assert not factory.origin_allowed("https://evil.example", "h:1")
    assert not factory.origin_allowed("null", "h:1")


def test_a_client_that_stops_reading_is_told_to_resync() -> None:
    factory = MailboxSocketFactory(
        EventHub(Clock()),
        inline_access(MemoryMailStore()),
        Clock(),
        limits=SocketLimits(max_backlog=3),
    )
    socket = MailboxSocket()
    socket.factory = factory
    sent: list[bytes] = []
    closed: list[tuple[int | None, bytes | None]] = []
    socket.sendMessage = lambda payload, *args, **kw: sent.append(payload)  # type: ignore[method-assign]
    socket.sendCloseFrame = lambda code=None, reasonUtf8=None, isReply=False: closed.append(  # type: ignore[method-assign]
        (code, reasonUtf8)
    )
    event = MailEvent(EventKind.ARRIVAL, "a@x.test", summary())

    socket._on_event(event)
    socket._backpressure.pauseProducing()
    for _ in range(3):
        socket._on_event(event)
    assert (len(sent), closed) == (4, [])
    socket._on_event(event)
    assert len(sent) == 4
    assert closed == [(4000, b"too slow: reload the mailbox over REST")]


class Peer(WebSocketClientProtocol):
    """
    A test's client: its frames go to C{factory.frames}, its close code to
    C{factory.closed}.
    """

    factory: PeerFactory

    def onOpen(self) -> None:
        self.factory.opened.callback(self)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.factory.frames.put(json.loads(payload))

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        self.factory.closed.callback(code)


class PeerFactory(WebSocketClientFactory):
    """
    Makes the one L{Peer} of a test's client connection.
    """

    protocol = Peer  # type: ignore[assignment]  # as in MailboxSocketFactory

    def __init__(self, url: str, headers: dict[str, str] | None) -> None:
        super().__init__(url, headers=headers)
        self.opened: Deferred[Peer] = Deferred()
        self.closed: Deferred[int | None] = Deferred()
        self.frames: DeferredQueue[dict[str, Any]] = DeferredQueue()


class TrackedSocket(MailboxSocket):
    """
    A L{MailboxSocket} that says when its connection has gone, so a test
    ends only once the server's side is closed too.
    """

    factory: TrackedFactory

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        super().onClose(wasClean, code, reason)
        self.factory.gone.put(code)


class TrackedFactory(MailboxSocketFactory):
    protocol = TrackedSocket

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gone: DeferredQueue[int | None] = DeferredQueue()


class FlakyLocks(MemoryMailStore):
    """
    Lock reads fail with L{StorageUnavailable} while C{failing} is set, as
    a locked or unreachable database fails them; once armed with C{hold},
    the next read is left unanswered, like a busy one.
    """

    failing = False
    hold = False

    def lock_state(self, mailbox: str) -> Deferred[LockState]:
        if self.failing:
            return fail(StorageUnavailable("the database is locked"))
        if self.hold:
            self.hold = False
            return Deferred()
        return super().lock_state(mailbox)


class RefusingAccess(MailboxAccess):
    """
    Lets everything through until C{refusal} is set; then raises it.
    """

    refusal: Exception | None = None

    async def authorize(self, mailbox: str, credentials: Credentials) -> MailboxGrant:
        if self.refusal is not None:
            raise self.refusal
        return MailboxGrant(mailbox, None)


async def within(d: Deferred[T]) -> T:
    return await d.addTimeout(TIMEOUT, reactor)


class Server:
    """
    A L{MailboxSocketFactory} listening on a loopback port.
    """

    def __init__(self, factory: TrackedFactory, port: int) -> None:
        self.factory = factory
        self.port = port
        self.clients: list[tuple[PeerFactory, Peer]] = []

    async def connect(self, path: str, headers: dict[str, str] | None = None) -> Client:
        """
        Open a client socket to C{path}; return it once open.
        """
        client = PeerFactory(f"ws://127.0.0.1:{self.port}{path}", headers)
        reactor.connectTCP("127.0.0.1", self.port, client)
        peer = await within(client.opened)
        self.clients.append((client, peer))
        return Client(client, peer)

    async def frame(self, client: Client) -> dict[str, Any]:
        return await within(client.factory.frames.get())

    async def close_code(self, client: Client) -> int | None:
        """
        The code the client's socket was closed with, once both sides have
        gone.
        """
        code = await within(client.factory.closed)
        await within(self.factory.gone.get())
        return code


@dataclass(frozen=True)
class Client:
    """
    A test's open client socket.
    """

    factory: PeerFactory
    peer: Peer


@asynccontextmanager
async def serving(
    access: MailboxAccess, hub: EventHub, clock: Clock | None = None
) -> AsyncIterator[Server]:
    """
    Listen on a loopback port; at the end close the clients still open,
    wait for both sides of each, and stop listening.
    """
    factory = TrackedFactory(hub, access, clock or reactor)
    listening = tcp.listenTCP(0, Site(factory.web_resource()), interface="127.0.0.1")
    server = Server(factory, listening.getHost().port)
    try:
        yield server
    finally:
        for client, peer in server.clients:
            if not client.closed.called:
                peer.sendClose(1000)
                await server.close_code(Client(client, peer))
        await maybeDeferred(listening.stopListening)


def live_store() -> tuple[FlakyLocks, EventHub, MailboxAccess]:
    """
    A publishing store on the reactor, its hub, and the lock check over it.
    """
    locks = FlakyLocks(reactor)
    hub = EventHub(reactor)
    return locks, hub, inline_access(PublishingMailStore(locks, hub), reactor)


@pytest_twisted.ensureDeferred
async def test_a_claim_whose_recheck_cannot_read_the_lock_closes_the_socket(
    logged_errors: LoggedErrors,
) -> None:
    locks, hub, access = live_store()
    async with serving(access, hub) as server:
        client = await server.connect(f"/api/ws/{BOX}")
        assert await server.frame(client) == {"type": "Connected", "address": BOX}
        await access.claim(BOX, PASSWORD)
        # The claim is committed and its lock_changed queued; the socket's
        # re-check then finds the database unavailable.
        locks.failing = True
        assert await server.close_code(client) == 1011
        assert hub.subscriber_count(BOX) == 0
    assert logged_errors.take() == [f"the lock check of {BOX} failed; ending its watch"]


@pytest.mark.parametrize(
    ("refusal", "code"),
    [
        (AccessDenied("locked"), 4001),
        (TooManyFailures(30), 4029),
        (RuntimeError("a bug in the check"), 1011),
    ],
)
@pytest_twisted.ensureDeferred
async def test_every_refused_recheck_closes_the_socket(
    refusal: Exception, code: int, logged_errors: LoggedErrors
) -> None:
    clock = Clock()
    hub = EventHub(reactor)
    access = RefusingAccess(
        MemoryMailStore(reactor),
        MemoryFailureLimiter(clock),
        clock,
        "tempmail.local",
        InlinePasswordHasher(),
    )
    async with serving(access, hub) as server:
        client = await server.connect(f"/api/ws/{BOX}?token=t")
        assert (await server.frame(client))["type"] == "Connected"
        access.refusal = refusal
        hub.publish(MailEvent(EventKind.LOCK_CHANGED, BOX))
        assert await server.close_code(client) == code
        assert hub.subscriber_count(BOX) == 0
    assert len(logged_errors.take()) == (1 if code == 1011 else 0)


@pytest_twisted.ensureDeferred
async def test_a_first_check_that_cannot_read_the_lock_closes_the_socket(
    logged_errors: LoggedErrors,
) -> None:
    locks, hub, access = live_store()
    locks.failing = True
    async with serving(access, hub) as server:
        client = await server.connect(f"/api/ws/{BOX}")
        assert await server.close_code(client) == 1011
        assert client.factory.frames.pending == []
    assert len(logged_errors.take()) == 1


@pytest_twisted.ensureDeferred
async def test_a_token_message_check_that_fails_closes_the_socket(
    logged_errors: LoggedErrors,
) -> None:
    locks, hub, access = live_store()
    granted = await access.claim(BOX, PASSWORD)
    async with serving(access, hub, Clock()) as server:
        client = await server.connect(f"/api/ws/{BOX}")
        locks.failing = True
        client.peer.sendMessage(json.dumps({"token": granted.token}).encode())
        assert await server.close_code(client) == 1011
        assert client.factory.frames.pending == []
    assert len(logged_errors.take()) == 1


@pytest_twisted.ensureDeferred
async def test_a_token_message_may_overtake_the_first_lock_check() -> None:
    locks, hub, access = live_store()
    granted = await access.claim(BOX, PASSWORD)
    clock = Clock()
    locks.hold = True
    async with serving(access, hub, clock) as server:
        client = await server.connect(f"/api/ws/{BOX}")
        # The first check's lock read is still out.
        client.peer.sendMessage(json.dumps({"token": granted.token}).encode())
        assert await server.frame(client) == {"type": "Connected", "address": BOX}
        clock.advance(30)
        assert not client.factory.closed.called


@pytest_twisted.ensureDeferred
async def test_a_locked_mailbox_waits_for_its_token_then_closes() -> None:
    _, hub, access = live_store()
    await access.claim(BOX, PASSWORD)
    clock = Clock()
    async with serving(access, hub, clock) as server:
        client = await server.connect(f"/api/ws/{BOX}")
        client.peer.sendMessage(b"hello?")
        client.peer.sendMessage(b"[" * 4_000)
        assert clock.getDelayedCalls() != []
        clock.advance(10)
        assert await server.close_code(client) == 4001
        assert client.factory.frames.pending == []


@pytest_twisted.ensureDeferred
async def test_a_bearer_header_opens_a_locked_mailbox_and_a_password_does_not() -> None:
    _, hub, access = live_store()
    granted = await access.claim(BOX, PASSWORD)
    basic = base64.b64encode(f"{BOX}:{PASSWORD}".encode()).decode()
    clock = Clock()
    async with serving(access, hub, clock) as server:
        client = await server.connect(
            f"/api/ws/{BOX}", {"Authorization": f"Bearer {granted.token}"}
        )
        assert (await server.frame(client))["type"] == "Connected"
        wrong = await server.connect(f"/api/ws/{BOX}", {"Authorization": "Bearer wrong"})
        assert await server.close_code(wrong) == 4001
        # A password is no credential here: the socket waits for a token.
        for header in (f"Basic {basic}", "Basic !!not-base64"):
            password = await server.connect(f"/api/ws/{BOX}", {"Authorization": header})
            clock.advance(10)
            assert await server.close_code(password) == 4001
            assert password.factory.frames.pending == []
