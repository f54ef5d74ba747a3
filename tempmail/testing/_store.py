"""
L{MemoryMailStore}: every storage role in dictionaries.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from tempmail.interfaces import IMailStore, StorageUnavailable
from tempmail.models import StoreStatistics
from tempmail.testing._messages import MemoryMessages
from tempmail.testing._webhooks import MemoryWebhooks


@implementer(IMailStore)
class MemoryMailStore(MemoryMessages, MemoryWebhooks):
    """
    An in-memory L{IMailStore}: mail, claims, webhooks and their outbox.

    It passes the same contract tests as the SQLite store
    (C{tests/test_store_contract*.py}), so a test written against it holds
    for the real thing.

    @ivar fail_writes: set to C{True} to make every write fail with
        L{StorageUnavailable}, as a full disk would.
    """

    def __init__(self, clock: IReactorTime | None = None) -> None:
        """
        @param clock: what "now" is for the times the store writes (a
            L{twisted.internet.task.Clock} in tests); the reactor by default.
        """
        if clock is None:
            from twisted.internet import reactor

            clock = reactor
        assert clock is not None
        super().__init__(clock)

    def check_health(self) -> Deferred[None]:
        if self._closed:
            return fail(StorageUnavailable("the store is closed"))
        return succeed(None)

    def statistics(self) -> Deferred[StoreStatistics]:
        pending = [d for d in self._deliveries.values() if d.next_at is not None]
        return succeed(
            StoreStatistics(
                len(self._mailboxes),
                len(self._where),
                sum(len(raw) for raw in self._raw.values()),
                len(pending),
                min((d.new.due_at for d in pending), default=None),
            )
        )

    def close(self) -> Deferred[None]:
        self._closed = True
        return succeed(None)
