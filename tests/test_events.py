"""
The event hub, the publishing store and retention, on a L{Clock}.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from tempmail.access import Credentials
from tempmail.events import DeletionReason, EventKind, MailEvent
from tempmail.hub import EventHub
from tempmail.models import MessageSummary
from tempmail.publishing import PublishingMailStore
from tempmail.retention import BATCH, RetentionService
from tempmail.testing import MemoryMailStore
from tests.support import fired, incoming, synchronous_access

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def summary(id: str = "m1", mailbox: str = "a@x.test") -> MessageSummary:
    return MessageSummary(id, mailbox, 1, "f@x.test", "s", T0, 10, False, 0, "p")


class Recorder:
    def __init__(self) -> None:
        self.events: list[MailEvent] = []

    def __call__(self, event: MailEvent) -> None:
        self.events.append(event)

    def kinds(self) -> list[tuple[str, str, str | None]]:
        return [
            (e.kind.value, e.mailbox, e.reason.value if e.reason else None) for e in self.events
        ]


def test_hub_delivers_on_a_later_turn_in_order() -> None:
    clock = Clock()
    hub = EventHub(clock)
    mine, everything, other = Recorder(), Recorder(), Recorder()
    hub.subscribe("a@x.test", mine)
    hub.subscribe(None, everything)
    hub.subscribe("b@x.test", other)
    hub.publish(MailEvent(EventKind.ARRIVAL, "a@x.test", summary()))
    hub.publish(MailEvent(EventKind.READ, "a@x.test", summary()))
    assert mine.events == []
    clock.advance(0)
    assert [e.kind for e in mine.events] == [EventKind.ARRIVAL, EventKind.READ]
    assert everything.events == mine.events
    assert other.events == []


def test_a_failing_subscriber_does_not_stop_the_others() -> None:
    clock = Clock()
    hub = EventHub(clock)
    after = Recorder()

    def broken(event: MailEvent) -> None:
        raise RuntimeError("subscriber bug")

    hub.subscribe("a@x.test", broken)
    hub.subscribe("a@x.test", after)
    hub.publish(MailEvent(EventKind.ARRIVAL, "a@x.test", summary()))
    clock.advance(0)
    assert len(after.events) == 1


def test_cancelled_subscriptions_hear_nothing() -> None:
    clock = Clock()
    hub = EventHub(clock)
    recorder = Recorder()
    subscription = hub.subscribe("a@x.test", recorder)
    assert hub.subscriber_count("a@x.test") == 1
    subscription.cancel()
    subscription.cancel()
    assert hub.subscriber_count("a@x.test") == 0
    hub.publish(MailEvent(EventKind.ARRIVAL, "a@x.test", summary()))
    clock.advance(0)
    assert recorder.events == []


@pytest.fixture
def published() -> tuple[PublishingMailStore, Recorder, Clock]:
    clock = Clock()
    hub = EventHub(clock)
    recorder = Recorder()
    hub.subscribe(None, recorder)
    return PublishingMailStore(MemoryMailStore(), hub), recorder, clock


def test_publishing_store_announces_committed_changes(
    published: tuple[PublishingMailStore, Recorder, Clock],
) -> None:
    store, recorder, clock = published
    one, two = fired(store.deliver(incoming("a@x.test", "b@x.test", subject="hello")))
    fired(store.set_seen(one.id, True))
    fired(store.set_seen(one.id, True))
    fired(store.set_seen(one.id, False))
    fired(store.delete_message(one.id))
    fired(store.delete_message(one.id))
    fired(store.empty_mailbox("b@x.test"))
    clock.advance(0)
    assert recorder.kinds() == [
        ("arrival", "a@x.test", None),
        ("arrival", "b@x.test", None),
        ("read", "a@x.test", None),
        ("deletion", "a@x.test", "deleted"),
        ("deletion", "b@x.test", "deleted"),
    ]
    arrival = recorder.events[0].summary
    assert arrival is not None
    assert (arrival.id, arrival.subject, arrival.uid) == (one.id, "hello", 1)
    assert recorder.events[-1].summary is not None
    assert recorder.events[-1].summary.id == two.id


def test_failed_writes_announce_nothing(
    published: tuple[PublishingMailStore, Recorder, Clock],
) -> None:
    store, recorder, clock = published
    assert isinstance(store.store, MemoryMailStore)
    store.store.fail_writes = True
    failures: list[Any] = []
    store.deliver(incoming("a@x.test")).addErrback(failures.append)
    clock.advance(0)
    assert len(failures) == 1
    assert recorder.events == []


def test_lock_changes_are_announced(
    published: tuple[PublishingMailStore, Recorder, Clock],
) -> None:
    store, recorder, clock = published
    access = synchronous_access(store, clock)
    fired(Deferred.fromCoroutine(access.claim("a@x.test", "s3cret-pass")))
    fired(Deferred.fromCoroutine(access.release("a@x.test", Credentials(password="s3cret-pass"))))
    clock.advance(0)
    assert recorder.kinds() == [("lock_changed", "a@x.test", None)] * 2


def test_retention_sweeps_on_its_interval_in_batches() -> None:
    clock = Clock()
    clock.advance(T0.timestamp())
    hub = EventHub(clock)
    recorder = Recorder()
    hub.subscribe(None, recorder)
    store = PublishingMailStore(MemoryMailStore(), hub)
    old = T0 - timedelta(hours=3)
    for n in range(BATCH + 5):
        fired(store.deliver(incoming("old@x.test", subject=f"n{n}", at=old)))
    fired(store.deliver(incoming("new@x.test", at=T0)))
    service = RetentionService(store, clock, 300, max_age=timedelta(hours=2))

    service.startService()
    # The first batch went at once; the rest waits for the next turn.
    assert fired(store.list_messages("old@x.test", 10)).total == 5
    clock.advance(0)
    assert fired(store.list_messages("old@x.test", 10)).total == 0
    assert fired(store.list_messages("new@x.test", 10)).total == 1
    deletions = [e for e in recorder.events if e.kind is EventKind.DELETION]
    assert len(deletions) == BATCH + 5
    assert {e.reason for e in deletions} == {DeletionReason.RETENTION}

    # Two hours on, the newer message is due at the next interval.
    clock.advance(2 * 3600 + 1)
    clock.advance(0)
    assert fired(store.list_messages("new@x.test", 10)).total == 0
    fired(service.stopService())
    assert not clock.getDelayedCalls()


def test_retention_keeps_the_newest_per_mailbox() -> None:
    clock = Clock()
    store = MemoryMailStore()
    for n in range(5):
        fired(store.deliver(incoming("busy@x.test", subject=f"n{n}")))
    service = RetentionService(store, clock, 60, keep_per_mailbox=2)
    service.startService()
    page = fired(store.list_messages("busy@x.test", 10))
    assert [s.subject for s in page.summaries] == ["n4", "n3"]
    fired(service.stopService())
