"""
The storage contract for claims, tokens and webhook records, against every
implementation (the C{store} fixture in conftest.py).
"""

from __future__ import annotations

from datetime import timedelta

import pytest_twisted

from tempmail.interfaces import IMailStore
from tempmail.models import MailboxGrant, TokenGrant, WebhookChange
from tests.support import T0, incoming, open_grant

LATER = T0 + timedelta(days=1)


@pytest_twisted.ensureDeferred
async def test_claims_and_tokens(store: IMailStore) -> None:
    assert (await store.lock_state("bob@x.test")).password_hash is None
    assert await store.claim_mailbox("bob@x.test", "hash1", TokenGrant("t1", LATER)) is True
    assert await store.claim_mailbox("bob@x.test", "hash2", TokenGrant("t2", LATER)) is False
    claimed = await store.lock_state("bob@x.test")
    assert (claimed.password_hash, claimed.claimed, claimed.version) == ("hash1", True, 1)
    assert await store.token_mailbox("t1", T0) == "bob@x.test"
    assert await store.token_mailbox("t2", T0) is None
    assert await store.token_mailbox("t1", LATER + timedelta(seconds=1)) is None
    assert await store.add_token("bob@x.test", TokenGrant("t3", LATER)) is True
    assert await store.add_token("nobody@x.test", TokenGrant("t4", LATER)) is False

    assert await store.change_password("bob@x.test", "hash5", TokenGrant("t5", LATER)) is True
    assert [await store.token_mailbox(t, T0) for t in ("t1", "t3", "t5")] == [
        None,
        None,
        "bob@x.test",
    ]
    assert await store.change_password("nobody@x.test", "h", TokenGrant("t6", LATER)) is False
    assert (await store.lock_state("bob@x.test")).version == 2

    assert await store.release_mailbox("bob@x.test") is True
    assert await store.release_mailbox("bob@x.test") is False
    released = await store.lock_state("bob@x.test")
    assert (released.password_hash, released.version) == (None, 3)
    assert await store.token_mailbox("t5", T0) is None


@pytest_twisted.ensureDeferred
async def test_claiming_keeps_mail_and_listing_mailboxes(store: IMailStore) -> None:
    (copy,) = await store.deliver(incoming("mail@x.test"))
    assert await store.claim_mailbox("mail@x.test", "h", TokenGrant("t", LATER))
    assert await store.mailbox_of(copy.id) == "mail@x.test"
    assert await store.mailbox_of("unknown") is None
    await store.claim_mailbox("empty@x.test", "h", TokenGrant("u", LATER))
    page = await store.list_mailboxes(limit=10)
    assert page.total == 2
    assert [(m.address, m.messages, m.is_locked) for m in page.mailboxes] == [
        ("empty@x.test", 0, True),
        ("mail@x.test", 1, True),
    ]
    assert [m.address for m in (await store.list_mailboxes(1, 1)).mailboxes] == ["mail@x.test"]


@pytest_twisted.ensureDeferred
async def test_webhook_records(store: IMailStore) -> None:
    grant = open_grant("h@x.test")
    first = await store.create_webhook(grant, "https://a.test/", ("arrival",), "s", 2)
    assert first is not None
    assert (first.mailbox, first.created_at, first.enabled) == ("h@x.test", T0, True)
    second = await store.create_webhook(grant, "https://b.test/", ("read", "deletion"), "s", 2)
    assert second is not None
    assert await store.create_webhook(grant, "https://c.test/", ("arrival",), "s", 2) is None
    assert {h.id for h in await store.list_webhooks("h@x.test")} == {first.id, second.id}
    assert await store.get_webhook(second.id) == second

    changed = await store.update_webhook(grant, first.id, WebhookChange(url="https://z.test/"))
    assert changed is not None and (changed.url, changed.events) == (
        "https://z.test/",
        ("arrival",),
    )
    off = await store.update_webhook(grant, first.id, WebhookChange(enabled=False))
    assert off is not None and not off.enabled
    assert await store.update_webhook(grant, "unknown", WebhookChange(enabled=True)) is None
    # Another mailbox's grant reaches neither of them.
    other = open_grant("other@x.test")
    assert await store.update_webhook(other, second.id, WebhookChange(enabled=False)) is None
    assert await store.delete_webhook(other, second.id) is False
    assert await store.delete_webhook(grant, first.id) is True
    assert await store.delete_webhook(grant, first.id) is False
    assert await store.get_webhook(first.id) is None
    assert await store.get_webhook(second.id) is not None


@pytest_twisted.ensureDeferred
async def test_claiming_removes_webhooks_added_while_open(store: IMailStore) -> None:
    await store.create_webhook(open_grant("c@x.test"), "https://spy.test/", ("arrival",), "s", 20)
    assert await store.claim_mailbox("c@x.test", "h", TokenGrant("t", LATER))
    assert await store.list_webhooks("c@x.test") == []
    # The owner's own webhooks, added after the claim, stay.
    version = (await store.lock_state("c@x.test")).version
    mine = MailboxGrant("c@x.test", version)
    assert await store.create_webhook(mine, "https://own.test/", ("arrival",), "s", 20)
    assert len(await store.list_webhooks("c@x.test")) == 1
