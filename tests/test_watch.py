"""
L{MailboxWatch}: the lock check, the subscription and the re-checks, on a
L{Clock}, a L{MemoryMailStore} and a real L{EventHub}.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock

from tempmail.access import AccessDenied, Credentials, GrantedToken, MailboxAccess, TooManyFailures
from tempmail.events import EventKind, MailEvent
from tempmail.hub import EventHub
from tempmail.interfaces import StorageUnavailable
from tempmail.models import LockState, MessageSummary, TokenGrant
from tempmail.publishing import PublishingMailStore
from tempmail.testing import MemoryMailStore, inline_access
from tempmail.watch import EndReason, MailboxWatch, WatchEnded
from tests.conftest import LoggedErrors
from tests.support import fired

BOX = "a@tempmail.local"
PASSWORD = "s3cret-pass"
T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def arrival(id: str = "m1") -> MailEvent:
    summary = MessageSummary(id, BOX, 1, "f@x.test", "s", T0, 10, False, 0, "p")
    return MailEvent(EventKind.ARRIVAL, BOX, summary)


class HeldLocks(MemoryMailStore):
    """
    Once C{hold} is set, answers lock reads only when the test releases
    them, with the lock as it was when read: a slow database, so that
    checks overlap.
    """

    hold = False
    failing = False

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.held: list[tuple[Deferred[LockState], Deferred[LockState]]] = []

    def lock_state(self, mailbox: str) -> Deferred[LockState]:
        if self.failing:
            return fail(StorageUnavailable("the database is locked"))
        answer = super().lock_state(mailbox)
        if not self.hold:
            return answer
        waiting: Deferred[LockState] = Deferred()
        self.held.append((waiting, answer))
        return waiting

    def release(self, index: int) -> None:
        waiting, answer = self.held[index]
        answer.chainDeferred(waiting)


class Watcher:
    """
    A watch of L{BOX} over a publishing store, and what it told.
    """

    def __init__(self, credentials: Credentials | None = None) -> None:
        self.clock = Clock()
        self.hub = EventHub(self.clock)
        self.locks = HeldLocks(self.clock)
        self.store = PublishingMailStore(self.locks, self.hub)
        self.access: MailboxAccess = inline_access(self.store, self.clock)
        self.opened = 0
        self.events: list[MailEvent] = []
        self.ended: list[WatchEnded] = []
        self.watch = self.watching(credentials or Credentials())

    def watching(self, credentials: Credentials) -> MailboxWatch:
        """
        A new watch of L{BOX} with C{credentials}, telling this recorder.
        """
        return MailboxWatch(
            self.access,
            self.hub,
            BOX,
            credentials,
            on_event=self.events.append,
            on_end=self.ended.append,
            on_open=self.opened_once,
        )

    def opened_once(self) -> None:
        self.opened += 1

    def claim(self) -> GrantedToken:
        granted = fired(Deferred.fromCoroutine(self.access.claim(BOX, PASSWORD)))
        self.clock.advance(0)
        return granted

    def told(self, event: MailEvent) -> None:
        self.hub.publish(event)
        self.clock.advance(0)

    def reasons(self) -> list[tuple[EndReason, bool]]:
        return [(ended.reason, ended.was_open) for ended in self.ended]


def test_an_open_mailbox_opens_and_hears_its_events() -> None:
    watcher = Watcher()
    watcher.watch.start()
    assert (watcher.opened, watcher.watch.is_open) == (1, True)
    watcher.told(arrival("m1"))
    watcher.told(MailEvent(EventKind.ARRIVAL, "other@tempmail.local", arrival().summary))
    assert [e.summary.id for e in watcher.events if e.summary] == ["m1"]
    assert watcher.ended == []


def test_a_claim_shuts_out_anonymous_watchers() -> None:
    watcher = Watcher()
    watcher.watch.start()
    watcher.claim()
    assert watcher.reasons() == [(EndReason.DENIED, True)]
    assert watcher.hub.subscriber_count(BOX) == 0
    watcher.told(arrival())
    assert watcher.events == []  # lock changes are the watch's own business


def test_a_token_survives_a_claim_but_not_a_password_change() -> None:
    watcher = Watcher()
    granted = watcher.claim()
    watcher.watch = watcher.watching(Credentials(bearer=granted.token))
    watcher.watch.start()
    assert watcher.watch.is_open
    watcher.told(MailEvent(EventKind.LOCK_CHANGED, BOX))
    assert watcher.ended == [] and watcher.watch.is_open
    change = watcher.access.change_password(BOX, PASSWORD, "n3w-secret-pass", "1.2.3.4")
    fired(Deferred.fromCoroutine(change))
    watcher.clock.advance(0)
    assert watcher.reasons() == [(EndReason.DENIED, True)]


def test_a_recheck_that_cannot_read_the_lock_ends_the_watch(
    logged_errors: LoggedErrors,
) -> None:
    watcher = Watcher()
    watcher.watch.start()
    watcher.locks.failing = True
    watcher.told(MailEvent(EventKind.LOCK_CHANGED, BOX))
    assert watcher.reasons() == [(EndReason.SERVER_ERROR, True)]
    assert watcher.ended[0].failure.check(StorageUnavailable)
    assert watcher.hub.subscriber_count(BOX) == 0
    assert not watcher.watch.is_open
    [logged] = logged_errors.take()
    assert "the lock check of a@tempmail.local failed" in logged
    watcher.locks.failing = False
    watcher.told(arrival())
    assert watcher.events == []


def test_a_first_check_that_fails_never_opens(logged_errors: LoggedErrors) -> None:
    watcher = Watcher()
    watcher.locks.failing = True
    watcher.watch.start()
    assert watcher.reasons() == [(EndReason.SERVER_ERROR, False)]
    assert watcher.opened == 0
    assert watcher.hub.subscriber_count(BOX) == 0
    assert len(logged_errors.take()) == 1


def test_limited_password_checks_end_the_watch() -> None:
    watcher = Watcher()
    watcher.claim()
    for _ in range(3):
        with pytest.raises(AccessDenied):
            fired(Deferred.fromCoroutine(watcher.access.login(BOX, "wrong-guess", "9.9.9.9")))
    watch = watcher.watching(Credentials(basic=(BOX, PASSWORD), client="9.9.9.9"))
    watch.start()
    assert watcher.reasons() == [(EndReason.TOO_MANY_FAILURES, False)]
    assert watcher.ended[0].failure.check(TooManyFailures)


def test_a_pass_read_before_a_lock_change_does_not_open() -> None:
    watcher = Watcher()
    watcher.locks.hold = True
    watcher.watch.start()
    fired(watcher.locks.claim_mailbox(BOX, "hash", TokenGrant("digest", T0.replace(year=2100))))
    watcher.told(MailEvent(EventKind.LOCK_CHANGED, BOX))
    assert len(watcher.locks.held) == 2
    # The first check read the mailbox unclaimed; a lock change came after.
    watcher.locks.release(0)
    assert (watcher.opened, watcher.ended) == (0, [])
    watcher.locks.release(1)
    assert watcher.reasons() == [(EndReason.DENIED, False)]
    assert watcher.opened == 0


def test_a_stopped_watch_ignores_its_pending_check() -> None:
    watcher = Watcher()
    watcher.locks.hold = True
    watcher.watch.start()
    assert watcher.hub.subscriber_count(BOX) == 1
    watcher.watch.stop()
    watcher.watch.stop()
    assert watcher.hub.subscriber_count(BOX) == 0
    watcher.locks.release(0)
    watcher.told(arrival())
    assert (watcher.opened, watcher.events, watcher.ended) == (0, [], [])


def test_a_failing_callback_is_logged(logged_errors: LoggedErrors) -> None:
    watcher = Watcher()

    def broken() -> None:
        raise RuntimeError("on_open bug")

    watch = MailboxWatch(
        watcher.access,
        watcher.hub,
        BOX,
        Credentials(),
        watcher.events.append,
        watcher.ended.append,
        broken,
    )
    watch.start()
    failures = [event["log_failure"] for event in logged_errors.events]
    assert logged_errors.take() == ["a watch of a@tempmail.local failed in its callback"]
    assert [f.getErrorMessage() for f in failures] == ["on_open bug"]
    assert watcher.ended == []
    watch.stop()
