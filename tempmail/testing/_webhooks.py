"""
The webhook role (L{IWebhookStore}) of L{tempmail.testing.MemoryMailStore}.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import replace
from datetime import datetime

from twisted.internet.defer import Deferred, succeed

from tempmail.models import (
    AttemptOutcome,
    DeliveryAttempt,
    DueDelivery,
    MailboxGrant,
    Webhook,
    WebhookChange,
)
from tempmail.testing._locks import MemoryLocks
from tempmail.testing._state import write


class MemoryWebhooks(MemoryLocks):
    """
    Webhooks, deliveries and their leases in dictionaries.
    """

    def _granted_webhook(self, grant: MailboxGrant, id: str) -> Webhook | None:
        self._granted(grant)
        hook = self._webhooks.get(id)
        return hook if hook is not None and hook.mailbox == grant.mailbox else None

    @write
    def create_webhook(
        self, grant: MailboxGrant, url: str, events: tuple[str, ...], secret: str, limit: int
    ) -> Deferred[Webhook | None]:
        self._granted(grant)
        self._mailbox(grant.mailbox)
        if sum(1 for hook in self._webhooks.values() if hook.mailbox == grant.mailbox) >= limit:
            return succeed(None)
        hook = Webhook(str(uuid.uuid4()), grant.mailbox, url, events, secret, True, self._now())
        self._webhooks[hook.id] = hook
        return succeed(hook)

    def may_owe_deliveries(self, mailbox: str) -> bool:
        return any(h.mailbox == mailbox and h.enabled for h in self._webhooks.values())

    def list_webhooks(self, mailbox: str) -> Deferred[list[Webhook]]:
        hooks = [hook for hook in self._webhooks.values() if hook.mailbox == mailbox]
        return succeed(sorted(hooks, key=lambda hook: hook.created_at, reverse=True))

    def get_webhook(self, id: str) -> Deferred[Webhook | None]:
        return succeed(self._webhooks.get(id))

    @write
    def update_webhook(
        self, grant: MailboxGrant, id: str, change: WebhookChange
    ) -> Deferred[Webhook | None]:
        hook = self._granted_webhook(grant, id)
        if hook is None:
            return succeed(None)
        if change.url is not None:
            hook = replace(hook, url=change.url)
        if change.events is not None:
            hook = replace(hook, events=change.events)
        if change.enabled is not None:
            hook = replace(
                hook, enabled=change.enabled, disabled_reason=None, consecutive_failures=0
            )
            if not change.enabled:
                self._abandon_pending(id)
        self._webhooks[id] = hook
        return succeed(hook)

    @write
    def delete_webhook(self, grant: MailboxGrant, id: str) -> Deferred[bool]:
        if self._granted_webhook(grant, id) is None:
            return succeed(False)
        return succeed(self._forget_webhook(id))

    @write
    def claim_deliveries(
        self, owner: str, now: datetime, lease_until: datetime, limit: int, per_webhook: int
    ) -> Deferred[list[DueDelivery]]:
        held = Counter(
            row.new.webhook_id
            for row in self._deliveries.values()
            if row.lease_until is not None and row.lease_until > now
        )
        candidates = []
        for row in self._deliveries.values():
            hook = self._webhooks.get(row.new.webhook_id)
            leased = row.lease_until is not None and row.lease_until > now
            if row.next_at is None or row.next_at > now or leased or not hook or not hook.enabled:
                continue
            candidates.append((row.next_at, row.new.id, row, hook))
        candidates.sort(key=lambda c: (c[0], c[1]))
        due: list[DueDelivery] = []
        for _, _, row, hook in candidates:
            if len(due) >= limit:
                break
            if held[hook.id] >= per_webhook:
                continue
            held[hook.id] += 1
            row.lease_owner, row.lease_until = owner, lease_until
            new = row.new
            due.append(
                DueDelivery(
                    new.id, hook.id, hook.url, hook.secret, new.event, new.payload, row.attempts
                )
            )
        return succeed(due)

    @write
    def release_deliveries(self, owner: str) -> Deferred[int]:
        released = 0
        for row in self._deliveries.values():
            if row.lease_owner == owner:
                row.lease_owner = row.lease_until = None
                released += 1
        return succeed(released)

    def _abandon_pending(self, webhook_id: str) -> None:
        for row in self._deliveries.values():
            if row.new.webhook_id == webhook_id:
                row.next_at = None

    @write
    def record_attempt(
        self, owner: str, outcome: AttemptOutcome, disable_after: int
    ) -> Deferred[Webhook | None]:
        attempt = outcome.attempt
        row = self._deliveries.get(attempt.delivery_id)
        hook = self._webhooks.get(outcome.webhook_id)
        if row is None or row.lease_owner != owner or hook is None:
            return succeed(None)
        row.attempts = attempt.attempt
        row.next_at = outcome.retry_at if hook.enabled else None
        row.lease_owner = row.lease_until = None
        self._attempts.append((outcome.webhook_id, attempt))
        if outcome.delivered:
            hook = replace(hook, consecutive_failures=0)
        else:
            hook = replace(hook, consecutive_failures=hook.consecutive_failures + 1)
            reason = outcome.disable_reason
            if reason is None and hook.consecutive_failures >= disable_after:
                reason = f"disabled after {hook.consecutive_failures} consecutive failed attempts"
            if reason is not None:
                hook = replace(hook, enabled=False, disabled_reason=reason)
                self._abandon_pending(hook.id)
        self._webhooks[hook.id] = hook
        return succeed(hook)

    @write
    def prune_deliveries(self, finished_before: datetime) -> Deferred[int]:
        finished = [
            id
            for id, row in self._deliveries.items()
            if row.next_at is None and row.new.due_at < finished_before
        ]
        for id in finished:
            del self._deliveries[id]
        gone = set(finished)
        self._attempts = [(hook, a) for hook, a in self._attempts if a.delivery_id not in gone]
        return succeed(len(finished))

    def list_attempts(self, webhook_id: str, limit: int) -> Deferred[list[DeliveryAttempt]]:
        mine = [a for hook, a in self._attempts if hook == webhook_id]
        mine.sort(key=lambda a: (a.at, a.attempt), reverse=True)
        return succeed(mine[:limit])
