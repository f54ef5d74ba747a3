"""
Finding messages in one mailbox by sender, recipient, subject, body text
and date: the one function that C{search_emails} and C{wait_for_email} use.

It reads through the store's listing API, newest first, and looks at no
more than C{bound} messages (C{MCP_SEARCH_LIMIT}); the outcome says whether
it reached the bound.  When the store gets a search method of its own, only
L{search_mailbox} changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from tempmail.interfaces import IMessageStore, UnknownCursor
from tempmail.models import MessageSummary, StoredMessage

# Summaries read per listing call, and full messages per get_messages call.
PAGE = 100


def parse_time(text: str) -> datetime:
    """
    An RFC 3339 time (C{Z} or an offset; none means UTC).

    @raise ValueError: if C{text} is not one.
    """
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _contains(haystack: str, needle: str | None) -> bool:
    return needle is None or needle.casefold() in haystack.casefold()


@dataclass(frozen=True)
class SearchCriteria:
    """
    What a message must have; every given criterion must hold.  Text
    criteria match a case-insensitive substring.

    @ivar sender: in the C{From} address.
    @ivar recipient: in C{To}, C{Cc} or the envelope recipients.
    @ivar subject: in the subject.
    @ivar text: in the text or HTML body.
    @ivar since: received strictly after this time.
    @ivar until: received at or before this time.
    """

    sender: str | None = None
    recipient: str | None = None
    subject: str | None = None
    text: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def summary_matches(self, summary: MessageSummary) -> bool:
        """
        Whether the criteria a summary shows hold.
        """
        return (
            _contains(summary.from_address, self.sender)
            and _contains(summary.subject, self.subject)
            and (self.since is None or summary.received_at > self.since)
            and (self.until is None or summary.received_at <= self.until)
        )

    @property
    def needs_message(self) -> bool:
        """
        Whether whole messages must be read (for recipients or body text).
        """
        return self.recipient is not None or self.text is not None

    def message_matches(self, message: StoredMessage) -> bool:
        """
        Whether the criteria only a whole message shows hold.
        """
        recipients = " ".join((*message.to, *message.cc, *message.envelope_to))
        body = message.text + "\n" + message.html
        return _contains(recipients, self.recipient) and _contains(body, self.text)


@dataclass(frozen=True)
class SearchOutcome:
    """
    What a search found, newest first.

    @ivar scanned: how many messages it looked at.
    @ivar complete: C{False} if it stopped with older messages left
        unread: at the bound, or because the mailbox changed under it.
    """

    summaries: tuple[MessageSummary, ...]
    scanned: int
    complete: bool


async def search_mailbox(
    store: IMessageStore, mailbox: str, criteria: SearchCriteria, limit: int, bound: int
) -> SearchOutcome:
    """
    The newest C{limit} messages of C{mailbox} that match C{criteria},
    looking at its newest C{bound} messages at most.
    """
    found: list[MessageSummary] = []
    scanned = 0
    before: str | None = None
    while len(found) < limit:
        if scanned >= bound:
            return SearchOutcome(tuple(found), scanned, False)
        try:
            page = await store.list_messages(mailbox, min(PAGE, bound - scanned), 0, before)
        except UnknownCursor:
            # The message the last page ended on was deleted meanwhile.
            return SearchOutcome(tuple(found), scanned, False)
        scanned += len(page.summaries)
        candidates = [s for s in page.summaries if criteria.summary_matches(s)]
        if criteria.needs_message and candidates:
            messages = await store.get_messages([s.id for s in candidates])
            kept = {m.summary.id for m in messages if criteria.message_matches(m)}
            candidates = [s for s in candidates if s.id in kept]
        found.extend(candidates[: limit - len(found)])
        oldest = page.summaries[-1].received_at if page.summaries else None
        # Newest first: past the start of the window, nothing older can match.
        if page.next_before is None or (
            criteria.since is not None and oldest is not None and oldest <= criteria.since
        ):
            return SearchOutcome(tuple(found), scanned, True)
        before = page.next_before
    return SearchOutcome(tuple(found), scanned, True)
