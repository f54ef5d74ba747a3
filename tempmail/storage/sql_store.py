"""
The store operations that SQLite and PostgreSQL share: each runs one
function of the C{sqlite_*} SQL modules (written in the SQL both engines
accept) as one transaction, through the backend's L{SQLMailStore._run}.
A backend adds how it connects, runs a transaction and delivers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from tempmail import publishing
from tempmail.events import DeletionReason, MailEvent
from tempmail.flags import FlagMode
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
    TokenGrant,
    Webhook,
    WebhookChange,
)
from tempmail.storage import sqlite_claims, sqlite_flags, sqlite_mailboxes
from tempmail.storage import sqlite_messages as messages
from tempmail.storage import sqlite_webhooks as webhooks
from tempmail.storage.group_commit import GroupCommit
from tempmail.storage.timestamps import to_micros
from tempmail.times import clock_now

T = TypeVar("T")
# The events an operation's result makes true.
Announce = Callable[[T], list[MailEvent]]


def _deleted(reason: DeletionReason) -> Announce[list[MessageSummary]]:
    return lambda summaries: publishing.deletions(summaries, reason)


class SQLMailStore:
    """
    The L{tempmail.interfaces.IMailStore} operations over the shared SQL.

    @ivar clock: what "now" is for the times the store writes.
    """

    clock: IReactorTime
    _hooked: webhooks.HookedMailboxes
    _deliveries: GroupCommit[IncomingMessage, list[DeliveredCopy]]
    # The operations asked for and not yet answered, which close() waits for.
    _in_flight: set[Deferred[Any]]

    def _run(
        self,
        work: Callable[..., T],
        *args: Any,
        write: bool = False,
        announce: Announce[T] | None = None,
    ) -> Deferred[T]:
        """
        Run C{work(cursor, *args)} in one transaction.

        @param write: whether C{work} writes.
        @param announce: the events C{work}'s result makes true (see
            L{tempmail.publishing}), for a backend that records them in
            the same transaction for every node; a backend whose events are
            published by L{tempmail.publishing.PublishingMailStore} ignores it.
        """
        raise NotImplementedError

    def _tracked(self, d: Deferred[T]) -> Deferred[T]:
        """
        Count C{d}, a backend's transaction, among the operations
        L{_idle} waits for, until it fires.
        """
        self._in_flight.add(d)

        def finished(result: T | Failure) -> T | Failure:
            self._in_flight.discard(d)
            return result

        return d.addBoth(finished)

    def _idle(self) -> Deferred[Any]:
        """
        Fire once the operations already asked for (and the deliveries
        waiting for the next group commit) have finished, however they did.
        """
        return DeferredList([*self._in_flight, self._deliveries.idle()], consumeErrors=True)

    def _now_us(self) -> int:
        return to_micros(clock_now(self.clock))

    # Messages

    def deliver(self, message: IncomingMessage) -> Deferred[list[DeliveredCopy]]:
        return self._deliveries.submit(message)

    def list_messages(
        self, mailbox: str, limit: int, offset: int = 0, before: str | None = None
    ) -> Deferred[MessagePage]:
        return self._run(messages.list_messages, mailbox, limit, offset, before)

    def get_messages(self, ids: Sequence[str]) -> Deferred[list[StoredMessage]]:
        return self._run(messages.get_messages, list(ids))

    def get_raw(self, id: str) -> Deferred[bytes | None]:
        return self._run(messages.get_raw, id)

    def get_attachment(self, id: str, index: int) -> Deferred[AttachmentContent | None]:
        return self._run(messages.get_attachment, id, index)

    def mailbox_of(self, id: str) -> Deferred[str | None]:
        return self._run(messages.mailbox_of, id)

    def set_seen(self, grant: MailboxGrant, id: str, seen: bool) -> Deferred[FlagUpdate | None]:
        return self._run(
            sqlite_flags.set_seen,
            grant,
            id,
            seen,
            self._now_us(),
            write=True,
            announce=lambda update: publishing.flag_changes([update]),
        )

    def delete_message(self, grant: MailboxGrant, id: str) -> Deferred[MessageSummary | None]:
        return self._run(
            messages.delete_message,
            grant,
            id,
            self._now_us(),
            write=True,
            announce=lambda s: publishing.deletions([s] if s else [], DeletionReason.DELETED),
        )

    def empty_mailbox(self, grant: MailboxGrant) -> Deferred[list[MessageSummary]]:
        return self._run(
            messages.empty_mailbox,
            grant,
            self._now_us(),
            write=True,
            announce=_deleted(DeletionReason.DELETED),
        )

    def expire_messages(self, older_than: datetime, limit: int) -> Deferred[list[MessageSummary]]:
        return self._run(
            messages.expire_messages,
            to_micros(older_than),
            limit,
            self._now_us(),
            write=True,
            announce=_deleted(DeletionReason.RETENTION),
        )

    def trim_mailboxes(self, keep: int, limit: int) -> Deferred[list[MessageSummary]]:
        return self._run(
            messages.trim_mailboxes,
            keep,
            limit,
            self._now_us(),
            write=True,
            announce=_deleted(DeletionReason.RETENTION),
        )

    def open_mailbox(self, mailbox: str) -> Deferred[MailboxState]:
        return self._run(sqlite_flags.open_mailbox, mailbox, self._now_us(), write=True)

    def list_uids(self, mailbox: str) -> Deferred[list[int]]:
        return self._run(sqlite_flags.list_uids, mailbox)

    def messages_by_uid(
        self, mailbox: str, first: int, last: int | None
    ) -> Deferred[list[MessageSummary]]:
        return self._run(sqlite_flags.messages_by_uid, mailbox, first, last)

    def messages_by_sequence(
        self, mailbox: str, first: int, last: int | None
    ) -> Deferred[list[MessageSummary]]:
        return self._run(sqlite_flags.messages_by_sequence, mailbox, first, last)

    def raws_by_id(self, ids: Sequence[str]) -> Deferred[dict[str, bytes]]:
        return self._run(sqlite_flags.raws_by_id, list(ids))

    def store_flags(
        self, grant: MailboxGrant, uids: Sequence[int], flags: frozenset[str], mode: FlagMode
    ) -> Deferred[list[FlagUpdate]]:
        return self._run(
            sqlite_flags.store_flags,
            grant,
            list(uids),
            flags,
            mode,
            self._now_us(),
            write=True,
            announce=publishing.flag_changes,
        )

    def expunge(
        self, grant: MailboxGrant, uids: Sequence[int] | None = None
    ) -> Deferred[list[MessageSummary]]:
        chosen = None if uids is None else list(uids)
        return self._run(
            sqlite_flags.expunge,
            grant,
            chosen,
            self._now_us(),
            write=True,
            announce=_deleted(DeletionReason.EXPUNGED),
        )

    # Locks

    def lock_state(self, mailbox: str) -> Deferred[LockState]:
        return self._run(sqlite_mailboxes.lock_state, mailbox)

    def claim_mailbox(self, mailbox: str, password_hash: str, token: TokenGrant) -> Deferred[bool]:
        return self._run(
            sqlite_claims.claim_mailbox,
            mailbox,
            password_hash,
            token,
            self._now_us(),
            write=True,
            announce=lambda changed: publishing.lock_change(changed, mailbox),
        )

    def change_password(
        self, mailbox: str, password_hash: str, token: TokenGrant
    ) -> Deferred[bool]:
        return self._run(
            sqlite_claims.change_password,
            mailbox,
            password_hash,
            token,
            self._now_us(),
            write=True,
            announce=lambda changed: publishing.lock_change(changed, mailbox),
        )

    def release_mailbox(self, mailbox: str) -> Deferred[bool]:
        return self._run(
            sqlite_claims.release_mailbox,
            mailbox,
            write=True,
            announce=lambda changed: publishing.lock_change(changed, mailbox),
        )

    def add_token(self, mailbox: str, token: TokenGrant) -> Deferred[bool]:
        return self._run(sqlite_claims.add_token, mailbox, token, self._now_us(), write=True)

    def token_mailbox(self, digest: str, now: datetime) -> Deferred[str | None]:
        return self._run(sqlite_claims.token_mailbox, digest, to_micros(now))

    def list_mailboxes(self, limit: int, offset: int = 0) -> Deferred[MailboxPage]:
        return self._run(sqlite_claims.list_mailboxes, limit, offset)

    # Webhooks

    def create_webhook(
        self, grant: MailboxGrant, url: str, events: tuple[str, ...], secret: str, limit: int
    ) -> Deferred[Webhook | None]:
        return self._run(
            webhooks.create_webhook,
            grant,
            url,
            events,
            secret,
            limit,
            self._now_us(),
            write=True,
        )

    def may_owe_deliveries(self, mailbox: str) -> bool:
        return self._hooked.may_have(mailbox)

    def list_webhooks(self, mailbox: str) -> Deferred[list[Webhook]]:
        return self._run(webhooks.list_webhooks, mailbox)

    def get_webhook(self, id: str) -> Deferred[Webhook | None]:
        return self._run(webhooks.get_webhook, id)

    def update_webhook(
        self, grant: MailboxGrant, id: str, change: WebhookChange
    ) -> Deferred[Webhook | None]:
        return self._run(webhooks.update_webhook, grant, id, change, write=True)

    def delete_webhook(self, grant: MailboxGrant, id: str) -> Deferred[bool]:
        return self._run(webhooks.delete_webhook, grant, id, write=True)

    def claim_deliveries(
        self, owner: str, now: datetime, lease_until: datetime, limit: int, per_webhook: int
    ) -> Deferred[list[DueDelivery]]:
        return self._run(
            webhooks.claim_deliveries,
            owner,
            to_micros(now),
            to_micros(lease_until),
            limit,
            per_webhook,
            write=True,
        )

    def release_deliveries(self, owner: str) -> Deferred[int]:
        return self._run(webhooks.release_deliveries, owner, write=True)

    def record_attempt(
        self, owner: str, outcome: AttemptOutcome, disable_after: int
    ) -> Deferred[Webhook | None]:
        return self._run(webhooks.record_attempt, owner, outcome, disable_after, write=True)

    def prune_deliveries(self, finished_before: datetime) -> Deferred[int]:
        return self._run(webhooks.prune_deliveries, to_micros(finished_before), write=True)

    def list_attempts(self, webhook_id: str, limit: int) -> Deferred[list[DeliveryAttempt]]:
        return self._run(webhooks.list_attempts, webhook_id, limit)
