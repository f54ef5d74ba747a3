"""
Retention on a L{Clock}: sweeps by age in batches with a turn between them,
on its interval, and by count per mailbox.
"""

from __future__ import annotations

from datetime import timedelta

from twisted.internet.task import Clock

from tempmail.events import DeletionReason, EventKind, MailEvent
from tempmail.hub import EventHub
from tempmail.publishing import PublishingMailStore
from tempmail.retention import BATCH, RetentionService
from tempmail.testing import MemoryMailStore
from tests.support import T0, fired, incoming


def test_retention_sweeps_on_its_interval_in_batches() -> None:
    clock = Clock()
    clock.advance(T0.timestamp())
    hub = EventHub(clock)
    heard: list[MailEvent] = []
    hub.subscribe(None, heard.append)
    store = PublishingMailStore(MemoryMailStore(clock), hub)
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
    deletions = [e for e in heard if e.kind is EventKind.DELETION]
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
    store = MemoryMailStore(clock)
    for n in range(5):
        fired(store.deliver(incoming("busy@x.test", subject=f"n{n}")))
    service = RetentionService(store, clock, 60, keep_per_mailbox=2)
    service.startService()
    page = fired(store.list_messages("busy@x.test", 10))
    assert [s.subject for s in page.summaries] == ["n4", "n3"]
    fired(service.stopService())
