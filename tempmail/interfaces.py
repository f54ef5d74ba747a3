"""
The seams between tempmail's layers.

Everything above the storage package talks to storage through its role
interfaces: L{IMessageStore} (mail), L{IMailboxLocks} (claims and tokens)
and L{IWebhookStore} (webhooks and deliveries), which one backend provides
together as L{IMailStore}.  A SQLite implementation is the embedded default,
an in-memory one ships in L{tempmail.testing}, and a PostgreSQL one will
follow.  All methods return Deferreds and none of them assumes a particular
database.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from twisted.application.service import IService
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from zope.interface import Interface

from tempmail.events import MailEvent
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
    StoreStatistics,
    TokenGrant,
    Webhook,
    WebhookChange,
)
from tempmail.search import Criterion


class StorageUnavailable(Exception):
    """
    The store could not complete an operation for a reason that may pass
    (disk full, database locked or unreachable).  SMTP answers 451 so the
    sender retries, and HTTP 503.  Any other exception from a store is a
    bug, and is answered as one (SMTP 554, HTTP 500), never retried.
    """


class UnknownCursor(ValueError):
    """
    A listing's C{before} cursor names no message in that mailbox.
    """


class LockChanged(Exception):
    """
    A write was refused because the mailbox's lock changed after the check
    that allowed it (see L{MailboxGrant}): check again.
    """


class IStore(Interface):
    """
    What every store has, whatever its roles: a health check and an end.
    """

    def check_health() -> Deferred[None]:
        """
        Fire when the store answers a trivial query; fail otherwise.
        """

    def close() -> Deferred[None]:
        """
        Finish pending work and release the database.
        """

    def statistics() -> Deferred[StoreStatistics]:
        """
        Return what the store holds, for C{/metrics}: counts, size, and the
        webhook deliveries still pending.
        """


class IMessageStore(IStore):
    """
    Mailboxes and their messages.

    Message ids are opaque strings, one per mailbox copy: a message sent to
    three recipients is three ids sharing one stored raw body.  Addresses are
    always normalised (see L{tempmail.addresses.normalise_address}).

    Every change that webhooks hear of (an arrival, a message becoming
    seen, a deletion) stores the webhook deliveries it causes in the same
    transaction as the change itself (an outbox), so a crash can never keep
    one without the other.
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

    def mailbox_of(id: str) -> Deferred[str | None]:
        """
        Return the mailbox a message belongs to, or C{None} if it is unknown.
        """

    def set_seen(grant: MailboxGrant, id: str, seen: bool) -> Deferred[FlagUpdate | None]:
        """
        Set or clear a message's seen flag; fires with the L{FlagUpdate}, or
        C{None} if C{id} is not a message of C{grant.mailbox}.

        @raise LockChanged: if the grant's lock version is out of date.
        """

    def delete_message(grant: MailboxGrant, id: str) -> Deferred[MessageSummary | None]:
        """
        Delete one mailbox copy; fires with its summary, or C{None} if it is
        not a message of C{grant.mailbox}.  The raw body goes with its last
        copy.

        @raise LockChanged: if the grant's lock version is out of date.
        """

    def empty_mailbox(grant: MailboxGrant) -> Deferred[list[MessageSummary]]:
        """
        Delete every message of C{grant.mailbox}; fires with what went.  The
        mailbox keeps its UID counter, so UIDs never repeat.

        @raise LockChanged: if the grant's lock version is out of date.
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

    def open_mailbox(mailbox: str) -> Deferred[MailboxState]:
        """
        Return the L{MailboxState} of C{mailbox}, creating the mailbox (and
        fixing its UIDVALIDITY) if it does not exist yet.
        """

    def list_uids(mailbox: str) -> Deferred[list[int]]:
        """
        Return every UID in C{mailbox}, ascending: position I{n} is message
        sequence number I{n + 1}.
        """

    def messages_by_uid(
        mailbox: str, first: int, last: int | None
    ) -> Deferred[list[MessageSummary]]:
        """
        Return the messages whose UID is from C{first} to C{last} (C{None}:
        no upper bound), ascending by UID.
        """

    def messages_by_sequence(
        mailbox: str, first: int, last: int | None
    ) -> Deferred[list[MessageSummary]]:
        """
        Return the messages at sequence numbers C{first} to C{last}
        (1-based; C{None}: to the end), ascending by UID.
        """

    def raws_by_id(ids: Sequence[str]) -> Deferred[dict[str, bytes]]:
        """
        Return the exact raw bytes of those messages that exist, by id: a
        batch of L{get_raw} in one read (IMAP FETCH asks for a few
        megabytes at a time).
        """

    def search_uids(
        mailbox: str, criterion: Criterion, first: int, last: int
    ) -> Deferred[list[int]]:
        """
        Return the UIDs from C{first} to C{last} (inclusive) of the messages
        of C{mailbox} that C{criterion} matches, ascending.  Callers search
        a large mailbox one UID range at a time, so no call holds it all.
        """

    def store_flags(
        grant: MailboxGrant, uids: Sequence[int], flags: frozenset[str], mode: FlagMode
    ) -> Deferred[list[FlagUpdate]]:
        """
        Add, remove or replace flags (as L{tempmail.flags.normalise_flags}
        spells them; C{\\Seen} included) on the messages of
        C{grant.mailbox} with those UIDs; fires with one L{FlagUpdate} per
        message found, ascending by UID.

        @raise LockChanged: if the grant's lock version is out of date.
        """

    def expunge(
        grant: MailboxGrant, uids: Sequence[int] | None = None
    ) -> Deferred[list[MessageSummary]]:
        """
        Delete the messages of C{grant.mailbox} flagged C{\\Deleted} (only
        those with the given UIDs, if any are given); fires with what went,
        ascending by UID.

        @raise LockChanged: if the grant's lock version is out of date.
        """


class IMailboxLocks(IStore):
    """
    Mailbox claims (a password hash), their bearer tokens, and the
    operator's listing of mailboxes.
    """

    def lock_state(mailbox: str) -> Deferred[LockState]:
        """
        Return the mailbox's L{LockState} (version 0, unclaimed, if the
        mailbox does not exist).
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

    def list_mailboxes(limit: int, offset: int = 0) -> Deferred[MailboxPage]:
        """
        Return a L{MailboxPage} of every mailbox, by address.
        """


