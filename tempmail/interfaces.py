"""
The seams between tempmail's layers.

Everything above the storage package talks to mail through L{IMailStore}; a
SQLite implementation is the embedded default, an in-memory one ships in
L{tempmail.testing}, and a PostgreSQL one will follow.  All methods return
Deferreds and none of them assumes a particular database.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from twisted.internet.defer import Deferred
from zope.interface import Interface

from tempmail.models import (
    AttachmentContent,
    AttemptOutcome,
    DeliveredCopy,
    DeliveryAttempt,
    DueDelivery,
    IncomingMessage,
    MailboxPage,
    MessagePage,
    MessageSummary,
    NewDelivery,
    StoredMessage,
    TokenGrant,
    Webhook,
    WebhookChange,
)

if TYPE_CHECKING:
    from tempmail.events import MailEvent


class StorageUnavailable(Exception):
    """
    The store could not complete an operation (disk full, database locked,
    connection lost).  SMTP answers 451 so the sender retries.
    """


class UnknownCursor(ValueError):
    """
    A listing's C{before} cursor names no message in that mailbox.
    """


class IMailStore(Interface):
    """
    Durable storage for mailboxes and their messages.

    Message ids are opaque strings, one per mailbox copy: a message sent to
    three recipients is three ids sharing one stored raw body.  Addresses are
    always normalised (see L{tempmail.addresses.normalise_address}).
    """

    def deliver(message: IncomingMessage) -> Deferred[list[DeliveredCopy]]:
        """
        File an L{IncomingMessage} in the mailbox of each envelope recipient.

        The Deferred fires only once the message is committed, with one
        L{DeliveredCopy} per recipient; each mailbox is created on first use
        and its next UID assigned.  It fails with L{StorageUnavailable} if
        nothing was stored.
        """

    def list_messages(
        mailbox: str, limit: int, offset: int = 0, before: str | None = None
    ) -> Deferred[MessagePage]:
        """
        Return a L{MessagePage} of summaries, newest first.

        @param before: a message id; the page starts after it.  Fails with
            L{UnknownCursor} if that id is not in C{mailbox}.
        @param offset: messages to skip (ignored when C{before} is given).
        """

    def get_messages(ids: Sequence[str]) -> Deferred[list[StoredMessage]]:
        """
        Return the L{StoredMessage}s for those C{ids} that exist, in the order
        asked.
        """

    def get_raw(id: str) -> Deferred[bytes | None]:
        """
        Return the exact raw bytes of a message, or C{None} if it is unknown.
        """

    def get_attachment(id: str, index: int) -> Deferred[AttachmentContent | None]:
        """
        Return an L{AttachmentContent}, or C{None} if either is unknown.
        """

    def set_seen(id: str, seen: bool) -> Deferred[bool | None]:
        """
        Set or clear the seen flag.  Fires with whether it changed, or C{None}
        if the message is unknown.
        """

    def delete_message(id: str) -> Deferred[MessageSummary | None]:
        """
        Delete one mailbox copy; fires with its summary, or C{None} if it did
        not exist.  The raw body goes with its last copy.
        """

    def empty_mailbox(mailbox: str) -> Deferred[list[MessageSummary]]:
        """
        Delete every message of a mailbox; fires with what went.  The
        mailbox keeps its UID counter, so UIDs never repeat.
        """

    def expire_messages(older_than: datetime, limit: int) -> Deferred[list[MessageSummary]]:
        """
        Delete up to C{limit} messages received before C{older_than}, oldest
        first; fires with what went.  Retention calls it in batches.
        """

    def trim_mailboxes(keep: int, limit: int) -> Deferred[list[MessageSummary]]:
        """
        Delete up to C{limit} messages that have C{keep} or more newer
        messages in their mailbox; fires with what went.
        """

    def mailbox_of(id: str) -> Deferred[str | None]:
        """
        Return the mailbox a message belongs to, or C{None} if it is unknown.
        """

    def list_mailboxes(limit: int, offset: int = 0) -> Deferred[MailboxPage]:
        """
        Return a L{MailboxPage} of every mailbox, by address.
        """

    def password_hash(mailbox: str) -> Deferred[str | None]:
        """
        Return the mailbox's password hash, or C{None} if it is not claimed.
        """

    def claim_mailbox(mailbox: str, password_hash: str, token: TokenGrant) -> Deferred[bool]:
        """
        Lock an unclaimed mailbox with a password and store its first token,
        atomically.  Webhooks added while it was open (by anyone) are
        removed, so a claim leaves no other listener.  Fires C{False},
        changing nothing, if it is claimed.
        """

    def change_password(mailbox: str, password_hash: str, token: TokenGrant) -> Deferred[bool]:
        """
        Replace a claimed mailbox's password, revoke all its tokens and store
        C{token}.  Fires C{False} if the mailbox is not claimed.
        """

    def release_mailbox(mailbox: str) -> Deferred[bool]:
        """
        Remove a mailbox's lock and revoke its tokens.  Fires with whether it
        was claimed.
        """

    def add_token(mailbox: str, token: TokenGrant) -> Deferred[bool]:
        """
        Store a token for a claimed mailbox (and drop expired ones).  Fires
        C{False} if the mailbox is not claimed.
        """

    def token_mailbox(digest: str, now: datetime) -> Deferred[str | None]:
        """
        Return the mailbox a token digest opens, or C{None} if it is unknown,
        expired or revoked.
        """

    def create_webhook(
        mailbox: str, url: str, events: tuple[str, ...], secret: str, limit: int
    ) -> Deferred[Webhook | None]:
        """
        Add a webhook to a mailbox (creating the mailbox if needed); fires
        C{None}, adding nothing, if the mailbox already has C{limit}.
        """

    def list_webhooks(mailbox: str) -> Deferred[list[Webhook]]:
        """
        Return a mailbox's webhooks, newest first.
        """

    def get_webhook(id: str) -> Deferred[Webhook | None]:
        """
        Return one webhook, or C{None} if it is unknown.
        """

    def update_webhook(id: str, change: WebhookChange) -> Deferred[Webhook | None]:
        """
        Apply C{change}; fires with the webhook as it now is, or C{None}.
        Disabling abandons its pending deliveries; enabling clears its
        failure count and reason.
        """

    def delete_webhook(id: str) -> Deferred[bool]:
        """
        Delete a webhook with its deliveries and log; fires whether it existed.
        """

    def webhooks_for(mailbox: str, event: str) -> Deferred[list[Webhook]]:
        """
        Return the enabled webhooks of C{mailbox} that want C{event}.
        """

    def add_deliveries(deliveries: Sequence[NewDelivery]) -> Deferred[None]:
        """
        Store deliveries to attempt, all in one transaction.
        """

    def due_deliveries(
        now: datetime,
        limit: int,
        exclude: Sequence[str] = (),
        skip_webhooks: Sequence[str] = (),
    ) -> Deferred[list[DueDelivery]]:
        """
        Return up to C{limit} pending deliveries of enabled webhooks whose
        next attempt is due at C{now}, soonest first, leaving out the
        deliveries in C{exclude} (being attempted) and the webhooks in
        C{skip_webhooks} (busy), so one slow target cannot starve the rest.
        """

    def prune_deliveries(finished_before: datetime) -> Deferred[int]:
        """
        Delete finished deliveries (and their attempts) created before
        C{finished_before}; fires with how many went.
        """

    def record_attempt(outcome: AttemptOutcome, disable_after: int) -> Deferred[Webhook | None]:
        """
        Log an attempt and move its delivery on (retry, delivered or
        failed).  A failure counts against the webhook, which is disabled by
        C{outcome.disable_reason} or after C{disable_after} consecutive
        failures, abandoning its pending deliveries.  Fires with the webhook.
        """

    def list_attempts(webhook_id: str, limit: int) -> Deferred[list[DeliveryAttempt]]:
        """
        Return a webhook's latest attempts, newest first.
        """

    def check_health() -> Deferred[None]:
        """
        Fire when the store answers a trivial query; fail otherwise.
        """

    def close() -> Deferred[None]:
        """
        Finish pending work and release the database.
        """


class IFailureLimiter(Interface):
    """
    Counts failed password checks and says how long a client must wait.

    Keys name what is being limited, such as C{mailbox:bob@example.com} or
    C{ip:192.0.2.1}; every door (REST now, IMAP later) shares one limiter.
    The methods return Deferreds so that a backend shared between nodes can
    replace the in-memory one.
    """

    def retry_after(keys: Sequence[str]) -> Deferred[float]:
        """
        Seconds to wait before another check under any of C{keys}; 0 if none.
        """

    def record_failure(keys: Sequence[str]) -> Deferred[None]:
        """
        Count one failed check against each key.
        """

    def record_success(keys: Sequence[str]) -> Deferred[None]:
        """
        Forget the failures counted against C{keys}.
        """


class ISubscription(Interface):
    """
    A listener registered with an L{IEventHub}.
    """

    mailbox: str | None

    def cancel() -> None:
        """
        Stop receiving events.  Safe to call more than once.
        """


class IEventHub(Interface):
    """
    Where mail events meet their listeners.

    Today events come from this process's store; with several nodes they
    will also arrive from the shared database, through the same
    L{publish}.
    """

    def publish(event: MailEvent) -> None:
        """
        Tell every subscriber of C{event.mailbox}, and every subscriber of
        all mailboxes, on a later reactor turn, after every event published
        before it.
        """

    def subscribe(mailbox: str | None, subscriber: Callable[[MailEvent], object]) -> ISubscription:
        """
        Call C{subscriber} with each event of C{mailbox} (C{None}: of every
        mailbox) until the returned subscription is cancelled.
        """
