"""
The mailbox WebSocket: its frames, its factory's limits and origin check,
and the close that tells a slow client to resync.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from tempmail.api.websocket import MailboxSocket, MailboxSocketFactory, SocketLimits, event_frame
from tempmail.events import DeletionReason, EventKind, MailEvent
from tempmail.hub import EventHub
from tempmail.models import LockState, MessageSummary
from tempmail.testing import MemoryMailStore
from tests.support import fired, synchronous_access

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def summary(id: str = "m1", mailbox: str = "a@x.test") -> MessageSummary:
    return MessageSummary(id, mailbox, 1, "f@x.test", "s", T0, 10, False, 0, "p")


def test_event_frames_have_the_original_shapes() -> None:
    s = summary()
    assert event_frame(MailEvent(EventKind.ARRIVAL, "a@x.test", s)) == {
        "type": "Email",
        "id": "m1",
        "to": "a@x.test",
        "from": "f@x.test",
        "subject": "s",
        "timestamp": "2026-11-29T12:00:00.000000Z",
        "size": 10,
        "seen": False,
        "attachments": 0,
        "preview": "p",
    }
    deleted = MailEvent(EventKind.DELETION, "a@x.test", s, DeletionReason.RETENTION)
    assert event_frame(deleted) == {
        "type": "EmailDeleted",
        "id": "m1",
        "address": "a@x.test",
        "reason": "retention",
    }
    assert event_frame(MailEvent(EventKind.READ, "a@x.test", s)) == {
        "type": "EmailRead",
        "id": "m1",
        "address": "a@x.test",
    }
    assert event_frame(MailEvent(EventKind.LOCK_CHANGED, "a@x.test")) is None


def test_socket_limits_and_origins() -> None:
    store = MemoryMailStore()
    factory = MailboxSocketFactory(
        EventHub(Clock()),
        synchronous_access(store),
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
        synchronous_access(MemoryMailStore()),
        Clock(),
        limits=SocketLimits(max_backlog=3),
    )
    socket = MailboxSocket()
    socket.factory = factory
    sent: list[bytes] = []
    closed: list[tuple[int | None, str | None]] = []
    socket.sendMessage = lambda payload, *args, **kw: sent.append(payload)  # type: ignore[method-assign]
    socket.sendClose = lambda code=None, reason=None: closed.append((code, reason))  # type: ignore[method-assign]
    event = MailEvent(EventKind.ARRIVAL, "a@x.test", summary())

    socket._on_event(event)
    socket._backpressure.pauseProducing()
    for _ in range(3):
        socket._on_event(event)
    assert (len(sent), closed) == (4, [])
    socket._on_event(event)
    assert len(sent) == 4
    assert closed == [(4000, "too slow: reload the mailbox over REST")]


class SlowLockStore(MemoryMailStore):
    """
    Once armed, leaves the next lock lookup unanswered, like a busy database.
    """

    slow = False

    def lock_state(self, mailbox: str) -> Deferred[LockState]:
        if self.slow:
            self.slow = False
            return Deferred()
        return super().lock_state(mailbox)


def test_a_token_message_may_overtake_the_first_lock_check() -> None:
    store = SlowLockStore()
    clock = Clock()
    access = synchronous_access(store, clock)
    granted = fired(Deferred.fromCoroutine(access.claim("a@x.test", "s3cret-pass")))
    store.slow = True
    factory = MailboxSocketFactory(EventHub(clock), access, clock)
    socket = MailboxSocket()
    socket.factory = factory
    socket.mailbox = "a@x.test"
    sent: list[bytes] = []
    closed: list[Any] = []
    socket.sendMessage = lambda payload, *a, **kw: sent.append(payload)  # type: ignore[method-assign]
    socket.sendClose = lambda code=None, reason=None: closed.append(code)  # type: ignore[method-assign]

    first = Deferred.fromCoroutine(socket._authorize(first=True))
    assert not first.called  # the lock lookup is still out
    socket.onMessage(b'{"token": "%s"}' % granted.token.encode(), False)
    assert sent == [b'{"type": "Connected", "address": "a@x.test"}']
    clock.advance(30)
    assert closed == []
