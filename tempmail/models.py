"""
The values that cross layers: what SMTP hands to storage, and what storage
hands back to REST (and later IMAP, MCP, WebSocket and webhooks).

They are plain frozen data; no layer above storage sees SQL rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Envelope:
    """
    The SMTP envelope of one accepted transaction.

    @ivar mail_from: the reverse path, C{""} for the null sender C{<>}.
    @ivar recipients: normalised mailbox addresses, one per accepted RCPT TO,
        without duplicates, in the order given.
    @ivar received_at: when the final dot arrived (UTC).
    """

    mail_from: str
    recipients: tuple[str, ...]
    received_at: datetime


@dataclass(frozen=True)
class ParsedAttachment:
    """
    One attachment or inline part, decoded.
    """

    filename: str
    content_type: str
    content_id: str | None
    inline: bool
    content: bytes


PREVIEW_LENGTH = 160


@dataclass(frozen=True)
class ParsedMessage:
    """
    The fields read from a message when it arrives: those that are stored
    apart from the raw bytes, for listings and searches.  Every field has a
    usable value even when the message could not be parsed.

    @ivar preview: a short single-line extract of the text body, at most
        L{PREVIEW_LENGTH} characters.
    @ivar attachment_count: how many attachments the message has.
    """

    from_address: str = ""
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    subject: str = ""
    date: datetime | None = None
    message_id: str | None = None
    preview: str = ""
    attachment_count: int = 0


@dataclass(frozen=True)
class MessageContent:
    """
    What is derived from a stored message's raw bytes when it is read: its
    bodies (with Unix line endings), its headers in order, and its
    attachments.
    """

    text: str = ""
    html: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    attachments: tuple[ParsedAttachment, ...] = ()


@dataclass(frozen=True)
class IncomingMessage:
    """
    Everything the store needs to file one accepted message.

    @ivar raw: the message bytes as received, including our C{Received:}
        header; stored once however many recipients it has.
    """

    envelope: Envelope
    raw: bytes
    parsed: ParsedMessage

    def summary_for(self, copy: DeliveredCopy) -> MessageSummary:
        """
        The summary of one mailbox's new copy of this message.
        """
        return MessageSummary(
            id=copy.id,
            mailbox=copy.mailbox,
            uid=copy.uid,
            from_address=self.parsed.from_address,
            subject=self.parsed.subject,
            received_at=self.envelope.received_at,
            size=len(self.raw),
            seen=False,
            attachment_count=self.parsed.attachment_count,
            preview=self.parsed.preview,
        )


@dataclass(frozen=True)
class DeliveredCopy:
    """
    One mailbox's copy of a delivered message.

    @ivar id: the message id used by the API (one per mailbox copy).
    @ivar uid: the per-mailbox IMAP UID, which only grows.
    """

    id: str
    mailbox: str
    uid: int


@dataclass(frozen=True)
class AttachmentInfo:
    """
    An attachment's metadata, without its content.

    @ivar index: its position in the message, used in download URLs.
    """

    index: int
    filename: str
    content_type: str
    size: int
    content_id: str | None
    inline: bool


@dataclass(frozen=True)
class AttachmentContent:
    """
    An attachment's metadata and bytes.
    """

    info: AttachmentInfo
    content: bytes


@dataclass(frozen=True)
class MessageSummary:
    """
    What a mailbox listing shows of a message.

    @ivar uid: its IMAP UID in its mailbox.
    @ivar flags: its IMAP flags other than C{\\Seen} (that one is C{seen}):
        system flags such as C{\\Flagged}, and keywords; sorted.
    """

    id: str
    mailbox: str
    uid: int
    from_address: str
    subject: str
    received_at: datetime
    size: int
    seen: bool
    attachment_count: int
    preview: str
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class FlagUpdate:
    """
    A message's flags after a flag write.

    @ivar summary: the message as it is now.
    @ivar was_seen: whether it was seen before the write.
    @ivar changed: whether the write changed any flag.
    """

    summary: MessageSummary
    was_seen: bool
    changed: bool

    @property
    def became_seen(self) -> bool:
        """
        Whether this write is what marked the message seen (a C{read}).
        """
        return self.summary.seen and not self.was_seen


@dataclass(frozen=True)
class MailboxState:
    """
    What an IMAP client learns when it selects a mailbox.

    @ivar uid_validity: never changes for the life of the mailbox.
    @ivar uid_next: the UID the next message will get.
    @ivar exists: how many messages it holds.
    @ivar unseen: how many of them are not seen.
    """

    mailbox: str
    uid_validity: int
    uid_next: int
    exists: int
    unseen: int


@dataclass(frozen=True)
class LockState:
    """
    A mailbox's lock as one read saw it.

    @ivar password_hash: the claim's password hash, C{None} if unclaimed.
    @ivar version: grows by one at every claim, release and password
        change; C{0} for a mailbox that never had one (or does not exist).
    """

    mailbox: str
    password_hash: str | None
    version: int

    @property
    def claimed(self) -> bool:
        """
        Whether the mailbox is locked.
        """
        return self.password_hash is not None


@dataclass(frozen=True)
class MailboxGrant:
    """
    What a lock check allowed: changes to one mailbox, as long as its lock
    is still the one the check saw.

    Every write that a lock check guards takes a grant, and the store makes
    the write only if the mailbox's lock version is still C{lock_version}
    (in the same transaction), so a claim that lands between the check and
    the write refuses the write.  C{lock_version=None} is unconditional:
    the operator's admin token, and writes no lock guards.
    """

    mailbox: str
    lock_version: int | None


@dataclass(frozen=True)
class StoredMessage:
    """
    A whole stored message, apart from its raw bytes and attachment content,
    which are fetched on their own.
    """

    summary: MessageSummary
    to: tuple[str, ...]
    cc: tuple[str, ...]
    date: datetime | None
    message_id: str | None
    text: str
    html: str
    headers: tuple[tuple[str, str], ...]
    envelope_from: str
    envelope_to: tuple[str, ...]
    attachments: tuple[AttachmentInfo, ...] = field(default=())


@dataclass(frozen=True)
class MessagePage:
    """
    One page of a mailbox listing, newest first.

    @ivar total: how many messages the mailbox holds in all.
    @ivar next_before: the cursor for the next page, or C{None} at the end.
    """

    summaries: tuple[MessageSummary, ...]
    total: int
    next_before: str | None


@dataclass(frozen=True)
class TokenGrant:
    """
    A bearer token to store: its digest (never the token) and expiry.
    """

    digest: str
    expires_at: datetime


@dataclass(frozen=True)
class MailboxInfo:
    """
    One mailbox as the operator's listing shows it.
    """

    address: str
    messages: int
    is_locked: bool
    created_at: datetime


@dataclass(frozen=True)
class MailboxPage:
    """
    One page of the operator's mailbox listing, by address.
    """

    mailboxes: tuple[MailboxInfo, ...]
    total: int


@dataclass(frozen=True)
class Webhook:
    """
    A mailbox's webhook.

    @ivar events: the event names it wants (C{arrival}, C{deletion}, C{read}).
    @ivar secret: the HMAC key for its signatures; shown to the client once.
    @ivar disabled_reason: why it was switched off, when it was.
    @ivar consecutive_failures: failed attempts since the last success.
    """

    id: str
    mailbox: str
    url: str
    events: tuple[str, ...]
    secret: str
    enabled: bool
    created_at: datetime
    disabled_reason: str | None = None
    consecutive_failures: int = 0


@dataclass(frozen=True)
class WebhookChange:
    """
    The fields of a webhook to change; C{None} leaves one as it is.
    """

    url: str | None = None
    events: tuple[str, ...] | None = None
    enabled: bool | None = None


@dataclass(frozen=True)
class StoreStatistics:
    """
    What a store holds, for monitoring.

    @ivar mailboxes: mailboxes known (with mail, claimed, or with webhooks).
    @ivar messages: message copies, one per mailbox a message is in.
    @ivar size: bytes the store takes (for SQLite, the database file's pages).
    @ivar pending_deliveries: webhook deliveries not yet delivered or given up.
    @ivar oldest_pending: when the oldest of them was made; C{None} if none.
    """

    mailboxes: int
    messages: int
    size: int
    pending_deliveries: int
    oldest_pending: datetime | None


@dataclass(frozen=True)
class NewDelivery:
    """
    One event to send to one webhook, stored before the first attempt.

    @ivar id: the C{X-Tempmail-Delivery} id, the same on every retry.
    @ivar payload: the exact JSON body sent on every attempt.
    """

    id: str
    webhook_id: str
    event: str
    payload: bytes
    due_at: datetime


@dataclass(frozen=True)
class DueDelivery:
    """
    A stored delivery whose next attempt is due, with where to send it,
    leased to the dispatcher that claimed it.

    @ivar attempts: attempts already made.
    """

    id: str
    webhook_id: str
    url: str
    secret: str
    event: str
    payload: bytes
    attempts: int


@dataclass(frozen=True)
class DeliveryAttempt:
    """
    The record of one attempt, as C{GET /api/webhook/{id}/deliveries} shows it.

    @ivar status: the HTTP status, or C{None} if there was no response.
    """

    delivery_id: str
    event: str
    attempt: int
    at: datetime
    status: int | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True)
class AttemptOutcome:
    """
    What an attempt means for its delivery and webhook.

    @ivar retry_at: when to try again; C{None} when the delivery is finished.
    @ivar delivered: whether the target accepted it.
    @ivar disable_reason: switch the webhook off, saying why (410 Gone).
    """

    attempt: DeliveryAttempt
    webhook_id: str
    delivered: bool
    retry_at: datetime | None = None
    disable_reason: str | None = None