class IWebhookStore(IStore):
    """
    Webhooks, their stored deliveries and the log of attempts.

    Deliveries are written by the message writes that cause them (see
    L{IMessageStore}); a dispatcher claims due ones under a lease, so two
    dispatchers (on one database) never send the same attempt, and the
    deliveries of one that crashed are taken over when its lease ends.
    """

    def create_webhook(
        grant: MailboxGrant, url: str, events: tuple[str, ...], secret: str, limit: int
    ) -> Deferred[Webhook | None]:
        """
        Add a webhook to C{grant.mailbox} (creating the mailbox if needed);
        fires C{None}, adding nothing, if the mailbox already has C{limit}.

        @raise LockChanged: if the grant's lock version is out of date.
        """

    def list_webhooks(mailbox: str) -> Deferred[list[Webhook]]:
        """
        Return a mailbox's webhooks, newest first.
        """

    def may_owe_deliveries(mailbox: str) -> bool:
        """
        Whether a change to C{mailbox} that has just committed may have
        written deliveries: answered from memory, without a query, and
        C{True} when the store is not sure.  A dispatcher asks it before
        claiming after an arrival, so mail to mailboxes without webhooks
        costs no claim; its poll finds anything else.
        """

    def get_webhook(id: str) -> Deferred[Webhook | None]:
        """
        Return one webhook, or C{None} if it is unknown.
        """

    def update_webhook(
        grant: MailboxGrant, id: str, change: WebhookChange
    ) -> Deferred[Webhook | None]:
        """
        Apply C{change}; fires with the webhook as it now is, or C{None} if
        it is not a webhook of C{grant.mailbox}.  Disabling abandons its
        pending deliveries; enabling clears its failure count and reason.

        @raise LockChanged: if the grant's lock version is out of date.
        """

    def delete_webhook(grant: MailboxGrant, id: str) -> Deferred[bool]:
        """
        Delete a webhook of C{grant.mailbox} with its deliveries and log;
        fires whether it existed.

        @raise LockChanged: if the grant's lock version is out of date.
        """

    def claim_deliveries(
        owner: str, now: datetime, lease_until: datetime, limit: int, per_webhook: int
    ) -> Deferred[list[DueDelivery]]:
        """
        Lease up to C{limit} pending deliveries of enabled webhooks that are
        due at C{now} and not leased (or whose lease has ended), soonest
        first, to C{owner} until C{lease_until}; a webhook never has more
        than C{per_webhook} deliveries leased at once, so one slow target
        cannot starve the rest.
        """

    def release_deliveries(owner: str) -> Deferred[int]:
        """
        End every lease C{owner} holds (at a clean shutdown), so the
        deliveries can be claimed again at once; fires with how many.
        """

    def record_attempt(
        owner: str, outcome: AttemptOutcome, disable_after: int
    ) -> Deferred[Webhook | None]:
        """
        Log an attempt of a delivery leased to C{owner}, end the lease and
        move the delivery on (retry, delivered or failed).  A failure counts
        against the webhook, which is disabled by C{outcome.disable_reason}
        or after C{disable_after} consecutive failures, abandoning its
        pending deliveries.  Fires with the webhook, or C{None} (recording
        nothing) if the webhook is gone or the lease was lost.
        """

    def prune_deliveries(finished_before: datetime) -> Deferred[int]:
        """
        Delete finished deliveries (and their attempts) created before
        C{finished_before}; fires with how many went.
        """

    def list_attempts(webhook_id: str, limit: int) -> Deferred[list[DeliveryAttempt]]:
        """
        Return a webhook's latest attempts, newest first.
        """


class IMailStore(IMessageStore, IMailboxLocks, IWebhookStore):
    """
    All the storage roles in one object, as each backend provides them.
    Code above storage should ask for the one role it uses.
    """


class IPasswordHasher(Interface):
    """
    Slow password hashing, off the reactor thread.
    """

    def hash(password: str) -> Deferred[str]:
        """
        Hash a new password (see L{tempmail.passwords.hash_password}).
        """

    def verify(password: str, encoded: str) -> Deferred[bool]:
        """
        Check a password against a stored hash, in constant time.
        """


class IFailureLimiter(Interface):
    """
    Counts failed password checks and says how long a client must wait.

    Keys name what is being limited, such as C{mailbox:bob@example.com} or
    C{ip:192.0.2.1}; every door shares one limiter.
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


class ISharedFailureLimits(Interface):
    """
    A store whose database can keep the failure limiter, so that every
    node on it limits guesses together (a server database).
    """

    def failure_limiter(
        clock: IReactorTime, free_failures: int, max_delay: float
    ) -> IFailureLimiter:
        """
        A limiter in this store's database, counting as
        L{tempmail.ratelimit.MemoryFailureLimiter} does.
        """


class IEventSource(Interface):
    """
    A store that records each change's events in its own database, in the
    transaction of the change, for every node on it.  Its events reach the
    hub from the database (each once, in commit order, whichever node made
    the change), so it is not wrapped in
    L{tempmail.publishing.PublishingMailStore}.
    """

    def event_feed(hub: IEventHub, reactor: Any) -> IService:
        """
        A service that feeds C{hub} with every event while it runs.
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
