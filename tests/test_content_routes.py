"""
The content routes in memory: the sandboxed HTML view, its C{cid:} parts
and view tickets, with the same lock check as every route by message id.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import pytest_twisted
from twisted.internet.defer import ensureDeferred
from twisted.internet.task import Clock

from tempmail.api.content_routes import ContentRoutes, html_policy, render_html
from tempmail.models import Envelope, IncomingMessage
from tempmail.parsing import parse_message
from tempmail.testing import MemoryMailStore, inline_access
from tests.test_api import Client
from tests.test_api_auth import Locked

PNG = b"\x89PNG\r\n\x1a\n-not-really-a-png"
RELATED = (
    b"From: Alice <alice@sender.test>\r\nSubject: with a picture\r\n"
    b'Content-Type: multipart/related; boundary="R"\r\n\r\n'
    b"--R\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    b'<meta http-equiv="refresh" content="0;url=http://evil.test/">'
    b'<p>Look: <img src="cid:logo@sender.test"></p><A HREF="https://example.org/">a link</A>\r\n'
    b"--R\r\nContent-Type: image/png\r\nContent-ID: <logo@sender.test>\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n"
    + __import__("base64").b64encode(PNG)
    + b"\r\n--R--\r\n"
)


async def deliver_related(store: MemoryMailStore, recipient: str = "bob@tempmail.local") -> str:
    envelope = Envelope("alice@sender.test", (recipient,), datetime(2026, 1, 2, tzinfo=UTC))
    (copy,) = await store.deliver(IncomingMessage(envelope, RELATED, parse_message(RELATED)))
    return copy.id


def header(headers, name: bytes) -> str:
    values = headers.getRawHeaders(name)
    assert values is not None, name
    return values[0].decode()


@pytest_twisted.ensureDeferred
async def test_html_view_is_sandboxed_and_rewritten() -> None:
    store = MemoryMailStore()
    client = Client(store)
    id = await deliver_related(store)
    code, headers, body = await client.request("GET", f"/api/email/{id}/html")
    assert code == 200
    policy = header(headers, b"content-security-policy")
    assert policy.startswith("sandbox allow-popups allow-popups-to-escape-sandbox;")
    assert "default-src 'none'" in policy
    assert "style-src 'unsafe-inline'" in policy
    assert f"img-src data: api.test/api/email/{id}/cid/;" in policy
    assert "script-src" not in policy and "http:" not in policy
    assert header(headers, b"referrer-policy") == "no-referrer"
    assert header(headers, b"x-content-type-options") == "nosniff"
    assert header(headers, b"content-type") == "text/html; charset=utf-8"
    text = body.decode()
    assert f'<img src="/api/email/{id}/cid/logo%40sender.test">' in text
    assert '<a target="_blank" rel="noopener noreferrer" HREF="https://example.org/">' in text
    assert "<meta http-equiv" not in text and "<x-inert-meta http-equiv" in text


@pytest_twisted.ensureDeferred
async def test_remote_images_allow_only_images() -> None:
    store = MemoryMailStore()
    client = Client(store)
    id = await deliver_related(store)
    code, headers, _ = await client.request("GET", f"/api/email/{id}/html?images=remote")
    assert code == 200
    policy = header(headers, b"content-security-policy")
    assert f"img-src data: api.test/api/email/{id}/cid/ http: https:;" in policy
    assert "default-src 'none'" in policy and "font-src" not in policy


@pytest_twisted.ensureDeferred
async def test_cid_part_is_served_from_its_message() -> None:
    store = MemoryMailStore()
    client = Client(store)
    id = await deliver_related(store)
    code, headers, body = await client.request("GET", f"/api/email/{id}/cid/logo%40sender.test")
    assert (code, body) == (200, PNG)
    assert header(headers, b"content-type") == "image/png"
    assert header(headers, b"content-security-policy") == "sandbox; default-src 'none'"
    # The frame that shows it has an opaque origin: "same-site" would block it.
    assert header(headers, b"cross-origin-resource-policy") == "cross-origin"
    missing = await client.json("GET", f"/api/email/{id}/cid/nope@x", 404)
    assert missing == {"error": "Attachment not found"}


@pytest_twisted.ensureDeferred
async def test_text_only_message_is_escaped() -> None:
    store = MemoryMailStore()
    client = Client(store)
    raw = b"From: a@b.test\r\nSubject: t\r\n\r\n<script>alert(1)</script> & more\r\n"
    envelope = Envelope("a@b.test", ("bob@tempmail.local",), datetime(2026, 1, 2, tzinfo=UTC))
    (copy,) = await store.deliver(IncomingMessage(envelope, raw, parse_message(raw)))
    code, _, body = await client.request("GET", f"/api/email/{copy.id}/html")
    assert code == 200
    assert b"&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in body
    assert b"<script>" not in body


@pytest.fixture
def locked() -> Locked:
    return pytest_twisted.blockon(ensureDeferred(Locked().setup()))


@pytest_twisted.ensureDeferred
async def test_locked_and_unknown_ids_are_refused_alike(locked: Locked) -> None:
    refused = {"error": "no such email, or its mailbox is locked"}
    unknown = "00000000-0000-4000-8000-000000000000"
    for path in (
        f"/api/email/{locked.id}/html",
        f"/api/email/{unknown}/html",
        f"/api/email/{locked.id}/cid/x",
        "/api/email/not-an-id/html",
    ):
        assert await locked.client.json("GET", path, 401) == refused, path
    for id in (locked.id, unknown):
        assert await locked.client.json("POST", f"/api/email/{id}/view-ticket", 401) == refused
    bearer = {"Authorization": f"Bearer {locked.token}"}
    code, _, _ = await locked.client.request("GET", f"/api/email/{locked.id}/html", headers=bearer)
    assert code == 200


@pytest_twisted.ensureDeferred
async def test_a_ticket_opens_one_message_only(locked: Locked) -> None:
    bearer = {"Authorization": f"Bearer {locked.token}"}
    issued = await locked.client.json("POST", f"/api/email/{locked.id}/view-ticket", headers=bearer)
    assert issued["html_url"] == f"/api/email/{locked.id}/html?ticket={issued['ticket']}"
    code, _, body = await locked.client.request("GET", issued["html_url"])
    assert code == 200 and b"<p>hi" in body
    other = await deliver_related(locked.store)
    refused = {"error": "no such email, or its mailbox is locked"}
    path = f"/api/email/{other}/html?ticket={issued['ticket']}"
    assert await locked.client.json("GET", path, 401) == refused
    forged = issued["ticket"][:-1] + ("0" if issued["ticket"][-1] != "0" else "1")
    path = f"/api/email/{locked.id}/html?ticket={forged}"
    assert await locked.client.json("GET", path, 401) == refused


def test_tickets_expire() -> None:
    clock = Clock()
    clock.advance(1000)
    store = MemoryMailStore(clock)
    routes = ContentRoutes(store, inline_access(store, clock), "tempmail.local")
    ticket, expires = routes.issue_ticket("m1")
    assert expires == 1600
    assert routes.ticket_is_valid("m1", ticket)
    assert not routes.ticket_is_valid("m2", ticket)
    clock.advance(601)
    assert not routes.ticket_is_valid("m1", ticket)
    # Not whole numbers that int() can read: refused, not a crash.
    for malformed in ("\u00b2." + ticket.partition(".")[2], "9" * 5000 + ".x"):
        assert not routes.ticket_is_valid("m1", malformed)


def test_policy_ignores_a_malformed_host() -> None:
    assert "img-src data:;" in html_policy("evil.test; script-src *", "m1", False)
    assert render_html("m1", "", "a < b", None).endswith("<pre>a &lt; b</pre>")
