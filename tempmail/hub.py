"""
The in-process event hub: events told to whoever listens, in the order they
were published.

Publishing only queues: the publisher (an SMTP reply, an HTTP response) goes
on at once.  One FIFO queue per hub is drained in one scheduled call, so
every subscriber hears events in publication order; a reactor does not
promise that separate C{callLater(0, ...)} calls run in the order they were
made (its timers are a heap, and the wall clock can step).  Subscribers are
called one at a time, and a failing subscriber is logged and skipped: a
slow or broken listener never holds up SMTP or the other listeners.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from tempmail.events import MailEvent
from tempmail.interfaces import IEventHub, ISubscription

log = Logger()

Subscriber = Callable[[MailEvent], object]


@implementer(ISubscription)
class Subscription:
    """
    A registered listener of one L{EventHub}.
    """

    def __init__(
        self,
        mailbox: str | None,
        subscriber: Subscriber,
        remove: Callable[[Subscription], None],
    ) -> None:
        self.mailbox = mailbox
        self.subscriber = subscriber
        self._remove = remove

    def cancel(self) -> None:
        self._remove(self)


@implementer(IEventHub)
class EventHub:
    """
    The in-process L{IEventHub}, on an L{IReactorTime} (a C{Clock} in tests).
    """

    def __init__(self, clock: IReactorTime) -> None:
        self.clock = clock
        self._by_mailbox: dict[str, list[Subscription]] = {}
        self._everything: list[Subscription] = []
        self._queue: deque[MailEvent] = deque()
        self._drain: IDelayedCall | None = None

    def subscribe(self, mailbox: str | None, subscriber: Subscriber) -> ISubscription:
        subscription = Subscription(mailbox, subscriber, self._remove)
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
        self._queue.append(event)
        if self._drain is None:
            self._drain = self.clock.callLater(0, self._deliver_queued)

    def _deliver_queued(self) -> None:
        # Events published by a subscriber join the end of this same queue,
        # so they too come after everything published before them.
        try:
            while self._queue:
                self._dispatch(self._queue.popleft())
        finally:
            self._drain = None

    def _dispatch(self, event: MailEvent) -> None:
        listeners = [*self._by_mailbox.get(event.mailbox, ()), *self._everything]
        for subscription in listeners:
            try:
                subscription.subscriber(event)
            except Exception:
                log.failure("an event subscriber failed on {kind}", kind=event.kind.value)
