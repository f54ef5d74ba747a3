"""
A socket's lock re-check fails closed: whatever goes wrong while checking
(storage unavailable, a bug), the socket is unsubscribed and closed with
1011, never left listening to a mailbox that may now be locked.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from tempmail.access import Credentials, MailboxAccess
from tempmail.api.websocket import CLOSE_SERVER_ERROR, MailboxSocket, MailboxSocketFactory
from tempmail.events import EventKind, MailEvent
from tempmail.hub import EventHub
from tempmail.interfaces import StorageUnavailable
from tempmail.models import MailboxGrant
from tempmail.testing import MemoryMailStore
from tests.support import fired, synchronous_access


class FailingAccess(MailboxAccess):
    """
    Opens the mailbox once, then cannot check any more (the store is down).
    """

    checks = 0

    async def authorize(self, mailbox: str, credentials: Credentials) -> MailboxGrant:
        self.checks += 1
        if self.checks > 1:
            raise StorageUnavailable("database is locked")
        return MailboxGrant(mailbox, 0)


class RecordingSocket(MailboxSocket):
    """
    A socket with no connection that records how it was closed.
    """

    def __init__(self) -> None:
        super().__init__()
        self.closed: list[tuple[int, str]] = []

    def sendClose(self, code: Any = None, reason: Any = None) -> None:
        self.closed.append((code, reason))

    def sendMessage(
        self,
        payload: Any,
        isBinary: Any = False,
        fragmentSize: Any = None,
        sync: Any = False,
        doNotCompress: Any = False,
    ) -> Any:
        return None


def test_a_recheck_that_fails_closes_the_socket(logged_errors: Any) -> None:
    clock = Clock()
    hub = EventHub(clock)
    store = MemoryMailStore(clock)
    inner = synchronous_access(store, clock)
    access = FailingAccess(store, inner.limiter, clock, inner.domain, inner.hasher)
    factory = MailboxSocketFactory(hub, access, clock)
    socket = RecordingSocket()
    socket.factory = factory
    socket.mailbox = "watched@tempmail.local"

    fired(Deferred.fromCoroutine(socket._authorize(first=True)))
    assert hub.subscriber_count("watched@tempmail.local") == 1
    assert socket.closed == []

    hub.publish(MailEvent(EventKind.LOCK_CHANGED, "watched@tempmail.local"))
    clock.advance(0)
    assert socket.closed == [(CLOSE_SERVER_ERROR, "server error; reconnect later")]
    assert hub.subscriber_count("watched@tempmail.local") == 0
    assert logged_errors.take() == ["a WebSocket lock check failed; closing the socket"]
