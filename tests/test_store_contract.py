"""
The IMailStore contract for messages, run against every implementation (the
C{store} fixture in conftest.py): the SQLite store on a real file, the
in-memory fake shipped in L{tempmail.testing}, and the publishing wrapper.
A fake that passes these tests behaves like the real thing.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import pytest_twisted
from twisted.internet.defer import DeferredList
from zope.interface.verify import verifyObject

from tempmail.flags import FlagMode
from tempmail.interfaces import (
    IMailboxLocks,
    IMailStore,
    IMessageStore,
    IWebhookStore,
    LockChanged,
    StorageUnavailable,
    UnknownCursor,
)
from tempmail.models import IncomingMessage, MailboxGrant, TokenGrant
from tempmail.parsing import parse_message
from tempmail.testing import MemoryMailStore
from tests.support import T0, incoming, open_grant


@pytest.mark.parametrize("role", [IMailStore, IMessageStore, IMailboxLocks, IWebhookStore])
def test_provides_every_role(store: IMailStore, role: object) -> None:
    assert verifyObject(role, store)


@pytest_twisted.ensureDeferred
async def test_delivery_makes_one_copy_per_recipient(store: IMailStore) -> None:
    copies = await store.deliver(incoming("a@example.com", "b@example.com", attachments=2))

    assert [c.mailbox for c in copies] == ["a@example.com", "b@example.com"]
    assert len({c.id for c in copies}) == 2
    messages = await store.get_messages([c.id for c in copies])
    assert [m.summary.mailbox for m in messages] == ["a@example.com", "b@example.com"]
    first = messages[0]
    assert first.summary.from_address == "alice@sender.test"
    assert first.summary.received_at == T0
    assert first.summary.attachment_count == 2
    assert first.summary.seen is False
    assert first.summary.preview == "text of hi"
    assert first.to == ("header@example.com",)
    assert first.cc == ("cc@example.com",)
    assert first.date == T0 - timedelta(minutes=1)
    assert first.message_id == "<m1@sender.test>"
    assert (first.text, first.html) == ("text of hi", "<p>hi</p>")
    # Headers come in order, a repeated one as often as it was given.
    assert [h for h in first.headers if h[0] in ("Subject", "X-Twice")] == [
        ("Subject", "hi"),
        ("X-Twice", "1"),
        ("X-Twice", "2"),
    ]
    assert first.envelope_from == "alice@sender.test"
    assert first.envelope_to == ("a@example.com", "b@example.com")
    assert [(a.index, a.filename, a.size) for a in first.attachments] == [
        (0, "f0.bin", 10),
        (1, "f1.bin", 10),
    ]


@pytest_twisted.ensureDeferred
async def test_uids_only_grow_per_mailbox(store: IMailStore) -> None:
    uids = []
    for _ in range(3):
        (copy,) = await store.deliver(incoming("u@example.com"))
        uids.append(copy.uid)
    (other,) = await store.deliver(incoming("other@example.com"))
    assert uids == [1, 2, 3]
    assert other.uid == 1
    await store.empty_mailbox(open_grant("u@example.com"))
    (after,) = await store.deliver(incoming("u@example.com"))
    assert after.uid == 4


@pytest_twisted.ensureDeferred
async def test_listing_is_newest_first_with_cursor_and_offset(store: IMailStore) -> None:
    for n in range(5):
        await store.deliver(
            incoming("l@example.com", subject=f"n{n}", at=T0 + timedelta(seconds=n))
        )

    first = await store.list_messages("l@example.com", limit=2)
    assert [s.subject for s in first.summaries] == ["n4", "n3"]
    assert first.total == 5
    assert first.next_before == first.summaries[-1].id
    rest = await store.list_messages("l@example.com", limit=10, before=first.next_before)
    assert [s.subject for s in rest.summaries] == ["n2", "n1", "n0"]
    assert rest.next_before is None
    skipped = await store.list_messages("l@example.com", limit=2, offset=3)
    assert [s.subject for s in skipped.summaries] == ["n1", "n0"]
    empty = await store.list_messages("nobody@example.com", limit=10)
    assert (empty.summaries, empty.total, empty.next_before) == ((), 0, None)


@pytest_twisted.ensureDeferred
async def test_cursor_from_another_mailbox_is_refused(store: IMailStore) -> None:
    (copy,) = await store.deliver(incoming("mine@example.com"))
    with pytest.raises(UnknownCursor):
        await store.list_messages("yours@example.com", limit=10, before=copy.id)


@pytest_twisted.ensureDeferred
async def test_raw_and_attachments(store: IMailStore) -> None:
    message = incoming("r@example.com", attachments=1)
    (copy,) = await store.deliver(message)
    assert await store.get_raw(copy.id) == message.raw
    attachment = await store.get_attachment(copy.id, 0)
    assert attachment is not None
    assert attachment.content == b"\x00" * 10
    assert attachment.info.content_type == "application/octet-stream"
    assert await store.get_attachment(copy.id, 1) is None
    assert await store.get_raw("no-such-id") is None
    assert await store.get_messages(["no-such-id"]) == []


@pytest_twisted.ensureDeferred
async def test_seen_flag(store: IMailStore) -> None:
    (copy,) = await store.deliver(incoming("s@example.com"))
    grant = open_grant("s@example.com")
    first = await store.set_seen(grant, copy.id, True)
    assert first is not None
    assert (first.changed, first.became_seen, first.summary.seen) == (True, True, True)
    again = await store.set_seen(grant, copy.id, True)
    assert again is not None
    assert (again.changed, again.became_seen) == (False, False)
    (message,) = await store.get_messages([copy.id])
    assert message.summary.seen is True
    cleared = await store.set_seen(grant, copy.id, False)
    assert cleared is not None
    assert (cleared.changed, cleared.summary.seen) == (True, False)
    assert await store.set_seen(grant, "no-such-id", True) is None
    # A message of another mailbox is not this grant's to change.
    assert await store.set_seen(open_grant("other@example.com"), copy.id, True) is None


@pytest_twisted.ensureDeferred
async def test_deleting_one_copy_keeps_the_others(store: IMailStore) -> None:
    message = incoming("d1@example.com", "d2@example.com")
    first, second = await store.deliver(message)
    assert await store.delete_message(open_grant("d2@example.com"), first.id) is None
    deleted = await store.delete_message(open_grant("d1@example.com"), first.id)
    assert deleted is not None
    assert (deleted.id, deleted.mailbox, deleted.subject) == (first.id, "d1@example.com", "hi")
    assert await store.delete_message(open_grant("d1@example.com"), first.id) is None
    assert await store.get_raw(first.id) is None
    assert await store.get_raw(second.id) == message.raw
    assert (await store.list_messages("d1@example.com", 10)).total == 0
    assert (await store.list_messages("d2@example.com", 10)).total == 1


@pytest_twisted.ensureDeferred
async def test_empty_mailbox(store: IMailStore) -> None:
    for _ in range(3):
        await store.deliver(incoming("e@example.com", "keep@example.com"))
    emptied = await store.empty_mailbox(open_grant("e@example.com"))
    assert sorted(s.uid for s in emptied) == [1, 2, 3]
    assert {s.mailbox for s in emptied} == {"e@example.com"}
    assert await store.empty_mailbox(open_grant("e@example.com")) == []
    assert (await store.list_messages("keep@example.com", 10)).total == 3


@pytest_twisted.ensureDeferred
async def test_health(store: IMailStore) -> None:
    healthy = await store.check_health().addCallback(lambda _: True)
    assert healthy is True


@pytest_twisted.ensureDeferred
async def test_memory_store_can_fail_writes_like_a_full_disk() -> None:
    store = MemoryMailStore()
    store.fail_writes = True
    with pytest.raises(StorageUnavailable):
        await store.deliver(incoming("x@example.com"))
    assert (await store.list_messages("x@example.com", 10)).total == 0


@pytest_twisted.ensureDeferred
async def test_expiry_deletes_the_oldest_first_in_batches(store: IMailStore) -> None:
    for n in range(5):
        await store.deliver(
            incoming("old@example.com", subject=f"n{n}", at=T0 + timedelta(hours=n))
        )
    cutoff = T0 + timedelta(hours=3)
    first = await store.expire_messages(cutoff, limit=2)
    assert [s.subject for s in first] == ["n0", "n1"]
    second = await store.expire_messages(cutoff, limit=2)
    assert [s.subject for s in second] == ["n2"]
    assert await store.expire_messages(cutoff, limit=2) == []
    left = await store.list_messages("old@example.com", 10)
    assert [s.subject for s in left.summaries] == ["n4", "n3"]


@pytest_twisted.ensureDeferred
async def test_trimming_keeps_the_newest_per_mailbox(store: IMailStore) -> None:
    for n in range(4):
        await store.deliver(incoming("a@example.com", "b@example.com", subject=f"n{n}"))
    await store.deliver(incoming("c@example.com", subject="only"))
    trimmed = await store.trim_mailboxes(keep=2, limit=100)
    assert sorted((s.mailbox, s.subject) for s in trimmed) == [
        ("a@example.com", "n0"),
        ("a@example.com", "n1"),
        ("b@example.com", "n0"),
        ("b@example.com", "n1"),
    ]
    assert await store.trim_mailboxes(keep=2, limit=100) == []
    assert (await store.list_messages("c@example.com", 10)).total == 1


@pytest_twisted.ensureDeferred
async def test_a_write_under_an_old_lock_is_refused(store: IMailStore) -> None:
    (copy,) = await store.deliver(incoming("g@example.com"))
    before = await store.lock_state("g@example.com")
    assert (before.claimed, before.version) == (False, 0)
    stale = MailboxGrant("g@example.com", before.version)
    token = TokenGrant("digest", T0 + timedelta(days=1))
    assert await store.claim_mailbox("g@example.com", "hash", token) is True
    after = await store.lock_state("g@example.com")
    assert after.claimed and after.version > before.version

    for write in (
        lambda: store.set_seen(stale, copy.id, True),
        lambda: store.delete_message(stale, copy.id),
        lambda: store.empty_mailbox(stale),
        lambda: store.store_flags(stale, [copy.uid], frozenset({"\\Flagged"}), FlagMode.ADD),
        lambda: store.expunge(stale),
        lambda: store.create_webhook(stale, "https://h.test/", ("arrival",), "s", 20),
    ):
        with pytest.raises(LockChanged):
            await write()
    (message,) = await store.get_messages([copy.id])
    assert message.summary.seen is False
    assert await store.list_webhooks("g@example.com") == []
    # A grant from a check after the claim writes; so does the admin's.
    current = MailboxGrant("g@example.com", after.version)
    assert await store.set_seen(current, copy.id, True) is not None
    assert await store.delete_message(MailboxGrant("g@example.com", None), copy.id) is not None


@pytest_twisted.ensureDeferred
async def test_a_large_message_comes_back_byte_for_byte(store: IMailStore) -> None:
    small = incoming("big@example.com")
    # Over a megabyte, with bytes that differ along the way.
    raw = small.raw + b"".join(b"%07d\r\n" % i for i in range(400_000))
    message = IncomingMessage(small.envelope, raw, parse_message(raw))
    (copy,) = await store.deliver(message)
    assert await store.get_raw(copy.id) == raw
    (listed,) = (await store.list_messages("big@example.com", 10)).summaries
    assert listed.size == len(raw)


@pytest_twisted.ensureDeferred
async def test_raw_8bit_headers_are_stored_as_text(store: IMailStore) -> None:
    # Headers in raw UTF-8 (no encoded words) and in bytes that are no UTF-8
    # at all: a store takes them, and whatever was delivered with them in
    # the same transaction is not refused along with them.
    plain = incoming("eight@example.com", subject="fine")
    raw = (
        b"From: J\xc3\xbcrgen <j\xc3\xbcrgen@sender.test>\r\nTo: eight@example.com\r\n"
        b"Subject: Gr\xc3\xbc\xc3\x9fe \xff\xfe\r\n"
        b"Message-ID: <\xe9t\xe9@sender.test>\r\n\r\nbody\r\n"
    )
    eight = IncomingMessage(plain.envelope, raw, parse_message(raw))
    delivered = await DeferredList([store.deliver(eight), store.deliver(plain)])
    assert [ok for ok, _ in delivered] == [True, True]
    listed = (await store.list_messages("eight@example.com", 10)).summaries
    assert sorted(s.subject for s in listed) == ["Grüße \ufffd\ufffd", "fine"]
    assert "jürgen@sender.test" in {s.from_address for s in listed}


@pytest_twisted.ensureDeferred
async def test_deliveries_asked_together_get_uids_in_order(store: IMailStore) -> None:
    # A store may commit deliveries asked for at once in one transaction;
    # each still gets its own copies, with UIDs in the order asked.
    asked = [
        store.deliver(incoming("g1@example.com", "g2@example.com", subject=f"m{n}"))
        for n in range(5)
    ]
    results = [await d for d in asked]
    for mailbox_index in (0, 1):
        assert [r[mailbox_index].uid for r in results] == [1, 2, 3, 4, 5]
    page = await store.list_messages("g2@example.com", 10)
    assert [s.subject for s in page.summaries] == ["m4", "m3", "m2", "m1", "m0"]
    assert [s.id for s in page.summaries] == [r[1].id for r in reversed(results)]
