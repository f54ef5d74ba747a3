"""
L{Metrics} and its wrappers, on the shipped doubles: what each part counts,
and that no label names a mailbox.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import pytest_twisted
from twisted.internet.task import Clock

from tempmail.events import DeletionReason
from tempmail.hub import EventHub
from tempmail.interfaces import StorageUnavailable
from tempmail.metrics import MeasuredFailureLimiter, MeasuredMailStore, Metrics
from tempmail.models import StoreStatistics
from tempmail.outbox import deletion
from tempmail.ratelimit import MemoryFailureLimiter
from tempmail.testing import MemoryMailStore
from tests.support import fired, incoming


def value(metrics: Metrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


@pytest_twisted.ensureDeferred
async def test_the_store_wrapper_times_operations_and_counts_what_is_stored() -> None:
    metrics = Metrics()
    store = MeasuredMailStore(MemoryMailStore(), metrics)
    message = incoming("secret-name@example.com", "other@example.com")
    copies = await store.deliver(message)
    assert len(copies) == 2
    assert value(metrics, "tempmail_messages_stored_total") == 1
    assert value(metrics, "tempmail_message_bytes_stored_total") == len(message.raw)
    await store.list_messages("secret-name@example.com", 10)
    assert value(metrics, "tempmail_store_operation_seconds_count", operation="deliver") == 1
    assert value(metrics, "tempmail_store_operation_seconds_count", operation="list_messages") == 1
    await store.close()
    with pytest.raises(StorageUnavailable):
        await store.check_health()
    assert value(metrics, "tempmail_store_operation_failures_total", operation="check_health") == 1
    scraped = metrics.exposition()
    assert b"secret-name" not in scraped
    assert b"example.com" not in scraped
    assert b"process_cpu_seconds_total" in scraped


@pytest_twisted.ensureDeferred
async def test_the_limiter_wrapper_counts_failures_and_blocks() -> None:
    metrics = Metrics()
    limiter = MeasuredFailureLimiter(
        MemoryFailureLimiter(Clock(), free_failures=1, max_delay=60), metrics
    )
    keys = ["mailbox:a", "ip:192.0.2.1"]
    assert await limiter.retry_after(keys) == 0
    await limiter.record_failure(keys)
    await limiter.record_failure(keys)
    assert await limiter.retry_after(keys) > 0
    assert value(metrics, "tempmail_login_failures_total") == 2
    assert value(metrics, "tempmail_limiter_blocks_total") == 1


def test_retention_deletions_are_counted_from_the_hub() -> None:
    clock = Clock()
    hub = EventHub(clock)
    metrics = Metrics()
    metrics.watch(hub)
    store = MemoryMailStore()
    fired(store.deliver(incoming("a@example.com")))
    (summary,) = fired(store.list_messages("a@example.com", 10)).summaries
    hub.publish(deletion(summary, DeletionReason.RETENTION))
    hub.publish(deletion(summary, DeletionReason.DELETED))
    clock.advance(0)
    assert value(metrics, "tempmail_retention_deleted_messages_total") == 1


def test_sessions_are_read_at_each_scrape() -> None:
    metrics = Metrics()
    open_now = [3]
    metrics.count_sessions("smtp", lambda: open_now[0])
    assert value(metrics, "tempmail_sessions", protocol="smtp") == 3
    open_now[0] = 1
    assert value(metrics, "tempmail_sessions", protocol="smtp") == 1


def test_the_store_gauges_show_the_statistics_and_the_queue_age() -> None:
    metrics = Metrics()
    oldest = datetime(2026, 1, 1, tzinfo=UTC)
    metrics.store_holds(StoreStatistics(3, 7, 4096, 2, oldest), oldest + timedelta(seconds=90))
    assert value(metrics, "tempmail_mailboxes") == 3
    assert value(metrics, "tempmail_messages") == 7
    assert value(metrics, "tempmail_database_bytes") == 4096
    assert value(metrics, "tempmail_webhook_queue_depth") == 2
    assert value(metrics, "tempmail_webhook_queue_oldest_seconds") == 90
    metrics.store_holds(StoreStatistics(3, 7, 4096, 0, None), oldest)
    assert value(metrics, "tempmail_webhook_queue_oldest_seconds") == 0
