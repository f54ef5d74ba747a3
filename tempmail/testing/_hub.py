"""
L{RecordingEventHub}: an L{IEventHub} that a test drives by hand.
"""

from __future__ import annotations

from collections.abc import Callable

from zope.interface import implementer

from tempmail.events import MailEvent
from tempmail.interfaces import IEventHub, ISubscription


@implementer(ISubscription)
class _Subscription:
    def __init__(
        self, mailbox: str | None, subscriber: Callable[[MailEvent], object], hub: RecordingEventHub
    ) -> None:
        self.mailbox = mailbox
        self.subscriber = subscriber
        self._hub = hub

    def cancel(self) -> None:
        if self in self._hub.subscriptions:
            self._hub.subscriptions.remove(self)


@implementer(IEventHub)
class RecordingEventHub:
    """
    Keeps every published event in L{published} and tells subscribers only
    when the test calls L{flush}, in publication order, so a test says
    exactly when "a later reactor turn" happens.

    @ivar published: every event published, in order.
    @ivar subscriptions: the subscriptions not yet cancelled.
    """

    def __init__(self) -> None:
        self.published: list[MailEvent] = []
        self.subscriptions: list[_Subscription] = []
        self._queue: list[MailEvent] = []

    def publish(self, event: MailEvent) -> None:
        self.published.append(event)
        self._queue.append(event)

    def subscribe(
        self, mailbox: str | None, subscriber: Callable[[MailEvent], object]
    ) -> ISubscription:
        subscription = _Subscription(mailbox, subscriber, self)
        self.subscriptions.append(subscription)
        return subscription

    def flush(self) -> None:
        """
        Tell subscribers of every event published so far (and of those their
        callbacks publish).  A failing subscriber is skipped, as the real
        hub skips it.
        """
        while self._queue:
            event = self._queue.pop(0)
            for subscription in list(self.subscriptions):
                if subscription.mailbox in (None, event.mailbox):
                    try:
                        subscription.subscriber(event)
                    except Exception:
                        continue
