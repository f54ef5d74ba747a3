"""
L{GroupCommit}: batching, ordering and failure, with plain Deferreds.
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from tempmail.interfaces import StorageUnavailable
from tempmail.storage.group_commit import GroupCommit


class Transactions:
    """A commit function whose transactions the test finishes by hand."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.pending: list[Deferred[list[str]]] = []
        self._items: list[list[str]] = []

    def __call__(self, batch: Sequence[str]) -> Deferred[list[str]]:
        self.batches.append(list(batch))
        self._items.append(list(batch))
        d: Deferred[list[str]] = Deferred()
        self.pending.append(d)
        return d

    def fail(self, message: str, error: type[Exception] = StorageUnavailable) -> None:
        """Fail the oldest running transaction."""
        self._items.pop(0)
        self.pending.pop(0).errback(Failure(error(message)))

    def commit(self) -> None:
        """Commit the oldest running transaction: each item's result is its upper case."""
        items = self._items.pop(0)
        self.pending.pop(0).callback([item.upper() for item in items])


def results(ds: list[Deferred[str]]) -> list[object]:
    out: list[object] = []
    for d in ds:
        d.addBoth(out.append)
    return out


def test_arrivals_during_a_commit_join_the_next_transaction() -> None:
    transactions = Transactions()
    group: GroupCommit[str, str] = GroupCommit(transactions)
    first = results([group.submit("a")])
    assert transactions.batches == [["a"]]
    later = results([group.submit(x) for x in "bcd"])
    assert transactions.batches == [["a"]], "nothing starts while a commit runs"
    assert later == []
    transactions.commit()
    assert first == ["A"]
    assert transactions.batches == [["a"], ["b", "c", "d"]]
    assert later == [], "no answer before its own transaction committed"
    transactions.commit()
    assert later == ["B", "C", "D"]


def test_a_failed_transaction_fails_every_item_in_it_and_only_those() -> None:
    transactions = Transactions()
    group: GroupCommit[str, str] = GroupCommit(transactions)
    first = results([group.submit("a")])
    failed = results([group.submit("b"), group.submit("c")])
    transactions.fail("disk")
    assert isinstance(first[0], Failure)
    assert transactions.batches == [["a"], ["b", "c"]]
    transactions.fail("disk full")
    assert [f.getErrorMessage() for f in failed if isinstance(f, Failure)] == [
        "disk full",
        "disk full",
    ]
    after = results([group.submit("e")])
    transactions.commit()
    assert after == ["E"]


def test_a_batch_failed_by_a_bug_is_tried_again_one_item_at_a_time() -> None:
    transactions = Transactions()
    group: GroupCommit[str, str] = GroupCommit(transactions)
    group.submit("a")
    answers = results([group.submit(x) for x in "bcd"])
    transactions.commit()
    late = results([group.submit("e")])
    transactions.fail("c is poison", RuntimeError)
    assert answers == []
    assert transactions.batches[-1] == ["b"], "the failed batch's items go first, alone"
    transactions.commit()
    transactions.fail("c is poison", RuntimeError)
    transactions.commit()
    assert [a.getErrorMessage() if isinstance(a, Failure) else a for a in answers] == [
        "B",
        "c is poison",
        "D",
    ]
    assert transactions.batches[1:] == [["b", "c", "d"], ["b"], ["c"], ["d"], ["e"]]
    transactions.commit()
    assert late == ["E"]


def test_batches_are_bounded() -> None:
    transactions = Transactions()
    group: GroupCommit[str, str] = GroupCommit(transactions, most=2)
    group.submit("a")
    for x in "bcde":
        group.submit(x)
    transactions.commit()
    transactions.commit()
    transactions.commit()
    assert transactions.batches == [["a"], ["b", "c"], ["d", "e"]]


def test_idle_waits_for_queued_items() -> None:
    transactions = Transactions()
    group: GroupCommit[str, str] = GroupCommit(transactions)
    group.submit("a")
    group.submit("b")
    idle = results([group.idle()])  # type: ignore[list-item]
    transactions.commit()
    assert idle == []
    transactions.commit()
    assert idle == [None]
