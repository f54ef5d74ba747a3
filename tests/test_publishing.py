"""
The publishing store: what each committed write announces, that failed
writes announce nothing, and that every store method is sorted into
"publishes" or "passes through".
"""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from zope.interface.interface import Method

from tempmail.access import Credentials
from tempmail.events import MailEvent
from tempmail.flags import FlagMode
from tempmail.interfaces import IMailStore
from tempmail.models import MailboxGrant
from tempmail.publishing import PublishingMailStore
from tempmail.testing import MemoryMailStore, RecordingEventHub
from tests.support import fired, incoming, open_grant, synchronous_access

# Every method of the store roles, by what the wrapper does with it.  A new
# interface method fails test_every_store_method_is_sorted until it is
# added here, and to the wrapper, on purpose.
PUBLISHES = {
    "deliver",
    "set_seen",
    "store_flags",
    "delete_message",
    "empty_mailbox",
    "expire_messages",
    "trim_mailboxes",
    "expunge",
    "claim_mailbox",
    "change_password",
    "release_mailbox",
}
PASSES_THROUGH = {
    "list_messages",
    "get_messages",
    "get_raw",
    "get_attachment",
    "mailbox_of",
    "open_mailbox",
    "list_uids",
    "messages_by_uid",
    "messages_by_sequence",
    "raws_by_id",
    "search_uids",
    "lock_state",
    "add_token",
    "token_mailbox",
    "list_mailboxes",
    "create_webhook",
    "list_webhooks",
    "may_owe_deliveries",
    "get_webhook",
    "update_webhook",
    "delete_webhook",
    "claim_deliveries",
    "release_deliveries",
    "record_attempt",
    "prune_deliveries",
    "list_attempts",
    "check_health",
    "statistics",
    "close",
}


def store_methods() -> set[str]:
    return {name for name, d in IMailStore.namesAndDescriptions(all=True) if isinstance(d, Method)}


def test_every_store_method_is_sorted() -> None:
    assert not PUBLISHES & PASSES_THROUGH
    assert store_methods() == PUBLISHES | PASSES_THROUGH
    # Each is written out on the wrapper, not found by attribute lookup.
    for name in store_methods():
        assert name in vars(PublishingMailStore), name


class Calls:
    """
    Records which store method the wrapper called, and answers nothing.
    """

    def __init__(self) -> None:
        self.called: list[str] = []

    def __getattr__(self, name: str) -> Any:
        def call(*args: object) -> Deferred[None]:
            self.called.append(name)
            return Deferred()

        return call


@pytest.mark.parametrize("name", sorted(PASSES_THROUGH))
def test_what_passes_through_reaches_the_store_and_publishes_nothing(name: str) -> None:
    inner = Calls()
    hub = RecordingEventHub()
    wrapper = PublishingMailStore(inner, hub)  # type: ignore[arg-type]
    method = IMailStore.get(name)
    assert isinstance(method, Method)
    arguments = [None] * len(method.positional)
    getattr(wrapper, name)(*arguments)
    assert inner.called == [name]
    assert hub.published == []


@pytest.fixture
def published() -> tuple[PublishingMailStore, RecordingEventHub]:
    hub = RecordingEventHub()
    return PublishingMailStore(MemoryMailStore(Clock()), hub), hub


def kinds(events: list[MailEvent]) -> list[tuple[str, str, str | None]]:
    return [(e.kind.value, e.mailbox, e.reason.value if e.reason else None) for e in events]


def test_committed_changes_are_announced(
    published: tuple[PublishingMailStore, RecordingEventHub],
) -> None:
    store, hub = published
    one, two = fired(store.deliver(incoming("a@x.test", "b@x.test", subject="hello")))
    a, b = open_grant("a@x.test"), open_grant("b@x.test")
    fired(store.set_seen(a, one.id, True))
    fired(store.set_seen(a, one.id, True))
    fired(store.set_seen(a, one.id, False))
    fired(store.store_flags(a, [one.uid], frozenset({"\\Deleted"}), FlagMode.ADD))
    fired(store.expunge(a))
    fired(store.delete_message(a, one.id))
    fired(store.empty_mailbox(b))
    assert kinds(hub.published) == [
        ("arrival", "a@x.test", None),
        ("arrival", "b@x.test", None),
        ("flags_changed", "a@x.test", None),
        ("read", "a@x.test", None),
        ("flags_changed", "a@x.test", None),
        ("flags_changed", "a@x.test", None),
        ("deletion", "a@x.test", "expunged"),
        ("deletion", "b@x.test", "deleted"),
    ]
    arrival = hub.published[0].summary
    assert arrival is not None
    assert (arrival.id, arrival.subject, arrival.uid) == (one.id, "hello", 1)
    read = hub.published[3].summary
    assert read is not None and read.seen
    flagged = hub.published[5].summary
    assert flagged is not None and flagged.flags == ("\\Deleted",)
    assert hub.published[-1].summary is not None
    assert hub.published[-1].summary.id == two.id


def test_retention_deletions_are_announced_as_retention(
    published: tuple[PublishingMailStore, RecordingEventHub],
) -> None:
    store, hub = published
    for _ in range(3):
        fired(store.deliver(incoming("r@x.test")))
    fired(store.trim_mailboxes(keep=1, limit=10))
    (copy,) = fired(store.list_messages("r@x.test", 10)).summaries
    fired(store.expire_messages(copy.received_at.replace(year=3000), 10))
    assert [k for k in kinds(hub.published) if k[0] == "deletion"] == [
        ("deletion", "r@x.test", "retention")
    ] * 3


def test_failed_writes_announce_nothing(
    published: tuple[PublishingMailStore, RecordingEventHub],
) -> None:
    store, hub = published
    assert isinstance(store.store, MemoryMailStore)
    store.store.fail_writes = True
    failures: list[Any] = []
    store.deliver(incoming("a@x.test")).addErrback(failures.append)
    store.empty_mailbox(MailboxGrant("a@x.test", None)).addErrback(failures.append)
    assert len(failures) == 2
    assert hub.published == []


def test_lock_changes_are_announced(
    published: tuple[PublishingMailStore, RecordingEventHub],
) -> None:
    store, hub = published
    access = synchronous_access(store)
    fired(Deferred.fromCoroutine(access.claim("a@x.test", "s3cret-pass")))
    fired(Deferred.fromCoroutine(access.release("a@x.test", Credentials(password="s3cret-pass"))))
    assert kinds(hub.published) == [("lock_changed", "a@x.test", None)] * 2
