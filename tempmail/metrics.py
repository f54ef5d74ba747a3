"""
What C{/metrics} reports, in the Prometheus text format (prometheus_client).

L{Metrics} owns one registry per daemon (never the library's global one, so
tests can run many daemons in one process) and the metric objects.  The
parts of the daemon feed it without knowing Prometheus:

 - L{MeasuredMailStore} wraps the store: a latency histogram per operation,
   messages and bytes stored, and webhook attempts by outcome;
 - L{MeasuredFailureLimiter} wraps the failure limiter: wrong passwords and
   the checks it held back;
 - the hub tells it of retention deletions (L{Metrics.watch});
 - session counts are read when scraped, from the objects that keep them
   (L{Metrics.count_sessions});
 - SMTP reports what it received and refused through L{Metrics.smtp}.

No label ever holds an address or a mailbox name: labels are operation
names, outcomes and reasons, fixed sets known in advance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from time import perf_counter
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from zope.interface import implementer

from tempmail.events import DeletionReason, EventKind, MailEvent
from tempmail.interfaces import IEventHub, IFailureLimiter, IMailStore
from tempmail.models import AttemptOutcome, IncomingMessage, StoreStatistics

STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
"""Store latency buckets, in seconds: most operations take a millisecond or two."""

CONTENT_TYPE = CONTENT_TYPE_LATEST


class SmtpMetrics:
    """
    What the SMTP listener counts.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.sessions_total = Counter(
            "tempmail_smtp_sessions", "SMTP sessions accepted.", registry=registry
        )
        self.received = Counter(
            "tempmail_smtp_messages_received",
            "Messages whose DATA ended, before storing.",
            registry=registry,
        )
        self.received_bytes = Counter(
            "tempmail_smtp_received_bytes",
            "Bytes of the messages whose DATA ended.",
            registry=registry,
        )
        self.refused = Counter(
            "tempmail_smtp_refused",
            "Commands and messages refused, by reason.",
            ["reason"],
            registry=registry,
        )

    def session_started(self) -> None:
        """
        One more SMTP session.
        """
        self.sessions_total.inc()

    def message_received(self, size: int) -> None:
        """
        A message's DATA ended with C{size} bytes.
        """
        self.received.inc()
        self.received_bytes.inc(size)

    def refusal(self, reason: str) -> None:
        """
        A 4xx or 5xx reply: C{reason} is its enhanced status code, such as
        C{5.3.4} (too big), from the fixed set of replies tempmail sends.
        """
        self.refused.labels(reason).inc()


