"""
The store that tells: an L{IMailStore} wrapper that publishes events.

Every backend gets events the same way: this wrapper calls the real store
and, once its Deferred has fired (the change is committed), publishes what
changed to the L{IEventHub}.  Reads pass straight through.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from twisted.internet.defer import Deferred
from zope.interface import implementer

from tempmail.events import DeletionReason, EventKind, MailEvent
from tempmail.interfaces import IEventHub, IMailStore
from tempmail.models import (
    DeliveredCopy,
    IncomingMessage,
    MessageSummary,
    TokenGrant,
)


@implementer(IMailStore)
class PublishingMailStore:
    """
    Publishes C{arrival}, C{deletion}, C{read} and lock changes for the
    writes made through it.
    """

    def __init__(self, store: IMailStore, hub: IEventHub) -> None:
        self.store = store
        self.hub = hub

    def __getattr__(self, name: str) -> Any:
        # Reads (listing, fetching, health) change nothing and pass through.
        return getattr(self.store, name)

    def _deleted(
        self, summaries: list[MessageSummary], reason: DeletionReason
    ) -> list[MessageSummary]:
        for summary in summaries:
            self.hub.publish(MailEvent(EventKind.DELETION, summary.mailbox, summary, reason))
        return summaries

    def _lock_changed(self, changed: bool, mailbox: str) -> bool:
        if changed:
            self.hub.publish(MailEvent(EventKind.LOCK_CHANGED, mailbox))
        return changed

    def deliver(self, message: IncomingMessage) -> Deferred[list[DeliveredCopy]]:
        def arrived(copies: list[DeliveredCopy]) -> list[DeliveredCopy]:
            parsed = message.parsed
            for copy in copies:
                summary = MessageSummary(
                    id=copy.id,
                    mailbox=copy.mailbox,
                    uid=copy.uid,
                    from_address=parsed.from_address,
                    subject=parsed.subject,
                    received_at=message.envelope.received_at,
                    size=len(message.raw),
                    seen=False,
                    attachment_count=len(parsed.attachments),
                    preview=parsed.preview,
                )
                self.hub.publish(MailEvent(EventKind.ARRIVAL, copy.mailbox, summary))
            return copies

        return self.store.deliver(message).addCallback(arrived)

    def set_seen(self, id: str, seen: bool) -> Deferred[bool | None]:
        async def publish_read(changed: bool | None) -> bool | None:
            if changed and seen:
                for message in await self.store.get_messages([id]):
                    summary = message.summary
                    self.hub.publish(MailEvent(EventKind.READ, summary.mailbox, summary))
            return changed

        return self.store.set_seen(id, seen).addCallback(
            lambda changed: Deferred.fromCoroutine(publish_read(changed))
        )

    def delete_message(self, id: str) -> Deferred[MessageSummary | None]:
        def deleted(summary: MessageSummary | None) -> MessageSummary | None:
            if summary is not None:
                self._deleted([summary], DeletionReason.DELETED)
            return summary

        return self.store.delete_message(id).addCallback(deleted)

    def empty_mailbox(self, mailbox: str) -> Deferred[list[MessageSummary]]:
        return self.store.empty_mailbox(mailbox).addCallback(self._deleted, DeletionReason.DELETED)

    def expire_messages(self, older_than: datetime, limit: int) -> Deferred[list[MessageSummary]]:
        return self.store.expire_messages(older_than, limit).addCallback(
            self._deleted, DeletionReason.RETENTION
        )

    def trim_mailboxes(self, keep: int, limit: int) -> Deferred[list[MessageSummary]]:
        return self.store.trim_mailboxes(keep, limit).addCallback(
            self._deleted, DeletionReason.RETENTION
        )

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
