"""
The storage contract for the webhook outbox and its leases, against every
implementation (the C{store} fixture in conftest.py): each change writes
its deliveries with it, and dispatchers claim them under leases.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest_twisted

from tempmail.flags import FlagMode
from tempmail.interfaces import IMailStore
from tempmail.models import AttemptOutcome, DeliveryAttempt, DueDelivery, Webhook, WebhookChange
from tests.support import T0, incoming, open_grant

LATER = T0 + timedelta(days=1)
LEASE = T0 + timedelta(minutes=1)


async def hook(
    store: IMailStore, mailbox: str, *events: str, url: str = "https://a.test/"
) -> Webhook:
    made = await store.create_webhook(open_grant(mailbox), url, events, "s", 20)
    assert made is not None
    return made


async def claim(store: IMailStore, owner: str = "me", now=T0, limit=10, per_webhook=10):
    return await store.claim_deliveries(owner, now, now + timedelta(minutes=1), limit, per_webhook)


def body(delivery: DueDelivery) -> dict:
    return json.loads(delivery.payload)


def attempt(delivery: DueDelivery, number: int, status: int | None) -> DeliveryAttempt:
    return DeliveryAttempt(delivery.id, delivery.event, number, T0, status, None, 5)


@pytest_twisted.ensureDeferred
async def test_an_arrival_writes_its_deliveries_with_it(store: IMailStore) -> None:
    wanted = await hook(store, "w@x.test", "arrival")
    await hook(store, "w@x.test", "deletion")
    await hook(store, "other@x.test", "arrival")
    (copy,) = await store.deliver(incoming("w@x.test", subject="hello"))

    (delivery,) = await claim(store)
    assert (delivery.webhook_id, delivery.event, delivery.attempts) == (wanted.id, "arrival", 0)
    assert (delivery.url, delivery.secret) == ("https://a.test/", "s")
    sent = body(delivery)
    assert (sent["event"], sent["mailbox"], sent["webhook_id"]) == (
        "arrival",
        "w@x.test",
        wanted.id,
    )
    assert sent["delivery_id"] == delivery.id
    email = sent["email"]
    assert (email["id"], email["subject"], email["attachments"]) == (copy.id, "hello", 0)
    # Small and self-contained: the preview and where to fetch the rest.
    assert email["body"] == email["preview"] == "text of hello"
    assert email["url"] == f"/api/email/{copy.id}"
    assert email["raw_url"] == f"/api/email/{copy.id}/raw"
    assert "<p>" not in delivery.payload.decode()


@pytest_twisted.ensureDeferred
async def test_reads_and_deletions_write_theirs(store: IMailStore) -> None:
    reads = await hook(store, "r@x.test", "read")
    deletions = await hook(store, "r@x.test", "deletion")
    first, second, third = [
        (await store.deliver(incoming("r@x.test", subject=f"m{n}")))[0] for n in range(3)
    ]
    grant = open_grant("r@x.test")
    await store.set_seen(grant, first.id, True)
    await store.set_seen(grant, first.id, True)  # no change, no second read
    await store.store_flags(grant, [second.uid], frozenset({"\\Seen"}), FlagMode.ADD)
    await store.delete_message(grant, first.id)
    await store.store_flags(grant, [third.uid], frozenset({"\\Deleted"}), FlagMode.ADD)
    await store.expunge(grant)
    await store.expire_messages(LATER, 10)

    due = await claim(store)
    seen = sorted(
        (d.webhook_id == reads.id, d.event, body(d)["email"]["id"], body(d).get("reason"))
        for d in due
    )
    assert seen == sorted(
        [
            (True, "read", first.id, None),
            (True, "read", second.id, None),
            (False, "deletion", first.id, "deleted"),
            (False, "deletion", third.id, "expunged"),
            (False, "deletion", second.id, "retention"),
        ]
    )
    assert {d.webhook_id for d in due if d.event == "deletion"} == {deletions.id}
    # A deleted message's body has no URLs: there is nothing left to fetch.
    assert all("url" not in body(d)["email"] for d in due if d.event == "deletion")


@pytest_twisted.ensureDeferred
async def test_disabled_webhooks_get_nothing(store: IMailStore) -> None:
    off = await hook(store, "off@x.test", "arrival")
    await store.update_webhook(open_grant("off@x.test"), off.id, WebhookChange(enabled=False))
    await store.deliver(incoming("off@x.test"))
    assert await claim(store) == []


@pytest_twisted.ensureDeferred
async def test_webhook_changes_between_deliveries_count_at_once(store: IMailStore) -> None:
    # A store may remember which mailboxes have webhooks; every change to
    # them must count for the very next delivery.
    await store.deliver(incoming("late@x.test"))
    assert await claim(store) == []
    late = await hook(store, "late@x.test", "arrival")
    await store.deliver(incoming("late@x.test"))
    assert [d.webhook_id for d in await claim(store)] == [late.id]
    await store.update_webhook(open_grant("late@x.test"), late.id, WebhookChange(enabled=False))
    await store.deliver(incoming("late@x.test"))
    await store.update_webhook(open_grant("late@x.test"), late.id, WebhookChange(enabled=True))
    (copy,) = await store.deliver(incoming("late@x.test"))
    assert [body(d)["email"]["id"] for d in await claim(store, "other", LATER)] == [copy.id]
    assert store.may_owe_deliveries("late@x.test")
    await store.delete_webhook(open_grant("late@x.test"), late.id)
    await store.deliver(incoming("late@x.test"))
    # Known from memory once a delivery has looked.
    assert not store.may_owe_deliveries("late@x.test")
    assert not store.may_owe_deliveries("never@x.test")
    assert await claim(store, "third", LATER + timedelta(days=1)) == []


@pytest_twisted.ensureDeferred
async def test_a_lease_keeps_others_off_until_it_ends(store: IMailStore) -> None:
    await hook(store, "l@x.test", "arrival")
    await store.deliver(incoming("l@x.test"))
    (mine,) = await claim(store, "a")
    assert await claim(store, "b") == []
    assert await claim(store, "b", now=LEASE - timedelta(seconds=1)) == []
    # The owner died: its lease ends and another dispatcher takes over.
    (theirs,) = await claim(store, "b", now=LEASE)
    assert theirs.id == mine.id
    lost = AttemptOutcome(attempt(mine, 1, 200), mine.webhook_id, True)
    assert await store.record_attempt("a", lost, 50) is None
    kept = AttemptOutcome(attempt(theirs, 1, 200), theirs.webhook_id, True)
    assert await store.record_attempt("b", kept, 50) is not None
    assert [(a.delivery_id, a.status) for a in await store.list_attempts(mine.webhook_id, 10)] == [
        (mine.id, 200)
    ]
    assert await claim(store, "c", now=LATER) == []


@pytest_twisted.ensureDeferred
async def test_released_leases_are_claimable_at_once(store: IMailStore) -> None:
    await hook(store, "rel@x.test", "arrival")
    await store.deliver(incoming("rel@x.test"))
    (first,) = await claim(store, "a")
    assert await store.release_deliveries("a") == 1
    (again,) = await claim(store, "b")
    assert again.id == first.id


@pytest_twisted.ensureDeferred
async def test_per_webhook_leases_count_every_owner(store: IMailStore) -> None:
    busy = await hook(store, "busy@x.test", "arrival", url="https://busy.test/")
    free = await hook(store, "free@x.test", "arrival", url="https://free.test/")
    for _ in range(4):
        await store.deliver(incoming("busy@x.test"))
    await store.deliver(incoming("free@x.test"))
    first = await claim(store, "a", limit=10, per_webhook=2)
    assert sorted(d.webhook_id for d in first) == sorted([busy.id, busy.id, free.id])
    # Another dispatcher may not add a third lease to the busy webhook.
    assert await claim(store, "b", limit=10, per_webhook=2) == []
    done = next(d for d in first if d.webhook_id == busy.id)
    await store.record_attempt("a", AttemptOutcome(attempt(done, 1, 200), busy.id, True), 50)
    (next_one,) = await claim(store, "b", limit=10, per_webhook=2)
    assert next_one.webhook_id == busy.id


@pytest_twisted.ensureDeferred
async def test_retries_success_and_disabling(store: IMailStore) -> None:
    target = await hook(store, "d@x.test", "arrival")
    for _ in range(2):
        await store.deliver(incoming("d@x.test"))
    first, second = await claim(store, "a")

    retry = AttemptOutcome(attempt(first, 1, 500), target.id, False, T0 + timedelta(seconds=30))
    after = await store.record_attempt("a", retry, 3)
    assert after is not None and after.consecutive_failures == 1 and after.enabled
    assert await claim(store, "a", now=T0 + timedelta(seconds=29)) == []
    (again,) = await claim(store, "a", now=T0 + timedelta(seconds=30))
    assert (again.id, again.attempts) == (first.id, 1)
    done = await store.record_attempt(
        "a", AttemptOutcome(attempt(again, 2, 200), target.id, True), 3
    )
    assert done is not None and done.consecutive_failures == 0

    gone = AttemptOutcome(
        attempt(second, 1, 410), target.id, False, None, "the target answered 410 Gone"
    )
    disabled = await store.record_attempt("a", gone, 3)
    assert disabled is not None
    assert (disabled.enabled, disabled.disabled_reason) == (False, "the target answered 410 Gone")
    await store.deliver(incoming("d@x.test"))
    assert await claim(store, "a", now=LATER) == []
    log = await store.list_attempts(target.id, 10)
    assert sorted((a.delivery_id == first.id, a.attempt, a.status) for a in log) == [
        (False, 1, 410),
        (True, 1, 500),
        (True, 2, 200),
    ]


@pytest_twisted.ensureDeferred
async def test_finished_deliveries_are_pruned(store: IMailStore) -> None:
    target = await hook(store, "p@x.test", "arrival")
    for _ in range(3):
        await store.deliver(incoming("p@x.test"))
    finished, *_ = await claim(store, "a", limit=1)
    await store.record_attempt("a", AttemptOutcome(attempt(finished, 1, 200), target.id, True), 50)
    assert await store.prune_deliveries(T0 + timedelta(seconds=1)) == 1
    assert await store.list_attempts(target.id, 10) == []
    # Pending deliveries are kept, however old.
    assert len(await claim(store, "b", now=LATER)) == 2
