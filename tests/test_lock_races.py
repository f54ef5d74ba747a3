"""
Writes that a lock check allowed are refused if the mailbox is claimed
before they land.  A webhook's target is checked with a DNS lookup whose
answer its owner can delay at will; a claim that lands in that window must
not let the webhook in.
"""

from __future__ import annotations

import json
from typing import Any

import pytest_twisted
from treq.testing import StubTreq
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from tempmail.access import Credentials, MailboxAccess
from tempmail.api.app import MailAPI, WebhookSettings
from tempmail.testing import MemoryMailStore
from tempmail.webhooks.sender import WebhookSender
from tempmail.webhooks.targets import TargetChecker
from tests.support import fired, synchronous_access


class SlowDNS:
    """
    A resolver whose answers the test releases.
    """

    def __init__(self) -> None:
        self.pending: list[Deferred[list[str]]] = []

    def __call__(self, host: str, port: int) -> Deferred[list[str]]:
        answer: Deferred[list[str]] = Deferred()
        self.pending.append(answer)
        return answer


def api(store: MemoryMailStore, access: MailboxAccess, dns: SlowDNS) -> Any:
    checker = TargetChecker(resolve=dns)
    sender = WebhookSender(Clock(), checker, lambda target: None)
    resource = MailAPI(
        store, access, "tempmail.local", None, webhooks=WebhookSettings(checker, sender)
    ).resource()
    return StubTreq(resource)


@pytest_twisted.ensureDeferred
async def test_a_claim_during_the_target_lookup_keeps_the_webhook_out() -> None:
    store = MemoryMailStore()
    access = synchronous_access(store)
    dns = SlowDNS()
    stub = api(store, access, dns)
    body = {
        "mailbox_address": "victim",
        "webhook_url": "https://spy.example/hook",
        "events": ["arrival"],
    }
    request = stub.post("http://api.test/api/webhooks", data=json.dumps(body).encode())
    # The lookup is under way; the owner claims the open mailbox meanwhile.
    assert len(dns.pending) == 1
    fired(Deferred.fromCoroutine(access.claim("victim@tempmail.local", "correct horse")))
    dns.pending[0].callback(["93.184.216.34"])
    stub.flush()
    response = await request
    content = json.loads(await response.content())
    assert response.code in (401, 409), content
    assert "error" in content
    assert await store.list_webhooks("victim@tempmail.local") == []


@pytest_twisted.ensureDeferred
async def test_a_claim_during_an_update_keeps_the_old_target() -> None:
    store = MemoryMailStore()
    access = synchronous_access(store)
    dns = SlowDNS()
    stub = api(store, access, dns)
    grant = await access.authorize("open@tempmail.local", Credentials())
    hook = await store.create_webhook(grant, "https://own.example/", ("arrival",), "s", 20)
    assert hook is not None
    request = stub.put(
        f"http://api.test/api/webhook/{hook.id}",
        data=json.dumps({"webhook_url": "https://spy.example/hook"}).encode(),
    )
    assert len(dns.pending) == 1
    # The claim removes webhooks added while the mailbox was open; the
    # update, allowed before it, must not bring one back.
    token = fired(Deferred.fromCoroutine(access.claim("open@tempmail.local", "correct horse")))
    assert token.token
    dns.pending[0].callback(["93.184.216.34"])
    stub.flush()
    response = await request
    assert response.code in (401, 409)
    assert await store.list_webhooks("open@tempmail.local") == []
