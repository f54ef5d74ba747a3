"""
The REST API in memory: Klein's resource driven by treq's StubTreq over the
shipped L{MemoryMailStore}.  Every bad input gets a JSON error, never a
traceback.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_twisted
from treq.testing import StubTreq

from tempmail.access import MailboxAccess
from tempmail.api import MailAPI
from tempmail.models import Envelope, IncomingMessage
from tempmail.parsing import parse_message
from tempmail.tap import web_root
from tempmail.testing import MemoryMailStore
from tests.support import synchronous_access

WEB = web_root()
RAW = (
    b"From: Alice <alice@sender.test>\r\nSubject: hello\r\nContent-Type: multipart/mixed;"
    b" boundary=B\r\n\r\n--B\r\nContent-Type: text/html\r\n\r\n<p>hi<script>x()</script></p>\r\n"
    b'--B\r\nContent-Type: image/svg+xml\r\nContent-Disposition: attachment; filename="a.svg"\r\n'
    b"\r\n<svg onload=alert(1)/>\r\n--B--\r\n"
)


class Client:
    def __init__(self, store: MemoryMailStore, access: MailboxAccess | None = None) -> None:
        api = MailAPI(store, access or synchronous_access(store), "tempmail.local", WEB)
        # StubTreq builds its request methods at run time, so mypy cannot see them.
        self.stub: Any = StubTreq(api.resource())

    async def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, bytes]:
        data = None if body is None else json.dumps(body).encode()
        response = await self.stub.request(
            method, "http://api.test" + path, data=data, headers=headers
        )
        content = await response.content()
        return response.code, response.headers, content

    async def json(
        self,
        method: str,
        path: str,
        status: int = 200,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        code, response_headers, content = await self.request(method, path, body, headers)
        assert code == status, content
        assert response_headers.getRawHeaders(b"content-type") == [
            b"application/json; charset=utf-8"
        ]
        return json.loads(content)


@pytest.fixture
def store() -> MemoryMailStore:
    return MemoryMailStore()


@pytest.fixture
def client(store: MemoryMailStore) -> Client:
    return Client(store)


async def deliver(store: MemoryMailStore, *recipients: str, raw: bytes = RAW) -> list[str]:
    envelope = Envelope("alice@sender.test", recipients, datetime(2026, 1, 2, tzinfo=UTC))
    copies = await store.deliver(IncomingMessage(envelope, raw, parse_message(raw)))
    return [c.id for c in copies]


@pytest_twisted.ensureDeferred
async def test_listing_fields(store: MemoryMailStore, client: Client) -> None:
    (id,) = await deliver(store, "bob@tempmail.local")
    page = await client.json("GET", "/api/emails/BOB")
    assert page == {
        "emails": [
            {
                "id": id,
                "to": "bob@tempmail.local",
                "from": "alice@sender.test",
                "subject": "hello",
                "timestamp": "2026-01-02T00:00:00.000000Z",
                "size": len(RAW),
                "seen": False,
                "attachments": 1,
                "preview": "",
            }
        ],
        "total": 1,
        "next_before": None,
    }


@pytest_twisted.ensureDeferred
async def test_reading_marks_seen_unless_peeking(store: MemoryMailStore, client: Client) -> None:
    (id,) = await deliver(store, "bob@tempmail.local")
    peeked = await client.json("GET", f"/api/email/{id}?peek=true")
    assert peeked["seen"] is False
    assert (await client.request("HEAD", f"/api/email/{id}"))[0] == 200
    assert (await client.json("GET", f"/api/email/{id}?peek=1"))["seen"] is False
    read = await client.json("GET", f"/api/email/{id}")
    assert read["seen"] is True
    assert read["body"] == read["html"] == "<p>hi<script>x()</script></p>"
    assert read["attachments"][0]["url"] == f"/api/email/{id}/attachments/0"
    (summary,) = (await client.json("GET", "/api/emails/bob"))["emails"]
    assert summary["seen"] is True


@pytest_twisted.ensureDeferred
async def test_mail_content_is_sandboxed(store: MemoryMailStore, client: Client) -> None:
    (id,) = await deliver(store, "bob@tempmail.local")
    for path in (f"/api/email/{id}/raw", f"/api/email/{id}/attachments/0"):
        code, headers, _ = await client.request("GET", path)
        assert code == 200
        assert headers.getRawHeaders(b"content-security-policy")[0].startswith(b"sandbox")
        assert headers.getRawHeaders(b"x-content-type-options") == [b"nosniff"]
    _, headers, body = await client.request("GET", f"/api/email/{id}/attachments/0")
    assert body == b"<svg onload=alert(1)/>"
    assert headers.getRawHeaders(b"content-disposition")[0].startswith(
        b'attachment; filename="a.svg"'
    )


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        ("GET", "/api/emails/a%20b@x.test", 400, "invalid address"),
        ("GET", "/api/emails/@x.test", 400, "invalid address"),
        ("GET", "/api/emails/bob?limit=0", 400, "limit must be"),
        ("GET", "/api/emails/bob?limit=abc", 400, "limit must be"),
        ("GET", "/api/emails/bob?limit=501", 400, "limit must be"),
        ("GET", "/api/emails/bob?limit=%C2%B2", 400, "limit must be"),
        ("GET", "/api/emails/bob?offset=" + "9" * 5000, 400, "offset must be"),
        ("GET", "/api/emails/bob?offset=-1", 400, "offset must be"),
        ("GET", "/api/emails/bob?full=perhaps", 400, "full must be"),
        ("GET", "/api/emails/bob?before=nope", 400, "before must be"),
        ("GET", "/api/email/not-a-uuid", 401, "no such email"),
        ("GET", "/api/email/00000000-0000-4000-8000-000000000000", 401, "no such email"),
        ("GET", "/api/email/00000000-0000-4000-8000-000000000000/raw", 401, "no such email"),
        ("GET", "/api/email/00000000-0000-4000-8000-000000000000/attachments/0", 401, "no such"),
        ("DELETE", "/api/email/00000000-0000-4000-8000-000000000000", 401, "no such email"),
        ("POST", "/api/mailbox/bob/claim", 400, "password is required"),
        ("POST", "/api/mailbox/bob/login", 400, "password is required"),
        ("GET", "/api/mailboxes", 401, "admin token"),
        ("GET", "/api/email/..%2F..%2Fetc%2Fpasswd", 404, "no such API route"),
        ("POST", "/api/nothing/here", 405, "Method Not Allowed"),
        ("GET", "/api/nothing/here", 404, "no such API route"),
        ("POST", "/api/emails/bob", 405, "Method Not Allowed"),
        ("PUT", "/api/email/00000000-0000-4000-8000-000000000000", 405, "Method Not Allowed"),
    ],
)
@pytest_twisted.ensureDeferred
async def test_bad_requests_get_json_errors(
    client: Client, method: str, path: str, status: int, error: str
) -> None:
    body = await client.json(method, path, status)
    assert set(body) == {"error"}
    assert error.lower() in body["error"].lower()


@pytest_twisted.ensureDeferred
async def test_an_attachment_index_that_is_no_number_is_not_found(
    store: MemoryMailStore, client: Client
) -> None:
    (id,) = await deliver(store, "bob@tempmail.local")
    for index in ("%C2%B2", "9" * 5000):
        body = await client.json("GET", f"/api/email/{id}/attachments/{index}", 404)
        assert body == {"error": "Attachment not found"}


@pytest_twisted.ensureDeferred
async def test_a_body_nested_too_deep_is_bad_json(client: Client) -> None:
    response = await client.stub.request(
        "POST", "http://api.test/api/mailbox/bob/claim", data=b"[" * 60_000
    )
    assert response.code == 400
    assert json.loads(await response.content()) == {"error": "the body is not valid JSON"}


@pytest_twisted.ensureDeferred
async def test_wrong_method_lists_the_allowed_ones(client: Client) -> None:
    code, headers, _ = await client.request("PATCH", "/api/emails/bob")
    assert code == 405
    assert set(headers.getRawHeaders(b"allow")[0].decode().split(", ")) >= {"GET", "DELETE"}


@pytest_twisted.ensureDeferred
async def test_health_reports_storage(store: MemoryMailStore, client: Client) -> None:
    assert await client.json("GET", "/api/health") == {"status": "ok", "storage": "ok"}
    await store.close()
    body = await client.json("GET", "/api/health", 503)
    assert body["storage"] == "error"
