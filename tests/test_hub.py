"""
The event hub contract, run against the real L{EventHub} (on a L{Clock}) and
the shipped L{RecordingEventHub}; and the real hub's order on the real
reactor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import Clock, deferLater
from zope.interface.verify import verifyObject

from tempmail.events import DeletionReason, EventKind, MailEvent
from tempmail.hub import EventHub
from tempmail.interfaces import IEventHub, ISubscription
from tempmail.models import MessageSummary
from tempmail.testing import RecordingEventHub

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def summary(id: str = "m1", mailbox: str = "a@x.test") -> MessageSummary:
    return MessageSummary(id, mailbox, 1, "f@x.test", "s", T0, 10, False, 0, "p")


def arrival(id: str, mailbox: str = "a@x.test") -> MailEvent:
    return MailEvent(EventKind.ARRIVAL, mailbox, summary(id, mailbox))


def deletion(id: str, mailbox: str = "a@x.test") -> MailEvent:
    return MailEvent(EventKind.DELETION, mailbox, summary(id, mailbox), DeletionReason.DELETED)


@dataclass
class Hub:
    """
    A hub under test, and how to let "a later turn" happen on it.
    """

    hub: IEventHub
    settle: Callable[[], None]


@pytest.fixture(params=["EventHub", "RecordingEventHub"])
def hub(request: pytest.FixtureRequest) -> Iterator[Hub]:
    if request.param == "EventHub":
        clock = Clock()
        yield Hub(EventHub(clock), lambda: clock.advance(0))
    else:
        fake = RecordingEventHub()
        yield Hub(fake, fake.flush)


def test_provides_the_interfaces(hub: Hub) -> None:
    assert verifyObject(IEventHub, hub.hub)
    assert verifyObject(ISubscription, hub.hub.subscribe(None, lambda event: None))


def test_events_arrive_later_in_order_and_only_where_subscribed(hub: Hub) -> None:
    mine: list[MailEvent] = []
    everything: list[MailEvent] = []
    other: list[MailEvent] = []
    hub.hub.subscribe("a@x.test", mine.append)
    hub.hub.subscribe(None, everything.append)
    hub.hub.subscribe("b@x.test", other.append)
    events = [arrival("m1"), deletion("m1"), arrival("m2")]
    for event in events:
        hub.hub.publish(event)
    assert mine == []
    hub.settle()
    assert mine == events
    assert everything == events
    assert other == []


def test_a_failing_subscriber_does_not_stop_the_others(hub: Hub, logged_errors: Any) -> None:
    after: list[MailEvent] = []

    def broken(event: MailEvent) -> None:
        raise RuntimeError("subscriber bug")

    hub.hub.subscribe("a@x.test", broken)
    hub.hub.subscribe("a@x.test", after.append)
    hub.hub.publish(arrival("m1"))
    hub.settle()
    assert after == [arrival("m1")]
    # The real hub logs the failure; the fake only skips it.
    assert logged_errors.take() in ([], ["an event subscriber failed on arrival"])


def test_cancelled_subscriptions_hear_nothing(hub: Hub) -> None:
    heard: list[MailEvent] = []
    subscription = hub.hub.subscribe("a@x.test", heard.append)
    assert subscription.mailbox == "a@x.test"
    subscription.cancel()
    subscription.cancel()
    hub.hub.publish(arrival("m1"))
    hub.settle()
    assert heard == []


def test_events_published_by_a_subscriber_come_after_the_rest(hub: Hub) -> None:
    heard: list[str] = []

    def echo(event: MailEvent) -> None:
        assert event.summary is not None
        heard.append(event.summary.id)
        if event.summary.id == "m1":
            hub.hub.publish(arrival("echo"))

    hub.hub.subscribe(None, echo)
    hub.hub.publish(arrival("m1"))
    hub.hub.publish(arrival("m2"))
    hub.settle()
    assert heard == ["m1", "m2", "echo"]


def test_the_real_hub_drains_one_queue_in_one_call() -> None:
    clock = Clock()
    hub = EventHub(clock)
    for n in range(5):
        hub.publish(arrival(f"m{n}"))
    # One scheduled call for any number of events: their order cannot
    # depend on how the reactor orders its timers.
    assert len(clock.getDelayedCalls()) == 1
    clock.advance(0)
    assert hub.subscriber_count() == 0
    assert clock.getDelayedCalls() == []


@pytest_twisted.ensureDeferred
async def test_order_holds_on_the_real_reactor() -> None:
    hub = EventHub(reactor)
    heard: list[str] = []
    done: Deferred[None] = Deferred()
    count = 500

    def listen(event: MailEvent) -> None:
        assert event.summary is not None
        heard.append(f"{event.kind.value}:{event.summary.id}")
        if len(heard) == 2 * count:
            done.callback(None)

    hub.subscribe("a@x.test", listen)
    others = []
    for n in range(count):
        hub.publish(arrival(f"m{n}"))
        # Other timers in between, as SMTP and HTTP schedule theirs.
        others.append(deferLater(reactor, 0, lambda: None))
        hub.publish(deletion(f"m{n}"))
    await done.addTimeout(10, reactor)
    await gatherResults(others)
    expected = [f"{kind}:m{n}" for n in range(count) for kind in ("arrival", "deletion")]
    assert heard == expected
