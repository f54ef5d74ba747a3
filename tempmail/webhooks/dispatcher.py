"""
Webhook delivery: events become stored deliveries, sent with retries.

The dispatcher listens to every mailbox on the L{IEventHub}.  For each
event, every enabled webhook of that mailbox that wants it gets a
L{NewDelivery}, stored before anything is sent, so a restart resumes what
was pending.  A pump sends due deliveries, at most C{concurrency} at once
and C{per_webhook} per webhook, and records each attempt.  SMTP never waits
on any of this: events reach the dispatcher after the commit, on a later
reactor turn, and the dispatcher only queues work.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from twisted.application.service import Service
from twisted.internet.defer import CancelledError, Deferred, DeferredList
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall, deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure

from tempmail.events import EventKind, MailEvent
from tempmail.interfaces import IEventHub, IMailStore, ISubscription
from tempmail.models import AttemptOutcome, DeliveryAttempt, DueDelivery, NewDelivery
from tempmail.webhooks.payloads import EVENT_NAMES, event_payload
from tempmail.webhooks.sender import AttemptResult, WebhookSender

log = Logger()

# Delays before attempts 2, 3, ... in units of the retry base (10 s by
# default): 10 s, 1 min, 5 min, 15 min, 40 min; six attempts span an hour.
RETRY_STEPS = (1, 6, 30, 90, 240)
PRUNE_INTERVAL = 3600.0


def retry_delay(attempts_made: int, base: float, jitter: Callable[[], float]) -> float:
    """
    Seconds to wait after C{attempts_made} attempts, with jitter (a factor
    from C{jitter()}, 0.8 to 1.2 in the daemon) so that retries spread out.
    """
    step = RETRY_STEPS[min(attempts_made, len(RETRY_STEPS)) - 1]
    return base * step * jitter()


def judge(result: AttemptResult) -> tuple[bool, bool, str | None]:
    """
    What an attempt means: C{(delivered, worth retrying, disable reason)}.

    2xx is delivered; 410 disables the webhook; redirects (never followed),
    other 4xx (but 408 and 429) and refused targets are final; the rest is
    retried.
    """
    status = result.status
    if result.refused:
        return False, False, None
    if status is not None and 200 <= status < 300:
        return True, False, None
    if status == 410:
        return False, False, "the target answered 410 Gone"
    if status is not None and 300 <= status < 500 and status not in (408, 429):
        return False, False, None
    return False, True, None


class WebhookDispatcher(Service):
    """
    Turns events into deliveries and sends them.
    """

    def __init__(
        self,
        store: IMailStore,
        hub: IEventHub,
        sender: WebhookSender,
        clock: IReactorTime,
        max_attempts: int = 6,
        retry_base: float = 10.0,
        disable_after: int = 50,
        concurrency: int = 10,
        per_webhook: int = 2,
        poll_interval: float = 1.0,
        jitter: Callable[[], float] = lambda: random.uniform(0.8, 1.2),
        keep_log_for: timedelta = timedelta(days=7),
    ) -> None:
        self.setName("webhooks")
        self.store = store
        self.hub = hub
        self.sender = sender
        self.clock = clock
        self.max_attempts = max_attempts
        self.retry_base = retry_base
        self.disable_after = disable_after
        self.concurrency = concurrency
        self.per_webhook = per_webhook
        self.jitter = jitter
        self._subscription: ISubscription | None = None
        self._enqueueing: set[Deferred[None]] = set()
        self._sending: dict[str, tuple[str, Deferred[None]]] = {}
        self._pumping = False
        self._pump_again = False
        self.keep_log_for = keep_log_for
        self._poll = LoopingCall(self.pump)
        self._poll.clock = clock
        self._prune = LoopingCall(self._prune_log)
        self._prune.clock = clock
        # Retries come due between polls; a short retry base (in tests)
        # polls as often.
        self._poll_interval = min(poll_interval, retry_base)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.seconds(), tz=UTC)

    def startService(self) -> None:
        super().startService()
        self._subscription = self.hub.subscribe(None, self._on_event)
        # The poll finds retries that have come due, and, at startup, the
        # deliveries a previous run left pending.
        self._poll.start(self._poll_interval, now=True)
        self._prune.start(PRUNE_INTERVAL, now=False)

    async def _stop(self) -> None:
        # Let events already published reach us, and store what they made.
        await deferLater(self.clock, 0, lambda: None)
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None
        await DeferredList(list(self._enqueueing), consumeErrors=True)
        # Attempts under way are abandoned, unrecorded: still pending in the
        # store, they are made again after a restart.
        for _, sending in list(self._sending.values()):
            sending.cancel()

    def stopService(self) -> Deferred[None]:
        super().stopService()
        for loop in (self._poll, self._prune):
            if loop.running:
                loop.stop()
        return Deferred.fromCoroutine(self._stop())

    def _prune_log(self) -> Deferred[None]:
        """
        Forget finished deliveries (bodies and attempt log) past their keep.
        """
        pruned = self.store.prune_deliveries(self._now() - self.keep_log_for)
        return pruned.addCallbacks(
            lambda count: None,
            lambda f: log.failure("pruning webhook deliveries failed", f),
        )

    # Events to deliveries

    def _on_event(self, event: MailEvent) -> None:
        if event.kind.value not in EVENT_NAMES or event.summary is None:
            return
        d = Deferred.fromCoroutine(self._enqueue(event))
        self._enqueueing.add(d)
        d.addErrback(lambda f: log.failure("webhook deliveries not stored", f))
        d.addBoth(lambda _: self._enqueueing.discard(d))

    async def _enqueue(self, event: MailEvent) -> None:
        hooks = await self.store.webhooks_for(event.mailbox, event.kind.value)
        if not hooks:
            return
        assert event.summary is not None
        body = event.summary.preview
        if event.kind is not EventKind.DELETION:
            found = await self.store.get_messages([event.summary.id])
            if found:
                body = found[0].html or found[0].text
        now = self._now()
        deliveries = []
        for hook in hooks:
            delivery_id = str(uuid.uuid4())
            payload = event_payload(event, hook.id, delivery_id, body, now)
            deliveries.append(NewDelivery(delivery_id, hook.id, event.kind.value, payload, now))
        await self.store.add_deliveries(deliveries)
        self.pump()

    # Sending

    def pump(self) -> None:
        """
        Start every due delivery there is room for.
        """
        if not self.running:
            return
        if self._pumping:
            self._pump_again = True
            return
        self._pumping = True
        d = Deferred.fromCoroutine(self._pump())
        d.addErrback(lambda f: log.failure("webhook pump failed", f))

    def _busy_webhooks(self) -> list[str]:
        counts = Counter(hook for hook, _ in self._sending.values())
        return [hook for hook, count in counts.items() if count >= self.per_webhook]

    async def _pump(self) -> None:
        try:
            while self.running:
                self._pump_again = False
                started = 0
                room = self.concurrency - len(self._sending)
                if room > 0:
                    due = await self.store.due_deliveries(
                        self._now(),
                        room,
                        exclude=list(self._sending),
                        skip_webhooks=self._busy_webhooks(),
                    )
                    started = sum(self._maybe_send(delivery) for delivery in due)
                # Go round again if that filled a webhook (others may be due)
                # or if something finished meanwhile.
                if not (started or self._pump_again):
                    return
        finally:
            self._pumping = False

    def _maybe_send(self, delivery: DueDelivery) -> bool:
        if len(self._sending) >= self.concurrency:
            return False
        busy = sum(1 for hook, _ in self._sending.values() if hook == delivery.webhook_id)
        if busy >= self.per_webhook:
            return False
        d = Deferred.fromCoroutine(self._send(delivery))
        self._sending[delivery.id] = (delivery.webhook_id, d)

        def done(result: object) -> None:
            self._sending.pop(delivery.id, None)
            self.pump()

        d.addErrback(_unless_cancelled)
        d.addBoth(done)
        return True

    async def _send(self, delivery: DueDelivery) -> None:
        result = await self.sender.send(
            delivery.url, delivery.secret, delivery.event, delivery.id, delivery.payload
        )
        attempt_number = delivery.attempts + 1
        delivered, retry, disable_reason = judge(result)
        retry_at = None
        if retry and attempt_number < self.max_attempts:
            delay = retry_delay(attempt_number, self.retry_base, self.jitter)
            retry_at = self._now() + timedelta(seconds=delay)
        attempt = DeliveryAttempt(
            delivery.id,
            delivery.event,
            attempt_number,
            self._now(),
            result.status,
            result.error,
            result.duration_ms,
        )
        outcome = AttemptOutcome(attempt, delivery.webhook_id, delivered, retry_at, disable_reason)
        hook = await self.store.record_attempt(outcome, self.disable_after)
        if hook is not None and not hook.enabled:
            log.warn(
                "webhook {webhook_disabled} disabled: {reason}",
                webhook_disabled=hook.id,
                reason=hook.disabled_reason,
            )


def _unless_cancelled(failure: Failure) -> None:
    # A cancelled attempt (at shutdown) stays pending in the store.
    if not failure.check(CancelledError):
        log.failure("webhook attempt failed", failure)
