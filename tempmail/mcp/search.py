"""
Finding messages in one mailbox by sender, recipient, subject, body text
and time received: the one search that C{search_emails} and
C{wait_for_email} use.

The MCP arguments become a L{tempmail.search} criterion (L{mail_criterion}),
the kind IMAP SEARCH builds, and the store matches it: header values
RFC 2047-decoded, body text MIME-decoded, case-insensitive.
L{search_mailbox} asks the store one UID range at a time, from the newest
message down, so the whole mailbox is searched while no call holds more
than a batch (L{SEARCH_BATCH}) of UIDs or summaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from tempmail.interfaces import IMessageStore
from tempmail.models import MessageSummary
from tempmail.search import (
    AnyOf,
    Criterion,
    HeaderContains,
    Not,
    ReceivedAfter,
    TextContains,
    all_of,
)

# UIDs per search_uids call, and so at most the summaries read at once.
SEARCH_BATCH = 2000


def parse_time(text: str) -> datetime:
    """
    An RFC 3339 time (C{Z} or an offset; none means UTC).

    @raise ValueError: if C{text} is not one.
    """
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def mail_criterion(
    *,
    sender: str | None = None,
    recipient: str | None = None,
    subject: str | None = None,
    text: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Criterion:
    """
    The criterion that every one given holds; an empty text is no
    criterion, as every text contains it.

    @param sender: in the C{From} header.
    @param recipient: in the C{To} or C{Cc} header.
    @param subject: in the subject.
    @param text: in the body text (any C{text/*} part, HTML included).
    @param since: received strictly after this time.
    @param until: received at or before this time.
    """
    # The times come first: they are plain columns, so a store can rule
    # messages out before decoding any of them.
    parts: list[Criterion] = []
    if since is not None:
        parts.append(ReceivedAfter(since))
    if until is not None:
        parts.append(Not(ReceivedAfter(until)))
    if sender:
        parts.append(HeaderContains("from", sender))
    if recipient:
        parts.append(AnyOf((HeaderContains("to", recipient), HeaderContains("cc", recipient))))
    if subject:
        parts.append(HeaderContains("subject", subject))
    if text:
        parts.append(TextContains(text, headers=False))
    return all_of(parts)


@dataclass(frozen=True)
class SearchOutcome:
    """
    What a search found, newest first.

    @ivar complete: C{False} if older messages match too, beyond the
        limit asked for.
    """

    summaries: tuple[MessageSummary, ...]
    complete: bool


async def search_mailbox(
    store: IMessageStore,
    mailbox: str,
    criterion: Criterion,
    limit: int,
    batch: int = SEARCH_BATCH,
) -> SearchOutcome:
    """
    The newest C{limit} messages of C{mailbox} that C{criterion} matches
    (newest is the highest UID, as listings order them).

    It stops as soon as it knows whether a match beyond C{limit} exists;
    with fewer matches it searches down to the mailbox's first message.

    @param batch: UIDs per store search.
    """
    newest = await store.list_messages(mailbox, 1)
    if not newest.summaries:
        return SearchOutcome((), True)
    found: list[MessageSummary] = []
    last = newest.summaries[0].uid
    while last >= 1:
        first = max(1, last - batch + 1)
        matched = await store.search_uids(mailbox, criterion, first, last)
        room = limit - len(found)
        found.extend(await _summaries(store, mailbox, matched[-room:] if room > 0 else []))
        if len(matched) > room:
            return SearchOutcome(tuple(found), False)
        last = first - 1
    return SearchOutcome(tuple(found), True)


async def _summaries(store: IMessageStore, mailbox: str, uids: list[int]) -> list[MessageSummary]:
    """
    The summaries of those messages of C{uids} (ascending, from one batch)
    that still exist, newest first.
    """
    if not uids:
        return []
    wanted = set(uids)
    read = await store.messages_by_uid(mailbox, uids[0], uids[-1])
    return [summary for summary in reversed(read) if summary.uid in wanted]
