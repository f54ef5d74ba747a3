"""
The message role (L{IMessageStore}) of L{tempmail.testing.MemoryMailStore}.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime

from twisted.internet.defer import Deferred, fail, succeed

from tempmail import outbox
from tempmail.events import DeletionReason
from tempmail.flags import DELETED, SEEN, FlagMode, flag_update
from tempmail.interfaces import UnknownCursor
from tempmail.models import (
    AttachmentContent,
    AttachmentInfo,
    DeliveredCopy,
    FlagUpdate,
    IncomingMessage,
    MailboxGrant,
    MailboxState,
    MessagePage,
    MessageSummary,
    StoredMessage,
)
from tempmail.parsing import read_content
from tempmail.search import (
    AllOf,
    AnyOf,
    Criterion,
    DateField,
    DateIs,
    Everything,
    HasFlag,
    HeaderContains,
    Not,
    ReceivedAfter,
    SizeIs,
    TextContains,
    UidIn,
    day_matches,
    header_contains,
    sent_day,
    text_contains,
)
from tempmail.testing._state import MemoryState, write


class MemoryMessages(MemoryState):
    """
    Mail in dictionaries.
    """

    def _copy(self, id: str) -> StoredMessage | None:
        mailbox = self._where.get(id)
        return None if mailbox is None else self._mailboxes[mailbox].copies[id]

    def _ordered(self, mailbox: str) -> list[MessageSummary]:
        box = self._mailboxes.get(mailbox)
        return sorted((c.summary for c in box.copies.values()) if box else (), key=lambda s: s.uid)

    @write
    def deliver(self, message: IncomingMessage) -> Deferred[list[DeliveredCopy]]:
        parsed, envelope = message.parsed, message.envelope
        # Like every store, derive the content from the raw bytes.
        content = read_content(message.raw)
        attachments = tuple(
            AttachmentContent(
                AttachmentInfo(
                    i, a.filename, a.content_type, len(a.content), a.content_id, a.inline
                ),
                a.content,
            )
            for i, a in enumerate(content.attachments)
        )
        copies = []
        for address in envelope.recipients:
            mailbox = self._mailbox(address)
            copy = DeliveredCopy(str(uuid.uuid4()), address, mailbox.uid_next)
            mailbox.uid_next += 1
            mailbox.copies[copy.id] = StoredMessage(
                summary=message.summary_for(copy),
                to=parsed.to,
                cc=parsed.cc,
                date=parsed.date,
                message_id=parsed.message_id,
                text=content.text,
                html=content.html,
                headers=content.headers,
                envelope_from=envelope.mail_from,
                envelope_to=envelope.recipients,
                attachments=tuple(a.info for a in attachments),
            )
            self._raw[copy.id] = message.raw
            self._attachments[copy.id] = attachments
            self._where[copy.id] = address
            copies.append(copy)
        self._write_outbox([outbox.arrival(message.summary_for(c)) for c in copies])
        return succeed(copies)

    def list_messages(
        self, mailbox: str, limit: int, offset: int = 0, before: str | None = None
    ) -> Deferred[MessagePage]:
        ordered = self._ordered(mailbox)[::-1]
        if before is not None:
            uids = [s.uid for s in ordered if s.id == before]
            if not uids:
                return fail(UnknownCursor(before))
            after = [s for s in ordered if s.uid < uids[0]]
        else:
            after = ordered[offset:]
        page = tuple(after[:limit])
        more = len(after) > limit and page
        return succeed(MessagePage(page, len(ordered), page[-1].id if more else None))

    def get_messages(self, ids: Sequence[str]) -> Deferred[list[StoredMessage]]:
        found = (self._copy(i) for i in ids)
        return succeed([m for m in found if m is not None])

    def get_raw(self, id: str) -> Deferred[bytes | None]:
        return succeed(self._raw.get(id))

    def get_attachment(self, id: str, index: int) -> Deferred[AttachmentContent | None]:
        attachments = self._attachments.get(id, ())
        return succeed(attachments[index] if 0 <= index < len(attachments) else None)

    def mailbox_of(self, id: str) -> Deferred[str | None]:
        return succeed(self._where.get(id))

    # Flags

    def _write_flags(
        self, found: list[MessageSummary], flags: frozenset[str], mode: FlagMode
    ) -> list[FlagUpdate]:
        updates = [flag_update(before, flags, mode) for before in found]
        for update in updates:
            if update.changed:
                copies = self._mailboxes[update.summary.mailbox].copies
                copies[update.summary.id] = replace(
                    copies[update.summary.id], summary=update.summary
                )
        self._write_outbox([outbox.read(u.summary) for u in updates if u.became_seen])
        return updates

    @write
    def set_seen(self, grant: MailboxGrant, id: str, seen: bool) -> Deferred[FlagUpdate | None]:
        self._granted(grant)
        message = self._copy(id)
        if message is None or message.summary.mailbox != grant.mailbox:
            return succeed(None)
        mode = FlagMode.ADD if seen else FlagMode.REMOVE
        (update,) = self._write_flags([message.summary], frozenset({SEEN}), mode)
        return succeed(update)

    @write
    def store_flags(
        self, grant: MailboxGrant, uids: Sequence[int], flags: frozenset[str], mode: FlagMode
    ) -> Deferred[list[FlagUpdate]]:
        self._granted(grant)
        wanted = set(uids)
        found = [s for s in self._ordered(grant.mailbox) if s.uid in wanted]
        return succeed(self._write_flags(found, flags, mode))

    # Deleting

    def _delete(self, ids: list[str], reason: DeletionReason) -> list[MessageSummary]:
        deleted = []
        for id in ids:
            mailbox = self._where.pop(id, None)
            if mailbox is not None:
                deleted.append(self._mailboxes[mailbox].copies.pop(id).summary)
                del self._raw[id]
                del self._attachments[id]
        deleted.sort(key=lambda s: (s.received_at, s.uid))
        self._write_outbox([outbox.deletion(s, reason) for s in deleted])
        return deleted

    @write
    def delete_message(self, grant: MailboxGrant, id: str) -> Deferred[MessageSummary | None]:
        self._granted(grant)
        if self._where.get(id) != grant.mailbox:
            return succeed(None)
        return succeed(self._delete([id], DeletionReason.DELETED)[0])

    @write
    def empty_mailbox(self, grant: MailboxGrant) -> Deferred[list[MessageSummary]]:
        box = self._granted(grant)
        return succeed(self._delete(list(box.copies) if box else [], DeletionReason.DELETED))

    def _all_summaries(self) -> list[MessageSummary]:
        return [c.summary for box in self._mailboxes.values() for c in box.copies.values()]

    @write
    def expire_messages(self, older_than: datetime, limit: int) -> Deferred[list[MessageSummary]]:
        old = sorted(
            (s for s in self._all_summaries() if s.received_at < older_than),
            key=lambda s: s.received_at,
        )
        return succeed(self._delete([s.id for s in old[:limit]], DeletionReason.RETENTION))

    @write
    def trim_mailboxes(self, keep: int, limit: int) -> Deferred[list[MessageSummary]]:
        surplus: list[str] = []
        for address in self._mailboxes:
            surplus.extend(s.id for s in self._ordered(address)[::-1][keep:])
        return succeed(self._delete(surplus[:limit], DeletionReason.RETENTION))

    @write
    def expunge(
        self, grant: MailboxGrant, uids: Sequence[int] | None = None
    ) -> Deferred[list[MessageSummary]]:
        self._granted(grant)
        wanted = None if uids is None else set(uids)
        doomed = [
            s.id
            for s in self._ordered(grant.mailbox)
            if DELETED in s.flags and (wanted is None or s.uid in wanted)
        ]
        gone = self._delete(doomed, DeletionReason.EXPUNGED)
        return succeed(sorted(gone, key=lambda s: s.uid))

    # IMAP views

    @write
    def open_mailbox(self, mailbox: str) -> Deferred[MailboxState]:
        box = self._mailbox(mailbox)
        ordered = self._ordered(mailbox)
        unseen = sum(1 for s in ordered if not s.seen)
        return succeed(MailboxState(mailbox, box.uid_validity, box.uid_next, len(ordered), unseen))

    def list_uids(self, mailbox: str) -> Deferred[list[int]]:
        return succeed([s.uid for s in self._ordered(mailbox)])

    def messages_by_uid(
        self, mailbox: str, first: int, last: int | None
    ) -> Deferred[list[MessageSummary]]:
        return succeed(
            [
                s
                for s in self._ordered(mailbox)
                if s.uid >= first and (last is None or s.uid <= last)
            ]
        )

    def messages_by_sequence(
        self, mailbox: str, first: int, last: int | None
    ) -> Deferred[list[MessageSummary]]:
        ordered = self._ordered(mailbox)
        return succeed(ordered[max(first - 1, 0) : None if last is None else max(last, 0)])

    def raws_by_id(self, ids: Sequence[str]) -> Deferred[dict[str, bytes]]:
        return succeed({id: self._raw[id] for id in ids if id in self._raw})

    def search_uids(
        self, mailbox: str, criterion: Criterion, first: int, last: int
    ) -> Deferred[list[int]]:
        box = self._mailboxes.get(mailbox)
        copies = sorted(box.copies.values() if box else (), key=lambda c: c.summary.uid)
        return succeed(
            [
                c.summary.uid
                for c in copies
                if first <= c.summary.uid <= last and self._matches(c, criterion)
            ]
        )

    def _matches(self, copy: StoredMessage, criterion: Criterion) -> bool:
        summary = copy.summary
        match criterion:
            case Everything():
                return True
            case HasFlag(flag=flag):
                return (
                    summary.seen if flag == SEEN else flag.lower() in map(str.lower, summary.flags)
                )
            case HeaderContains(name=name, text=text):
                return header_contains(self._raw[summary.id], name, text)
            case TextContains(text=text, headers=headers):
                return text_contains(self._raw[summary.id], text, headers)
            case DateIs(field=field, relation=relation, day=day):
                if field is DateField.RECEIVED:
                    on: date | None = summary.received_at.astimezone(UTC).date()
                else:
                    on = sent_day(self._raw[summary.id])
                return day_matches(relation, on, day)
            case ReceivedAfter(moment=moment):
                return summary.received_at > moment
            case SizeIs(larger=larger, size=size):
                return summary.size > size if larger else summary.size < size
            case UidIn(ranges=ranges):
                return any(low <= summary.uid <= high for low, high in ranges)
            case Not(criterion=inner):
                return not self._matches(copy, inner)
            case AnyOf(criteria=parts):
                return any(self._matches(copy, part) for part in parts)
            case AllOf(criteria=parts):
                return all(self._matches(copy, part) for part in parts)
        raise TypeError(f"not a search criterion: {criterion!r}")
