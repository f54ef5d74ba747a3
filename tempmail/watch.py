"""
Watching a mailbox: the lock check, the subscription and the re-checks
that every live door (the WebSocket; IMAP IDLE and MCP subscriptions)
shares, with nothing of any one protocol in it.

A L{MailboxWatch} subscribes to one mailbox on the L{IEventHub}, checks the
credentials with L{MailboxAccess.authorize}, and once they pass hands the
mailbox's events to its C{on_event}.  A claim, release or password change
(L{EventKind.LOCK_CHANGED}) may shut out credentials that opened it, so it
checks them again each time.  It fails closed: any outcome of a check other
than success, a storage error included, unsubscribes it and tells
C{on_end} why, once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from tempmail.access import AccessDenied, Credentials, MailboxAccess, TooManyFailures
from tempmail.events import EventKind, MailEvent
from tempmail.interfaces import IEventHub, ISubscription

log = Logger()


class EndReason(Enum):
    """
    Why a watch ended.
    """

    # The mailbox is locked and the credentials do not open it.
    DENIED = "denied"
    # Password checks are being limited for this mailbox or client.
    TOO_MANY_FAILURES = "too_many_failures"
    # The check itself failed (the store was unavailable, or a bug); the
    # credentials may be good, but a check that did not answer yes is a no.
    SERVER_ERROR = "server_error"


@dataclass(frozen=True)
class WatchEnded:
    """
    How a watch ended.

    @ivar reason: why.
    @ivar failure: the check's failure.
    @ivar was_open: whether the watch had passed a check (and told events)
        before; C{False} when its first check refused it.
    """

    reason: EndReason
    failure: Failure
    was_open: bool


def end_reason(failure: Failure) -> EndReason:
    """
    The L{EndReason} for a failed lock check.
    """
    if failure.check(AccessDenied):
        return EndReason.DENIED
    if failure.check(TooManyFailures):
        return EndReason.TOO_MANY_FAILURES
    return EndReason.SERVER_ERROR


class MailboxWatch:
    """
    One client's watch of one mailbox, for as long as its credentials open
    it.

    The subscription is made before the first check, so that a lock change
    committed while that check is out is heard and checked again; events
    other than lock changes are dropped until a check has passed.  Checks
    may overlap (lock changes can come quickly): a check that passes counts
    only if no lock change came after it began, while any check that fails
    ends the watch.

    @ivar mailbox: the normalised address watched.
    @ivar credentials: what the client presented, checked at every lock
        change.
    @ivar is_open: whether a check has passed and the watch has not ended.
    """

    def __init__(
        self,
        access: MailboxAccess,
        hub: IEventHub,
        mailbox: str,
        credentials: Credentials,
        on_event: Callable[[MailEvent], object],
        on_end: Callable[[WatchEnded], object],
        on_open: Callable[[], object] = lambda: None,
    ) -> None:
        """
        @param on_event: told each of the mailbox's events, other than lock
            changes, once the watch is open.
        @param on_end: told once, if a check refuses the credentials or
            fails; the watch has unsubscribed by then.  Not told after
            L{stop}.
        @param on_open: told once, when the first check passes; events
            follow it.
        """
        self.access = access
        self.hub = hub
        self.mailbox = mailbox
        self.credentials = credentials
        self.is_open = False
        self._on_event = on_event
        self._on_end = on_end
        self._on_open = on_open
        self._subscription: ISubscription | None = None
        self._finished = False
        # Checks begun so far; a pass counts only from the latest one.
        self._checks = 0

    def start(self) -> None:
        """
        Subscribe and run the first check.
        """
        if self._finished or self._subscription is not None:
            return
        self._subscription = self.hub.subscribe(self.mailbox, self._heard)
        self._check()

    def stop(self) -> None:
        """
        Unsubscribe, without telling C{on_end}; checks still out are
        ignored when they answer.  Stopping twice does nothing.
        """
        self._finish()

    def _finish(self) -> None:
        self._finished = True
        self.is_open = False
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None

    def _heard(self, event: MailEvent) -> None:
        if self._finished:
            return
        if event.kind is EventKind.LOCK_CHANGED:
            self._check()
        elif self.is_open:
            self._on_event(event)

    def _check(self) -> None:
        self._checks += 1
        check = self._checks
        d = Deferred.fromCoroutine(self.access.authorize(self.mailbox, self.credentials))
        d.addCallbacks(lambda _grant: self._passed(check), self._failed)
        # Only a callback of ours raising can reach this; keep it from
        # vanishing as an unhandled error in a dropped Deferred.
        d.addErrback(
            lambda failure: log.failure(
                "a watch of {mailbox} failed in its callback", failure, mailbox=self.mailbox
            )
        )

    def _passed(self, check: int) -> None:
        if self._finished or self.is_open or check != self._checks:
            return
        self.is_open = True
        self._on_open()

    def _failed(self, failure: Failure) -> None:
        if self._finished:
            return
        reason = end_reason(failure)
        if reason is EndReason.SERVER_ERROR:
            log.failure(
                "the lock check of {mailbox} failed; ending its watch",
                failure,
                mailbox=self.mailbox,
            )
        ended = WatchEnded(reason, failure, self.is_open)
        self._finish()
        self._on_end(ended)
