"""
Locks over HTTP, in memory: every route that reads or changes a mailbox's
mail refuses a locked mailbox without credentials and works with each kind
of credential.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import pytest_twisted
from treq.testing import StubTreq
from twisted.internet.defer import ensureDeferred
from twisted.internet.task import Clock

from tempmail.api import MailAPI
from tempmail.api.gate import ApiKeyGate
from tempmail.testing import MemoryMailStore
from tests.support import synchronous_access
from tests.test_api import WEB, Client, deliver

ADMIN = "operator-token-0123456789"
PASSWORD = "s3cret-pass"
BASIC = "Basic " + base64.b64encode(f"bob:{PASSWORD}".encode()).decode()

# (method, path template, success status); {id} is a message in bob's mailbox.
MAILBOX_ROUTES = [
    ("GET", "/api/emails/bob", 200),
    ("DELETE", "/api/emails/bob", 200),
    ("GET", "/api/email/{id}", 200),
    ("PATCH", "/api/email/{id}", 200),
    ("DELETE", "/api/email/{id}", 200),
    ("GET", "/api/email/{id}/raw", 200),
    ("GET", "/api/email/{id}/attachments/0", 200),
]
BODIES = {"PATCH": {"seen": True}}


class Locked:
    """
    Bob's mailbox, claimed, holding one message.
    """

    def __init__(self) -> None:
        self.store = MemoryMailStore()
        self.clock = Clock()
        self.client = Client(self.store, synchronous_access(self.store, self.clock, ADMIN))
        self.id = ""
        self.token = ""

    async def setup(self) -> Locked:
        (self.id,) = await deliver(self.store, "bob@tempmail.local")
        claimed = await self.client.json(
            "POST", "/api/mailbox/bob/claim", body={"password": PASSWORD}
        )
        self.token = claimed["token"]
        return self


@pytest.fixture
def locked() -> Locked:
    return pytest_twisted.blockon(ensureDeferred(Locked().setup()))


def with_password(path: str) -> str:
    return path + ("&" if "?" in path else "?") + f"password={PASSWORD}"


@pytest.mark.parametrize(("method", "path", "status"), MAILBOX_ROUTES)
@pytest_twisted.ensureDeferred
async def test_locked_routes_refuse_without_credentials(
    locked: Locked, method: str, path: str, status: int
) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic Ym9iOng="}):
        code, response_headers, body = await locked.client.request(
            method, path.format(id=locked.id), BODIES.get(method), headers
        )
        assert code == 401, (headers, body)
        assert response_headers.getRawHeaders(b"www-authenticate") == [b'Bearer realm="tempmail"']
        assert set(json.loads(body)) == {"error"}
    # Nothing was deleted by the refused requests.
    assert await locked.store.get_raw(locked.id) is not None


@pytest.mark.parametrize(("method", "path", "status"), MAILBOX_ROUTES)
@pytest.mark.parametrize("way", ["token", "basic", "password", "admin"])
@pytest_twisted.ensureDeferred
async def test_locked_routes_open_with_each_credential(
    locked: Locked, method: str, path: str, status: int, way: str
) -> None:
    url = path.format(id=locked.id)
    headers = {
        "token": {"Authorization": f"Bearer {locked.token}"},
        "basic": {"Authorization": BASIC},
        "admin": {"Authorization": f"Bearer {ADMIN}"},
        "password": {},
    }[way]
    if way == "password":
        url = with_password(url)
    code, _, body = await locked.client.request(method, url, BODIES.get(method), headers)
    assert code == status, body


@pytest_twisted.ensureDeferred
async def test_unknown_ids_look_like_locked_ones(locked: Locked) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    for path in (f"/api/email/{unknown}", f"/api/email/{locked.id}"):
        code, _, body = await locked.client.request("GET", path)
        assert (code, json.loads(body)) == (
            401,
            {"error": "no such email, or its mailbox is locked"},
        )
    admin = {"Authorization": f"Bearer {ADMIN}"}
    assert (await locked.client.request("GET", f"/api/email/{unknown}", headers=admin))[0] == 404


@pytest_twisted.ensureDeferred
async def test_claim_status_login_password_release(locked: Locked) -> None:
    client = locked.client
    assert await client.json("GET", "/api/mailbox/BOB/status") == {
        "address": "bob@tempmail.local",
        "is_locked": True,
    }
    again = await client.json("POST", "/api/mailbox/bob/claim", 409, body={"password": "whatever1"})
    assert again == {"error": "Mailbox is already claimed and locked"}
    wrong = await client.json("POST", "/api/mailbox/bob/login", 401, body={"password": "nope-nope"})
    unknown = await client.json(
        "POST", "/api/mailbox/nobody/login", 401, body={"password": "nope-nope"}
    )
    assert wrong == unknown
    login = await client.json("POST", "/api/mailbox/bob/login", body={"password": PASSWORD})
    assert set(login) == {"message", "address", "token", "expires_at"}
    changed = await client.json(
        "POST",
        "/api/mailbox/bob/password",
        body={"password": PASSWORD, "new_password": "brand-new-pass"},
    )
    for old in (locked.token, login["token"]):
        await client.json("GET", "/api/emails/bob", 401, headers={"Authorization": f"Bearer {old}"})
    await client.json(
        "GET", "/api/emails/bob", headers={"Authorization": f"Bearer {changed['token']}"}
    )
    await client.json("POST", "/api/mailbox/bob/release", 401, body={"password": PASSWORD})
    # Three wrong passwords from this client so far: it must wait a moment,
    # even though its last login succeeded.
    await client.json("POST", "/api/mailbox/bob/release", 429, body={"password": "brand-new-pass"})
    locked.clock.advance(1)
    released = await client.json(
        "POST", "/api/mailbox/bob/release", body={"password": "brand-new-pass"}
    )
    assert released == {"message": "Mailbox released successfully", "address": "bob@tempmail.local"}
    assert (await client.json("GET", "/api/emails/bob"))["total"] == 1


@pytest_twisted.ensureDeferred
async def test_repeated_failures_get_429_with_retry_after(locked: Locked) -> None:
    for _ in range(3):
        await locked.client.json(
            "POST", "/api/mailbox/bob/login", 401, body={"password": "bad-pass"}
        )
    code, headers, _ = await locked.client.request(
        "POST", "/api/mailbox/bob/login", body={"password": PASSWORD}
    )
    assert code == 429
    assert headers.getRawHeaders(b"retry-after") == [b"1"]
    locked.clock.advance(1)
    await locked.client.json("POST", "/api/mailbox/bob/login", body={"password": PASSWORD})


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"password": "short"}, "at least 8"),
        ({"password": 12345678}, "password is required"),
        ([1, 2], "must be a JSON object"),
        ("not json", "must be a JSON object"),
    ],
)
@pytest_twisted.ensureDeferred
async def test_bad_claims_are_400(body: Any, error: str) -> None:
    client = Client(MemoryMailStore())
    result = await client.json("POST", "/api/mailbox/carol/claim", 400, body=body)
    assert error in result["error"]


@pytest_twisted.ensureDeferred
async def test_bodies_are_limited() -> None:
    client = Client(MemoryMailStore())
    result = await client.json(
        "POST", "/api/mailbox/carol/claim", 413, body={"password": "x" * 70_000}
    )
    assert "larger than" in result["error"]


@pytest_twisted.ensureDeferred
async def test_admin_lists_mailboxes(locked: Locked) -> None:
    await deliver(locked.store, "zed@example.com")
    await locked.client.json("GET", "/api/mailboxes", 401, headers={"Authorization": "Bearer x"})
    listing = await locked.client.json(
        "GET", "/api/mailboxes?limit=1&offset=1", headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert listing["total"] == 2
    (entry,) = listing["mailboxes"]
    assert (entry["address"], entry["messages"], entry["is_locked"]) == (
        "zed@example.com",
        1,
        False,
    )


@pytest_twisted.ensureDeferred
async def test_api_key_guards_everything_but_health() -> None:
    store = MemoryMailStore()
    api = MailAPI(store, synchronous_access(store), "tempmail.local", WEB)
    stub: Any = StubTreq(ApiKeyGate(api.resource(), "k" * 20))

    async def status(path: str, **headers: str) -> int:
        response = await stub.get("http://api.test" + path, headers=headers)
        await response.content()
        return int(response.code)

    assert await status("/api/health") == 200
    assert await status("/api/emails/bob") == 401
    assert await status("/api/mailbox/bob/status", **{"X-API-Key": "wrong"}) == 401
    assert await status("/api/emails/bob", **{"X-API-Key": "k" * 20}) == 200


@pytest.mark.parametrize(
    "path",
    [
        "//api/emails/bob",
        "/%61pi/emails/bob",
        "/x/../api/emails/bob",
        # Routed to the cid route (its part name takes slashes), while the
        # dot segments resolve to a path outside /api.
        "/api/email/00000000-0000-4000-8000-000000000000/cid/../../../../x",
        "/api/email/00000000-0000-4000-8000-000000000000/cid/%2e%2e/%2e%2e/%2e%2e/%2e%2e/x",
    ],
)
@pytest_twisted.ensureDeferred
async def test_api_key_gate_sees_through_path_tricks(path: str) -> None:
    store = MemoryMailStore()
    api = MailAPI(store, synchronous_access(store), "tempmail.local", WEB)
    stub: Any = StubTreq(ApiKeyGate(api.resource(), "k" * 20))
    response = await stub.get("http://api.test" + path)
    assert response.code == 401
    assert json.loads(await response.content()) == {
        "error": "this server needs an X-API-Key header"
    }
