"""
Test doubles for code that uses tempmail, shipped as treq ships StubTreq.

L{MemoryMailStore} is a complete L{IMailStore} held in dictionaries.  It
passes the same interface tests as the SQLite store (see
C{tests/test_store_contract.py}), so a test written against it holds for the
real thing.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Concatenate, ParamSpec, TypeVar

from twisted.internet.defer import Deferred, fail, succeed
from zope.interface import implementer

from tempmail.interfaces import IMailStore, StorageUnavailable, UnknownCursor
from tempmail.models import (
    AttachmentContent,
    AttachmentInfo,
    AttemptOutcome,
    DeliveredCopy,
    DeliveryAttempt,
    DueDelivery,
    IncomingMessage,
    MailboxInfo,
    MailboxPage,
    MessagePage,
    MessageSummary,
    NewDelivery,
    StoredMessage,
    TokenGrant,
    Webhook,
    WebhookChange,
)

__all__ = ["MemoryMailStore"]


P = ParamSpec("P")
R = TypeVar("R")


def _write(
    method: Callable[Concatenate[MemoryMailStore, P], Deferred[R]],
) -> Callable[Concatenate[MemoryMailStore, P], Deferred[R]]:
    """
    Refuse a write, as a full disk would, while C{fail_writes} is set or
    after L{MemoryMailStore.close}.
    """

    @functools.wraps(method)
    def write(self: MemoryMailStore, *args: P.args, **kwargs: P.kwargs) -> Deferred[R]:
        if self.fail_writes or self._closed:
            return fail(StorageUnavailable("the store refuses writes"))
        return method(self, *args, **kwargs)

    return write


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Mailbox:
    uid_validity: int
    created_at: datetime
    uid_next: int = 1
    copies: dict[str, StoredMessage] = field(default_factory=dict)
    password_hash: str | None = None
    tokens: dict[str, datetime] = field(default_factory=dict)


@implementer(IMailStore)
class MemoryMailStore:
    """
    An in-memory L{IMailStore}.

    @ivar fail_writes: set to C{True} to make every write fail with
        L{StorageUnavailable}, as a full disk would.
    """

    def __init__(self) -> None:
        self.fail_writes = False
        self._mailboxes: dict[str, _Mailbox] = {}
        self._raw: dict[str, bytes] = {}
        self._attachments: dict[str, tuple[AttachmentContent, ...]] = {}
        self._where: dict[str, str] = {}
        self._closed = False
        self._webhooks: dict[str, Webhook] = {}
        # delivery id -> (delivery, attempts made, next attempt or None when finished)
        self._deliveries: dict[str, tuple[NewDelivery, int, datetime | None]] = {}
        self._attempts: list[tuple[str, DeliveryAttempt]] = []

    def _mailbox(self, address: str) -> _Mailbox:
        return self._mailboxes.setdefault(address, _Mailbox(int(time.time()), datetime.now(UTC)))

    def _copy(self, id: str) -> StoredMessage | None:
        mailbox = self._where.get(id)
        return None if mailbox is None else self._mailboxes[mailbox].copies[id]

    @_write
    def deliver(self, message: IncomingMessage) -> Deferred[list[DeliveredCopy]]:
        parsed, envelope = message.parsed, message.envelope
        attachments = tuple(
            AttachmentContent(
                AttachmentInfo(
                    i, a.filename, a.content_type, len(a.content), a.content_id, a.inline
                ),
                a.content,
            )
            for i, a in enumerate(parsed.attachments)
        )
        copies = []
        for address in envelope.recipients:
            mailbox = self._mailbox(address)
            copy = DeliveredCopy(str(uuid.uuid4()), address, mailbox.uid_next)
            mailbox.uid_next += 1
            mailbox.copies[copy.id] = StoredMessage(
                summary=MessageSummary(
                    id=copy.id,
                    mailbox=address,
                    uid=copy.uid,
                    from_address=parsed.from_address,
                    subject=parsed.subject,
                    received_at=envelope.received_at,
                    size=len(message.raw),
                    seen=False,
                    attachment_count=len(attachments),
                    preview=parsed.preview,
                ),
                to=parsed.to,
                cc=parsed.cc,
                date=parsed.date,
                message_id=parsed.message_id,
                text=parsed.text,
                html=parsed.html,
                headers=parsed.headers,
                envelope_from=envelope.mail_from,
                envelope_to=envelope.recipients,
                attachments=tuple(a.info for a in attachments),
            )
            self._raw[copy.id] = message.raw
            self._attachments[copy.id] = attachments
            self._where[copy.id] = address
            copies.append(copy)
        return succeed(copies)

    def list_messages(
        self, mailbox: str, limit: int, offset: int = 0, before: str | None = None
    ) -> Deferred[MessagePage]:
        box = self._mailboxes.get(mailbox)
        ordered = sorted(
            (c.summary for c in box.copies.values()) if box else (),
            key=lambda s: s.uid,
            reverse=True,
        )
        if before is not None:
            uids = [s.uid for s in ordered if s.id == before]
            if not uids:
                return fail(UnknownCursor(before))
            ordered_after = [s for s in ordered if s.uid < uids[0]]
        else:
            ordered_after = ordered[offset:]
        page = tuple(ordered_after[:limit])
        more = len(ordered_after) > limit and page
        return succeed(MessagePage(page, len(ordered), page[-1].id if more else None))

    def get_messages(self, ids: Sequence[str]) -> Deferred[list[StoredMessage]]:
        found = (self._copy(i) for i in ids)
        return succeed([m for m in found if m is not None])

    def get_raw(self, id: str) -> Deferred[bytes | None]:
        return succeed(self._raw.get(id))

    def get_attachment(self, id: str, index: int) -> Deferred[AttachmentContent | None]:
        attachments = self._attachments.get(id, ())
        return succeed(attachments[index] if 0 <= index < len(attachments) else None)

    @_write
    def set_seen(self, id: str, seen: bool) -> Deferred[bool | None]:
        message = self._copy(id)
        if message is None:
            return succeed(None)
        if message.summary.seen == seen:
            return succeed(False)
        updated = replace(message, summary=replace(message.summary, seen=seen))
        self._mailboxes[message.summary.mailbox].copies[id] = updated
        return succeed(True)

    @_write
    def _delete(self, ids: list[str]) -> Deferred[list[MessageSummary]]:
        deleted = []
        for id in ids:
            mailbox = self._where.pop(id, None)
            if mailbox is not None:
                deleted.append(self._mailboxes[mailbox].copies.pop(id).summary)
                del self._raw[id]
                del self._attachments[id]
        return succeed(deleted)

    def delete_message(self, id: str) -> Deferred[MessageSummary | None]:
        return self._delete([id]).addCallback(lambda deleted: deleted[0] if deleted else None)

    def empty_mailbox(self, mailbox: str) -> Deferred[list[MessageSummary]]:
        box = self._mailboxes.get(mailbox)
        return self._delete(list(box.copies) if box else [])

    def _all_summaries(self) -> list[MessageSummary]:
        return [c.summary for box in self._mailboxes.values() for c in box.copies.values()]

    def expire_messages(self, older_than: datetime, limit: int) -> Deferred[list[MessageSummary]]:
        old = sorted(
            (s for s in self._all_summaries() if s.received_at < older_than),
            key=lambda s: s.received_at,
        )
        return self._delete([s.id for s in old[:limit]])

    def trim_mailboxes(self, keep: int, limit: int) -> Deferred[list[MessageSummary]]:
        surplus: list[str] = []
        for box in self._mailboxes.values():
            newest_first = sorted(box.copies.values(), key=lambda c: c.summary.uid, reverse=True)
            surplus.extend(c.summary.id for c in newest_first[keep:])
        return self._delete(surplus[:limit])

    def mailbox_of(self, id: str) -> Deferred[str | None]:
        return succeed(self._where.get(id))

    def list_mailboxes(self, limit: int, offset: int = 0) -> Deferred[MailboxPage]:
        ordered = sorted(self._mailboxes.items())
        return succeed(
            MailboxPage(
                tuple(
                    MailboxInfo(
                        address, len(box.copies), box.password_hash is not None, box.created_at
                    )
                    for address, box in ordered[offset : offset + limit]
                ),
                len(ordered),
            )
        )

    def password_hash(self, mailbox: str) -> Deferred[str | None]:
        box = self._mailboxes.get(mailbox)
        return succeed(None if box is None else box.password_hash)

    def _claimed(self, mailbox: str) -> _Mailbox | None:
        box = self._mailboxes.get(mailbox)
        return box if box is not None and box.password_hash is not None else None

    @_write
    def claim_mailbox(self, mailbox: str, password_hash: str, token: TokenGrant) -> Deferred[bool]:
        box = self._mailbox(mailbox)
        if box.password_hash is not None:
            return succeed(False)
        box.password_hash = password_hash
        box.tokens[token.digest] = token.expires_at
        for hook in [h for h in self._webhooks.values() if h.mailbox == mailbox]:
            self.delete_webhook(hook.id)
        return succeed(True)

    @_write
    def change_password(
        self, mailbox: str, password_hash: str, token: TokenGrant
    ) -> Deferred[bool]:
        box = self._claimed(mailbox)
        if box is None:
            return succeed(False)
        box.password_hash = password_hash
        box.tokens = {token.digest: token.expires_at}
        return succeed(True)

    @_write
    def release_mailbox(self, mailbox: str) -> Deferred[bool]:
        box = self._claimed(mailbox)
        if box is None:
            return succeed(False)
        box.password_hash = None
        box.tokens = {}
        return succeed(True)

    @_write
    def add_token(self, mailbox: str, token: TokenGrant) -> Deferred[bool]:
        box = self._claimed(mailbox)
        if box is None:
            return succeed(False)
        box.tokens[token.digest] = token.expires_at
        return succeed(True)

    def token_mailbox(self, digest: str, now: datetime) -> Deferred[str | None]:
        for address, box in self._mailboxes.items():
            expires = box.tokens.get(digest)
            if box.password_hash is not None and expires is not None and expires > now:
                return succeed(address)
        return succeed(None)

    # Webhooks

    @_write
    def create_webhook(
        self, mailbox: str, url: str, events: tuple[str, ...], secret: str, limit: int
    ) -> Deferred[Webhook | None]:
        self._mailbox(mailbox)
        if sum(1 for hook in self._webhooks.values() if hook.mailbox == mailbox) >= limit:
            return succeed(None)
        hook = Webhook(str(uuid.uuid4()), mailbox, url, events, secret, True, _now())
        self._webhooks[hook.id] = hook
        return succeed(hook)

    def list_webhooks(self, mailbox: str) -> Deferred[list[Webhook]]:
        hooks = [hook for hook in self._webhooks.values() if hook.mailbox == mailbox]
        return succeed(sorted(hooks, key=lambda hook: hook.created_at, reverse=True))

    def get_webhook(self, id: str) -> Deferred[Webhook | None]:
        return succeed(self._webhooks.get(id))

    @_write
    def update_webhook(self, id: str, change: WebhookChange) -> Deferred[Webhook | None]:
        hook = self._webhooks.get(id)
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

    @_write
    def delete_webhook(self, id: str) -> Deferred[bool]:
        existed = self._webhooks.pop(id, None) is not None
        for delivery_id in [
            d for d, (new, _, _) in self._deliveries.items() if new.webhook_id == id
        ]:
            del self._deliveries[delivery_id]
        self._attempts = [(hook, a) for hook, a in self._attempts if hook != id]
        return succeed(existed)

    def webhooks_for(self, mailbox: str, event: str) -> Deferred[list[Webhook]]:
        return succeed(
            [
                hook
                for hook in self._webhooks.values()
                if hook.mailbox == mailbox and hook.enabled and event in hook.events
            ]
        )

    @_write
    def add_deliveries(self, deliveries: Sequence[NewDelivery]) -> Deferred[None]:
        for delivery in deliveries:
            self._deliveries[delivery.id] = (delivery, 0, delivery.due_at)
        return succeed(None)

    def due_deliveries(
        self,
        now: datetime,
        limit: int,
        exclude: Sequence[str] = (),
        skip_webhooks: Sequence[str] = (),
    ) -> Deferred[list[DueDelivery]]:
        due = []
        for new, attempts, next_at in self._deliveries.values():
            hook = self._webhooks.get(new.webhook_id)
            if (
                next_at is None
                or next_at > now
                or new.id in exclude
                or new.webhook_id in skip_webhooks
                or not hook
                or not hook.enabled
            ):
                continue
            due.append(
                (
                    next_at,
                    DueDelivery(
                        new.id, hook.id, hook.url, hook.secret, new.event, new.payload, attempts
                    ),
                )
            )
        due.sort(key=lambda pair: pair[0])
        return succeed([delivery for _, delivery in due[:limit]])

    def prune_deliveries(self, finished_before: datetime) -> Deferred[int]:
        finished = [
            id
            for id, (new, _, next_at) in self._deliveries.items()
            if next_at is None and new.due_at < finished_before
        ]
        for id in finished:
            del self._deliveries[id]
        self._attempts = [(hook, a) for hook, a in self._attempts if a.delivery_id not in finished]
        return succeed(len(finished))

    def _abandon_pending(self, webhook_id: str) -> None:
        for id, (new, attempts, _) in list(self._deliveries.items()):
            if new.webhook_id == webhook_id:
                self._deliveries[id] = (new, attempts, None)

    @_write
    def record_attempt(
        self, outcome: AttemptOutcome, disable_after: int
    ) -> Deferred[Webhook | None]:
        attempt = outcome.attempt
        if attempt.delivery_id not in self._deliveries:
            return succeed(None)
        new, _, _ = self._deliveries[attempt.delivery_id]
        hook = self._webhooks.get(outcome.webhook_id)
        retry_at = outcome.retry_at if hook is not None and hook.enabled else None
        self._deliveries[attempt.delivery_id] = (new, attempt.attempt, retry_at)
        self._attempts.append((outcome.webhook_id, attempt))
        hook = self._webhooks.get(outcome.webhook_id)
        if hook is None:
            return succeed(None)
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

    def list_attempts(self, webhook_id: str, limit: int) -> Deferred[list[DeliveryAttempt]]:
        mine = [a for hook, a in self._attempts if hook == webhook_id]
        mine.sort(key=lambda a: (a.at, a.attempt), reverse=True)
        return succeed(mine[:limit])

    def check_health(self) -> Deferred[None]:
        if self._closed:
            return fail(StorageUnavailable("the store is closed"))
        return succeed(None)

    def close(self) -> Deferred[None]:
        self._closed = True
        return succeed(None)
