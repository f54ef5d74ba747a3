"""
The store that tells: an L{IMailStore} wrapper that publishes events.

Every backend gets events the same way: this wrapper calls the real store
and, once its Deferred has fired (the change is committed), publishes what
changed to the L{IEventHub}.  Every method is written out, so a new store
method cannot slip through unannounced: writes publish, and reads (and the
webhook and token bookkeeping, which no listener hears of) pass straight
through.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from twisted.internet.defer import Deferred
from zope.interface import implementer

from tempmail import outbox
from tempmail.events import DeletionReason, EventKind, MailEvent
from tempmail.flags import FlagMode
from tempmail.interfaces import IEventHub, IMailStore
from tempmail.models import (
    AttachmentContent,
    AttemptOutcome,
    DeliveredCopy,
    DeliveryAttempt,
    DueDelivery,
    FlagUpdate,
    IncomingMessage,
    LockState,
    MailboxGrant,
    MailboxPage,
    MailboxState,
    MessagePage,
    MessageSummary,
    StoredMessage,
    StoreStatistics,
    TokenGrant,
    Webhook,
    WebhookChange,
)
from tempmail.search import Criterion


def arrivals(message: IncomingMessage, copies: Sequence[DeliveredCopy]) -> list[MailEvent]:
    """
    The events of a delivery: one C{arrival} per mailbox copy.
    """
    return [outbox.arrival(message.summary_for(copy)) for copy in copies]


def deletions(summaries: Sequence[MessageSummary], reason: DeletionReason) -> list[MailEvent]:
    """
    The events of a deletion: one C{deletion} per copy deleted.
    """
    return [outbox.deletion(summary, reason) for summary in summaries]


def flag_changes(updates: Sequence[FlagUpdate | None]) -> list[MailEvent]:
    """
    The events of a flag write: C{flags_changed} for each copy it changed,
    and C{read} for each it marked seen.
    """
    events = []
    for update in updates:
        if update is None:
            continue
        if update.changed:
            summary = update.summary
            events.append(MailEvent(EventKind.FLAGS_CHANGED, summary.mailbox, summary))
        if update.became_seen:
            events.append(outbox.read(update.summary))
    return events


def lock_change(changed: bool, mailbox: str) -> list[MailEvent]:
    """
    The event of a claim, release or password change, if it happened.
    """
    return [MailEvent(EventKind.LOCK_CHANGED, mailbox)] if changed else []


@implementer(IMailStore)
class PublishingMailStore:
    """
    Publishes C{arrival}, C{deletion}, C{read}, C{flags_changed} and
    C{lock_changed} for the writes made through it.
    """

    def __init__(self, store: IMailStore, hub: IEventHub) -> None:
        self.store = store
        self.hub = hub

    # What publishes

    def _publish(self, events: list[MailEvent]) -> None:
        for event in events:
            self.hub.publish(event)

    def _deleted(
        self, summaries: list[MessageSummary], reason: DeletionReason
    ) -> list[MessageSummary]:
        self._publish(deletions(summaries, reason))
        return summaries

    def _flagged(self, updates: list[FlagUpdate]) -> list[FlagUpdate]:
        self._publish(flag_changes(updates))
        return updates

    def _lock_changed(self, changed: bool, mailbox: str) -> bool:
        self._publish(lock_change(changed, mailbox))
        return changed

    def deliver(self, message: IncomingMessage) -> Deferred[list[DeliveredCopy]]:
        def arrived(copies: list[DeliveredCopy]) -> list[DeliveredCopy]:
            self._publish(arrivals(message, copies))
            return copies

        return self.store.deliver(message).addCallback(arrived)

    def set_seen(self, grant: MailboxGrant, id: str, seen: bool) -> Deferred[FlagUpdate | None]:
        def flagged(update: FlagUpdate | None) -> FlagUpdate | None:
            if update is not None:
                self._flagged([update])
            return update

        return self.store.set_seen(grant, id, seen).addCallback(flagged)

    def store_flags(
        self, grant: MailboxGrant, uids: Sequence[int], flags: frozenset[str], mode: FlagMode
    ) -> Deferred[list[FlagUpdate]]:
        return self.store.store_flags(grant, uids, flags, mode).addCallback(self._flagged)

    def delete_message(self, grant: MailboxGrant, id: str) -> Deferred[MessageSummary | None]:
        def deleted(summary: MessageSummary | None) -> MessageSummary | None:
            if summary is not None:
                self._deleted([summary], DeletionReason.DELETED)
            return summary

        return self.store.delete_message(grant, id).addCallback(deleted)

    def empty_mailbox(self, grant: MailboxGrant) -> Deferred[list[MessageSummary]]:
        return self.store.empty_mailbox(grant).addCallback(self._deleted, DeletionReason.DELETED)

    def expire_messages(self, older_than: datetime, limit: int) -> Deferred[list[MessageSummary]]:
        return self.store.expire_messages(older_than, limit).addCallback(
            self._deleted, DeletionReason.RETENTION
        )

    def trim_mailboxes(self, keep: int, limit: int) -> Deferred[list[MessageSummary]]:
        return self.store.trim_mailboxes(keep, limit).addCallback(
            self._deleted, DeletionReason.RETENTION
        )

    def expunge(
        self, grant: MailboxGrant, uids: Sequence[int] | None = None
    ) -> Deferred[list[MessageSummary]]:
        return self.store.expunge(grant, uids).addCallback(self._deleted, DeletionReason.EXPUNGED)

    def claim_mailbox(self, mailbox: str, password_hash: str, token: TokenGrant) -> Deferred[bool]:
        return self.store.claim_mailbox(mailbox, password_hash, token).addCallback(
            self._lock_changed, mailbox
        )

    def change_password(
        self, mailbox: str, password_hash: str, token: TokenGrant
    ) -> Deferred[bool]:
        return self.store.change_password(mailbox, password_hash, token).addCallback(
            self._lock_changed, mailbox
        )

    def release_mailbox(self, mailbox: str) -> Deferred[bool]:
        return self.store.release_mailbox(mailbox).addCallback(self._lock_changed, mailbox)

    # What passes through: reads, and writes no listener hears of

    def list_messages(
        self, mailbox: str, limit: int, offset: int = 0, before: str | None = None
    ) -> Deferred[MessagePage]:
        return self.store.list_messages(mailbox, limit, offset, before)

    def get_messages(self, ids: Sequence[str]) -> Deferred[list[StoredMessage]]:
        return self.store.get_messages(ids)

    def get_raw(self, id: str) -> Deferred[bytes | None]:
        return self.store.get_raw(id)

    def get_attachment(self, id: str, index: int) -> Deferred[AttachmentContent | None]:
        return self.store.get_attachment(id, index)

    def mailbox_of(self, id: str) -> Deferred[str | None]:
        return self.store.mailbox_of(id)

    def open_mailbox(self, mailbox: str) -> Deferred[MailboxState]:
        return self.store.open_mailbox(mailbox)

    def list_uids(self, mailbox: str) -> Deferred[list[int]]:
        return self.store.list_uids(mailbox)

    def messages_by_uid(
        self, mailbox: str, first: int, last: int | None
    ) -> Deferred[list[MessageSummary]]:
        return self.store.messages_by_uid(mailbox, first, last)

    def raws_by_id(self, ids: Sequence[str]) -> Deferred[dict[str, bytes]]:
        return self.store.raws_by_id(ids)

    def search_uids(
        self, mailbox: str, criterion: Criterion, first: int, last: int
    ) -> Deferred[list[int]]:
        return self.store.search_uids(mailbox, criterion, first, last)

    def messages_by_sequence(
        self, mailbox: str, first: int, last: int | None
    ) -> Deferred[list[MessageSummary]]:
        return self.store.messages_by_sequence(mailbox, first, last)

    def lock_state(self, mailbox: str) -> Deferred[LockState]:
        return self.store.lock_state(mailbox)

    def add_token(self, mailbox: str, token: TokenGrant) -> Deferred[bool]:
        return self.store.add_token(mailbox, token)

    def token_mailbox(self, digest: str, now: datetime) -> Deferred[str | None]:
        return self.store.token_mailbox(digest, now)

    def list_mailboxes(self, limit: int, offset: int = 0) -> Deferred[MailboxPage]:
        return self.store.list_mailboxes(limit, offset)

    def create_webhook(
        self, grant: MailboxGrant, url: str, events: tuple[str, ...], secret: str, limit: int
    ) -> Deferred[Webhook | None]:
        return self.store.create_webhook(grant, url, events, secret, limit)

    def may_owe_deliveries(self, mailbox: str) -> bool:
        return self.store.may_owe_deliveries(mailbox)

    def list_webhooks(self, mailbox: str) -> Deferred[list[Webhook]]:
        return self.store.list_webhooks(mailbox)

    def get_webhook(self, id: str) -> Deferred[Webhook | None]:
        return self.store.get_webhook(id)

    def update_webhook(
        self, grant: MailboxGrant, id: str, change: WebhookChange
    ) -> Deferred[Webhook | None]:
        return self.store.update_webhook(grant, id, change)

    def delete_webhook(self, grant: MailboxGrant, id: str) -> Deferred[bool]:
        return self.store.delete_webhook(grant, id)

    def claim_deliveries(
        self, owner: str, now: datetime, lease_until: datetime, limit: int, per_webhook: int
    ) -> Deferred[list[DueDelivery]]:
        return self.store.claim_deliveries(owner, now, lease_until, limit, per_webhook)

    def release_deliveries(self, owner: str) -> Deferred[int]:
        return self.store.release_deliveries(owner)

    def record_attempt(
        self, owner: str, outcome: AttemptOutcome, disable_after: int
    ) -> Deferred[Webhook | None]:
        return self.store.record_attempt(owner, outcome, disable_after)

    def prune_deliveries(self, finished_before: datetime) -> Deferred[int]:
        return self.store.prune_deliveries(finished_before)

    def list_attempts(self, webhook_id: str, limit: int) -> Deferred[list[DeliveryAttempt]]:
        return self.store.list_attempts(webhook_id, limit)

    def check_health(self) -> Deferred[None]:
        return self.store.check_health()

    def statistics(self) -> Deferred[StoreStatistics]:
        return self.store.statistics()

    def close(self) -> Deferred[None]:
        return self.store.close()
