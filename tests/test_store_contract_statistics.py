"""
The storage contract for C{statistics}, what C{/metrics} reports, against
every implementation (the C{store} fixture in conftest.py).
"""

from __future__ import annotations

import pytest_twisted

from tempmail.interfaces import IMailStore
from tempmail.models import AttemptOutcome
from tests.support import T0, incoming
from tests.test_store_contract_outbox import attempt, claim, hook


@pytest_twisted.ensureDeferred
async def test_statistics_count_mailboxes_messages_and_pending_deliveries(
    store: IMailStore,
) -> None:
    empty = await store.statistics()
    assert (empty.mailboxes, empty.messages, empty.pending_deliveries) == (0, 0, 0)
    assert empty.oldest_pending is None
    await hook(store, "a@x.test", "arrival")
    message = incoming("a@x.test", "b@x.test")
    await store.deliver(message)
    found = await store.statistics()
    assert (found.mailboxes, found.messages, found.pending_deliveries) == (2, 2, 1)
    assert found.oldest_pending == T0
    # SQLite counts pages, which a small message may fit in: the size only grows.
    assert found.size >= max(empty.size, 1)
    (delivery,) = await claim(store)
    outcome = AttemptOutcome(attempt(delivery, 1, 200), delivery.webhook_id, True)
    await store.record_attempt("me", outcome, 5)
    assert (await store.statistics()).pending_deliveries == 0
