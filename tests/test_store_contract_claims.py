"""
The IMailStore contract for claims, tokens and webhooks, against every
implementation (the C{store} fixture in conftest.py).
"""

from __future__ import annotations

from datetime import timedelta

import pytest_twisted

from tempmail.interfaces import IMailStore
from tempmail.models import (
    AttemptOutcome,
    DeliveryAttempt,
    NewDelivery,
    TokenGrant,
    WebhookChange,
)
from tests.support import T0, incoming

LATER = T0 + timedelta(days=1)


@pytest_twisted.ensureDeferred
async def test_claims_and_tokens(store: IMailStore) -> None:
    assert await store.password_hash("bob@x.test") is None
    assert await store.claim_mailbox("bob@x.test", "hash1", TokenGrant("t1", LATER)) is True
    assert await store.claim_mailbox("bob@x.test", "hash2", TokenGrant("t2", LATER)) is False
    assert await store.password_hash("bob@x.test") == "hash1"
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

    assert await store.release_mailbox("bob@x.test") is True
    assert await store.release_mailbox("bob@x.test") is False
    assert await store.password_hash("bob@x.test") is None
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
    first = await store.create_webhook("h@x.test", "https://a.test/", ("arrival",), "s", 2)
    assert first is not None
    second = await store.create_webhook("h@x.test", "https://b.test/", ("read", "deletion"), "s", 2)
    assert second is not None
    assert await store.create_webhook("h@x.test", "https://c.test/", ("arrival",), "s", 2) is None
    assert {h.id for h in await store.list_webhooks("h@x.test")} == {first.id, second.id}
    assert [h.id for h in await store.webhooks_for("h@x.test", "read")] == [second.id]
    assert await store.webhooks_for("other@x.test", "arrival") == []

    changed = await store.update_webhook(first.id, WebhookChange(url="https://z.test/"))
    assert changed is not None and (changed.url, changed.events) == (
        "https://z.test/",
        ("arrival",),
    )
    off = await store.update_webhook(first.id, WebhookChange(enabled=False))
    assert off is not None and not off.enabled
    assert await store.webhooks_for("h@x.test", "arrival") == []
    assert await store.update_webhook("unknown", WebhookChange(enabled=True)) is None
    assert await store.delete_webhook(first.id) is True
    assert await store.delete_webhook(first.id) is False
    assert await store.get_webhook(first.id) is None


def attempt(delivery_id: str, number: int, status: int | None) -> DeliveryAttempt:
    return DeliveryAttempt(delivery_id, "arrival", number, T0, status, None, 5)


@pytest_twisted.ensureDeferred
async def test_deliveries_retry_succeed_and_disable(store: IMailStore) -> None:
    hook = await store.create_webhook("d@x.test", "https://a.test/", ("arrival",), "s", 20)
    assert hook is not None
    await store.add_deliveries(
        [
            NewDelivery(f"d{n}", hook.id, "arrival", b"{}", T0 + timedelta(seconds=n))
            for n in range(3)
        ]
    )
    due = await store.due_deliveries(T0 + timedelta(seconds=1), limit=10)
    assert [d.id for d in due] == ["d0", "d1"]
    assert (due[0].url, due[0].secret, due[0].attempts) == ("https://a.test/", "s", 0)
    assert [d.id for d in await store.due_deliveries(LATER, 10, exclude=["d0"])] == ["d1", "d2"]

    retry = AttemptOutcome(attempt("d0", 1, 500), hook.id, False, T0 + timedelta(hours=1))
    after = await store.record_attempt(retry, disable_after=3)
    assert after is not None and after.consecutive_failures == 1 and after.enabled
    assert [d.id for d in await store.due_deliveries(T0 + timedelta(minutes=1), 10)] == ["d1", "d2"]
    (again,) = [d for d in await store.due_deliveries(LATER, 10) if d.id == "d0"]
    assert again.attempts == 1

    done = await store.record_attempt(AttemptOutcome(attempt("d0", 2, 200), hook.id, True), 3)
    assert done is not None and done.consecutive_failures == 0
    gone = AttemptOutcome(
        attempt("d1", 1, 410), hook.id, False, None, "the target answered 410 Gone"
    )
    disabled = await store.record_attempt(gone, 3)
    assert disabled is not None
    assert (disabled.enabled, disabled.disabled_reason) == (False, "the target answered 410 Gone")
    assert await store.due_deliveries(LATER, 10) == []

    log = await store.list_attempts(hook.id, 10)
    assert sorted((a.delivery_id, a.attempt, a.status) for a in log) == [
        ("d0", 1, 500),
        ("d0", 2, 200),
        ("d1", 1, 410),
    ]
    await store.delete_webhook(hook.id)
    assert (
        await store.record_attempt(AttemptOutcome(attempt("d2", 1, 200), hook.id, True), 3) is None
    )


@pytest_twisted.ensureDeferred
async def test_busy_webhooks_are_skipped_and_finished_deliveries_pruned(store: IMailStore) -> None:
    busy = await store.create_webhook("p@x.test", "https://a.test/", ("arrival",), "s", 20)
    free = await store.create_webhook("p@x.test", "https://b.test/", ("arrival",), "s", 20)
    assert busy is not None and free is not None
    await store.add_deliveries(
        [NewDelivery(f"a{n}", busy.id, "arrival", b"{}", T0) for n in range(5)]
        + [NewDelivery("b0", free.id, "arrival", b"{}", T0 + timedelta(seconds=1))]
    )
    due = await store.due_deliveries(LATER, limit=2, skip_webhooks=[busy.id])
    assert [d.id for d in due] == ["b0"]
    await store.record_attempt(AttemptOutcome(attempt("b0", 1, 200), free.id, True), 50)
    assert await store.prune_deliveries(T0 + timedelta(seconds=2)) == 1
    assert await store.list_attempts(free.id, 10) == []
    # Pending deliveries are kept, however old.
    assert len(await store.due_deliveries(LATER, limit=10)) == 5


@pytest_twisted.ensureDeferred
async def test_claiming_removes_webhooks_added_while_open(store: IMailStore) -> None:
    await store.create_webhook("c@x.test", "https://spy.test/", ("arrival",), "s", 20)
    assert await store.claim_mailbox("c@x.test", "h", TokenGrant("t", LATER))
    assert await store.list_webhooks("c@x.test") == []


@pytest_twisted.ensureDeferred
async def test_a_retry_for_a_webhook_switched_off_meanwhile_is_dropped(store: IMailStore) -> None:
    hook = await store.create_webhook("o@x.test", "https://a.test/", ("arrival",), "s", 20)
    assert hook is not None
    await store.add_deliveries([NewDelivery("o1", hook.id, "arrival", b"{}", T0)])
    await store.update_webhook(hook.id, WebhookChange(enabled=False))
    retry = AttemptOutcome(attempt("o1", 1, 500), hook.id, False, T0 + timedelta(seconds=10))
    await store.record_attempt(retry, 50)
    await store.update_webhook(hook.id, WebhookChange(enabled=True))
    assert await store.due_deliveries(LATER, limit=10) == []
