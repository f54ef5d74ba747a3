"""
Webhook delivery: stored deliveries, sent with retries under a lease.

The deliveries are already stored: each change that webhooks hear of wrote
its own in the same transaction (L{tempmail.outbox}).  The dispatcher only
sends what is stored.  Its pump claims due deliveries with a lease (this
dispatcher's id and an expiry), at most C{concurrency} at once and
C{per_webhook} per webhook, sends each, and records the attempt, which ends
the lease.  Two dispatchers on one database never send the same attempt,
and if one crashes its leased deliveries are taken over when the lease
ends.  The pump runs when an event says something was committed, and on a
poll for retries that have come due (and for other daemons' changes).
SMTP never waits on any of this.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from twisted.application.service import Service
from twisted.internet.defer import CancelledError, Deferred, DeferredList
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from tempmail.events import MailEvent
from tempmail.interfaces import IEventHub, ISubscription, IWebhookStore
from tempmail.models import AttemptOutcome, DeliveryAttempt, DueDelivery
from tempmail.outbox import EVENT_NAMES
from tempmail.times import clock_now
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
    Sends stored deliveries, under leases, with retries.

    @ivar owner: this dispatcher's id in the leases it takes.
    @ivar lease: how long it holds a delivery it is attempting; longer than
        an attempt may take, so a lease only ends early if the owner died.
    """

    def __init__(
        self,
        store: IWebhookStore,
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
        lease: timedelta = timedelta(seconds=60),
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
        self.keep_log_for = keep_log_for
        self.lease = lease
        self.owner = uuid.uuid4().hex
        self._subscription: ISubscription | None = None
        self._sending: dict[str, Deferred[None]] = {}
        self._pumping = False
        self._pump_again = False
        self._poll = LoopingCall(self.pump)
        self._poll.clock = clock
        self._prune = LoopingCall(self._prune_log)
        self._prune.clock = clock
        # Retries come due between polls; a short retry base (in tests)
        # polls as often.
        self._poll_interval = min(poll_interval, retry_base)

    def _now(self) -> datetime:
        return clock_now(self.clock)

    def startService(self) -> None:
        super().startService()
        self._subscription = self.hub.subscribe(None, self._on_event)
        # The poll finds retries that have come due, deliveries a previous
        # run left pending, and those other daemons committed.
        self._poll.start(self._poll_interval, now=True)
        self._prune.start(PRUNE_INTERVAL, now=False)

    async def _stop(self) -> None:
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None
        # Attempts under way are abandoned, unrecorded, and their leases
        # given back: still pending, they are made again at the next start
        # (or by another daemon) without waiting for the lease to run out.
        sending = list(self._sending.values())
        for attempt in sending:
            attempt.cancel()
        await DeferredList(sending, consumeErrors=True)
        await self.store.release_deliveries(self.owner)

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

    def _on_event(self, event: MailEvent) -> None:
        # The change and its deliveries were committed together; the event
        # only says there may be something to send now.  Mail to a mailbox
        # without webhooks owes nothing: no claim (no transaction) for it.
        if event.kind.value in EVENT_NAMES and self.store.may_owe_deliveries(event.mailbox):
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

    async def _pump(self) -> None:
        try:
            while self.running:
                self._pump_again = False
                room = self.concurrency - len(self._sending)
                if room > 0:
                    now = self._now()
                    due = await self.store.claim_deliveries(
                        self.owner, now, now + self.lease, room, self.per_webhook
                    )
                    for delivery in due:
                        self._start(delivery)
                # Go round again if something finished, or was committed,
                # while the claim ran.
                if not self._pump_again:
                    return
        finally:
            self._pumping = False

    def _start(self, delivery: DueDelivery) -> None:
        d = Deferred.fromCoroutine(self._send(delivery))
        self._sending[delivery.id] = d

        def done(result: object) -> None:
            self._sending.pop(delivery.id, None)
            self.pump()

        d.addErrback(_unless_cancelled)
        d.addBoth(done)

    async def _send(self, delivery: DueDelivery) -> None:
        result = await self.sender.send(
            delivery.url, delivery.secret, delivery.event, delivery.id, delivery.payload
        )
        if not self.running:
            # Cut short by a shutdown, which gives the lease back: the
            # attempt is made again in full, so it is not recorded.
            return
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
        hook = await self.store.record_attempt(self.owner, outcome, self.disable_after)
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
