"""
The event hub: what happened to mail, told to whoever listens.

Stored, deleted and read messages become L{MailEvent}s.  The WebSocket
(and, later, webhooks and IMAP IDLE) subscribe; the store's publishing
wrapper (L{tempmail.publishing}) publishes only after a commit.  Events are
delivered on a later reactor turn, one subscriber at a time, and a failing
subscriber is logged and skipped: a slow or broken listener never holds up
SMTP or the other listeners.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from tempmail.interfaces import IEventHub
from tempmail.models import MessageSummary

log = Logger()


class EventKind(Enum):
    """
    What happened.
    """

    ARRIVAL = "arrival"
    DELETION = "deletion"
    READ = "read"
    # The mailbox was claimed, released or had its password changed: every
    # open subscription must check its credentials again.
    LOCK_CHANGED = "lock_changed"


class DeletionReason(Enum):
    """
    Why a message went.
    """

    DELETED = "deleted"
    RETENTION = "retention"
    EXPUNGED = "expunged"


@dataclass(frozen=True)
class MailEvent:
    """
    One thing that happened to a mailbox.

    @ivar summary: the message concerned (C{None} for L{EventKind.LOCK_CHANGED}).
    @ivar reason: for deletions, why.
    """

    kind: EventKind
    mailbox: str
    summary: MessageSummary | None = None
    reason: DeletionReason | None = None


Subscriber = Callable[[MailEvent], object]


class Subscription:
    """
    A registered listener; L{cancel} stops it.
    """

    def __init__(self, hub: EventHub, mailbox: str | None, subscriber: Subscriber) -> None:
        self._hub = hub
        self.mailbox = mailbox
        self.subscriber = subscriber

    def cancel(self) -> None:
        """
        Stop receiving events.  Safe to call more than once.
        """
        self._hub._remove(self)


@implementer(IEventHub)
class EventHub:
    """
    The in-process L{IEventHub}.
    """

    def __init__(self, clock: IReactorTime) -> None:
        self.clock = clock
        self._by_mailbox: dict[str, list[Subscription]] = {}
        self._everything: list[Subscription] = []

    def subscribe(self, mailbox: str | None, subscriber: Subscriber) -> Subscription:
        subscription = Subscription(self, mailbox, subscriber)
        if mailbox is None:
            self._everything.append(subscription)
        else:
            self._by_mailbox.setdefault(mailbox, []).append(subscription)
        return subscription

    def _remove(self, subscription: Subscription) -> None:
        listeners = (
            self._everything
            if subscription.mailbox is None
            else self._by_mailbox.get(subscription.mailbox, [])
        )
        if subscription in listeners:
            listeners.remove(subscription)
        if subscription.mailbox is not None and not listeners:
            self._by_mailbox.pop(subscription.mailbox, None)

    def subscriber_count(self, mailbox: str | None = None) -> int:
        """
        How many listen to C{mailbox} (or to everything, for C{None}).
        """
        if mailbox is None:
            return len(self._everything)
        return len(self._by_mailbox.get(mailbox, ()))

    def publish(self, event: MailEvent) -> None:
        # A later turn: the publisher (an SMTP reply, an HTTP response) goes
        # on at once, and events keep their order.
        self.clock.callLater(0, self._dispatch, event)

    def _dispatch(self, event: MailEvent) -> None:
        listeners = [*self._by_mailbox.get(event.mailbox, ()), *self._everything]
        for subscription in listeners:
            try:
                subscription.subscriber(event)
            except Exception:
                log.failure("an event subscriber failed on {kind}", kind=event.kind.value)
