"""
C{/livez} and C{/readyz}: the probes answer from the store and the
listeners, in memory.
"""

from __future__ import annotations

import json
from typing import Any

import pytest_twisted
from treq.testing import StubTreq
from twisted.application.service import MultiService
from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactor

from tempmail.api import MailAPI
from tempmail.health import Readiness
from tempmail.service import ListeningService
from tempmail.testing import MemoryMailStore
from tests.support import synchronous_access
from tests.test_api import WEB


async def probe(api: MailAPI, path: str) -> tuple[int, Any]:
    stub: Any = StubTreq(api.resource())
    response = await stub.get("http://api.test" + path)
    return response.code, json.loads(await response.content())


def daemon_with_listener(store: MemoryMailStore) -> tuple[MultiService, MailAPI]:
    daemon = MultiService()
    listener = ListeningService(
        "smtp", serverFromString(MemoryReactor(), "tcp:0"), Factory.forProtocol(Protocol)
    )
    listener.setServiceParent(daemon)
    api = MailAPI(
        store, synchronous_access(store), "tempmail.local", WEB, readiness=Readiness(store, daemon)
    )
    return daemon, api


@pytest_twisted.ensureDeferred
async def test_readyz_waits_for_every_listener_and_the_store() -> None:
    store = MemoryMailStore()
    daemon, api = daemon_with_listener(store)
    assert await probe(api, "/livez") == (200, {"status": "ok"})
    assert await probe(api, "/readyz") == (
        503,
        {"status": "unavailable", "error": "smtp is not listening"},
    )
    daemon.startService()
    assert await probe(api, "/readyz") == (200, {"status": "ok"})
    await store.close()
    assert await probe(api, "/readyz") == (
        503,
        {"status": "unavailable", "error": "storage unavailable"},
    )
    daemon.stopService()
    code, body = await probe(api, "/readyz")
    assert code == 503
    assert body["error"] == "smtp is not listening; storage unavailable"
    assert await probe(api, "/livez") == (200, {"status": "ok"})