class Metrics:
    """
    The daemon's metrics and their registry.
    """

    def __init__(self) -> None:
        registry = self.registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        self.smtp = SmtpMetrics(registry)
        self.stored = Counter(
            "tempmail_messages_stored",
            "Messages stored (SMTP, IMAP APPEND, imports), once each whatever the recipients.",
            registry=registry,
        )
        self.stored_bytes = Counter(
            "tempmail_message_bytes_stored", "Bytes of the messages stored.", registry=registry
        )
        self.store_seconds = Histogram(
            "tempmail_store_operation_seconds",
            "Time the store took, by operation.",
            ["operation"],
            buckets=STORE_BUCKETS,
            registry=registry,
        )
        self.store_failures = Counter(
            "tempmail_store_operation_failures",
            "Store operations that failed, by operation.",
            ["operation"],
            registry=registry,
        )
        self.webhook_attempts = Counter(
            "tempmail_webhook_attempts",
            "Webhook delivery attempts, by outcome: delivered, retrying, failed, disabled.",
            ["outcome"],
            registry=registry,
        )
        self.retention_deleted = Counter(
            "tempmail_retention_deleted_messages",
            "Messages deleted by retention.",
            registry=registry,
        )
        self.login_failures = Counter(
            "tempmail_login_failures",
            "Wrong passwords, on every door.",
            registry=registry,
        )
        self.limiter_blocks = Counter(
            "tempmail_limiter_blocks",
            "Password checks refused by the failure limiter (429, IMAP NO, ...).",
            registry=registry,
        )
        self.sessions = Gauge(
            "tempmail_sessions",
            "Sessions open now, by protocol: smtp, imap, websocket, mcp.",
            ["protocol"],
            registry=registry,
        )

        self.mailboxes = Gauge("tempmail_mailboxes", "Mailboxes in the store.", registry=registry)
        self.messages = Gauge(
            "tempmail_messages", "Message copies in the store (one per mailbox).", registry=registry
        )
        self.database_bytes = Gauge(
            "tempmail_database_bytes", "Bytes the store takes.", registry=registry
        )
        self.webhook_queue = Gauge(
            "tempmail_webhook_queue_depth",
            "Webhook deliveries pending (not yet delivered or given up).",
            registry=registry,
        )
        self.webhook_queue_age = Gauge(
            "tempmail_webhook_queue_oldest_seconds",
            "Age of the oldest pending webhook delivery; 0 when none is pending.",
            registry=registry,
        )

    def store_holds(self, statistics: StoreStatistics, now: datetime) -> None:
        """
        Set the store's gauges from its L{StoreStatistics}, read at C{now}.
        """
        self.mailboxes.set(statistics.mailboxes)
        self.messages.set(statistics.messages)
        self.database_bytes.set(statistics.size)
        self.webhook_queue.set(statistics.pending_deliveries)
        oldest = statistics.oldest_pending
        self.webhook_queue_age.set(0 if oldest is None else (now - oldest).total_seconds())

    def count_sessions(self, protocol: str, count: Callable[[], int]) -> None:
        """
        Report C{count()} as the sessions of C{protocol} open at each scrape.
        """
        self.sessions.labels(protocol).set_function(count)

    def add_gauge(self, name: str, help: str) -> Gauge:
        """
        A gauge in this registry, for values other parts refresh.
        """
        return Gauge(name, help, registry=self.registry)

    def watch(self, hub: IEventHub) -> None:
        """
        Count retention deletions as the hub announces them.
        """
        hub.subscribe(None, self._on_event)

    def _on_event(self, event: MailEvent) -> None:
        if event.kind is EventKind.DELETION and event.reason is DeletionReason.RETENTION:
            self.retention_deleted.inc()

    def exposition(self) -> bytes:
        """
        Every metric in the Prometheus text format.
        """
        return generate_latest(self.registry)

    def attempt(self, outcome: AttemptOutcome) -> None:
        """
        Count one webhook attempt by what it meant.
        """
        if outcome.delivered:
            label = "delivered"
        elif outcome.disable_reason is not None:
            label = "disabled"
        elif outcome.retry_at is not None:
            label = "retrying"
        else:
            label = "failed"
        self.webhook_attempts.labels(label).inc()


@implementer(IMailStore)
class MeasuredMailStore:
    """
    An L{IMailStore} wrapper that times every operation and counts what
    was stored and what webhook attempts meant.  Everything else passes
    through unchanged.
    """

    def __init__(self, store: IMailStore, metrics: Metrics) -> None:
        self._store = store
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if name.startswith("_") or not callable(attribute):
            return attribute
        histogram = self._metrics.store_seconds.labels(name)
        failures = self._metrics.store_failures.labels(name)
        count = _COUNTERS.get(name)
        metrics = self._metrics

        def measured(*args: Any, **kwargs: Any) -> Any:
            started = perf_counter()
            result = attribute(*args, **kwargs)
            if not isinstance(result, Deferred):
                return result

            def observed(outcome: Any) -> Any:
                histogram.observe(perf_counter() - started)
                if isinstance(outcome, Failure):
                    failures.inc()
                elif count is not None:
                    count(metrics, args)
                return outcome

            return result.addBoth(observed)

        # Built once per operation: later lookups find the attribute itself.
        setattr(self, name, measured)
        return measured


def _count_delivery(metrics: Metrics, args: Sequence[Any]) -> None:
    message: IncomingMessage = args[0]
    metrics.stored.inc()
    metrics.stored_bytes.inc(len(message.raw))


def _count_attempt(metrics: Metrics, args: Sequence[Any]) -> None:
    metrics.attempt(args[1])


_COUNTERS: dict[str, Callable[[Metrics, Sequence[Any]], None]] = {
    "deliver": _count_delivery,
    "record_attempt": _count_attempt,
}


@implementer(IFailureLimiter)
class MeasuredFailureLimiter:
    """
    An L{IFailureLimiter} wrapper that counts wrong passwords and the
    checks held back.
    """

    def __init__(self, limiter: IFailureLimiter, metrics: Metrics) -> None:
        self._limiter = limiter
        self._metrics = metrics

    def retry_after(self, keys: Sequence[str]) -> Deferred[float]:
        def counted(delay: float) -> float:
            if delay > 0:
                self._metrics.limiter_blocks.inc()
            return delay

        return self._limiter.retry_after(keys).addCallback(counted)

    def record_failure(self, keys: Sequence[str]) -> Deferred[None]:
        self._metrics.login_failures.inc()
        return self._limiter.record_failure(keys)

    def record_success(self, keys: Sequence[str]) -> Deferred[None]:
        return self._limiter.record_success(keys)
