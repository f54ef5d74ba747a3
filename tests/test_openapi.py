"""
The OpenAPI document is kept true by testing it: every REST route is in
it, and real responses (in memory, every operation) match its schemas.
tests/test_daemon_openapi.py fuzzes the live daemon with schemathesis.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest_twisted
from jsonschema import Draft202012Validator
from treq.testing import StubTreq
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource

from tempmail.api import MailAPI
from tempmail.api.metrics_routes import MetricsRoutes
from tempmail.api.openapi import document
from tempmail.api.webhook_routes import WebhookSettings
from tempmail.metrics import Metrics
from tempmail.testing import MemoryMailStore
from tempmail.webhooks import TargetChecker, WebhookSender
from tests.support import synchronous_access
from tests.test_api import WEB, deliver

ADMIN = "operator-token-0123456789"
NOT_REST = re.compile(r"^/(api/ws/|mcp)|^/$|^/<path:path>$")


def public_resolver(host: str, port: int) -> Deferred[list[str]]:
    return succeed(["93.184.216.34"])


class Receiver(Resource):
    """
    A webhook target that takes every event.
    """

    isLeaf = True

    def render_POST(self, request: IRequest) -> bytes:
        return b"ok"


def make_api(store: MemoryMailStore) -> MailAPI:
    clock = Clock()
    checker = TargetChecker(resolve=public_resolver)
    receiver: Any = StubTreq(Receiver())
    sender = WebhookSender(clock, checker, lambda target: receiver)
    return MailAPI(
        store,
        synchronous_access(store, clock, ADMIN),
        "tempmail.local",
        WEB,
        webhooks=WebhookSettings(checker, sender),
        metrics=MetricsRoutes(Metrics()),
    )


def test_every_rest_route_is_described() -> None:
    routes: set[tuple[str, str]] = set()
    for app in make_api(MemoryMailStore()).groups:
        for rule in app.url_map.iter_rules():
            if NOT_REST.search(rule.rule):
                continue
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            routes.update(
                (path, m.lower()) for m in rule.methods or () if m not in ("HEAD", "OPTIONS")
            )
    described = {(path, method) for path, item in document()["paths"].items() for method in item}
    assert routes == described


def test_every_reference_resolves_and_every_operation_answers_errors() -> None:
    spec = document()
    text = json.dumps(spec)
    for name in re.findall(r'"#/components/schemas/(\w+)"', text):
        assert name in spec["components"]["schemas"], name
    schemes = spec["components"]["securitySchemes"]
    assert {s.get("scheme", s.get("name")) for s in schemes.values()} == {
        "bearer",
        "basic",
        "X-API-Key",
    }
    for item in spec["paths"].values():
        for operation in item.values():
            assert operation["responses"]["default"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }
            for requirement in operation.get("security", []):
                assert set(requirement) <= set(schemes)


class Checked:
    """
    Sends requests and checks each answer against the document.
    """

    def __init__(self, api: MailAPI) -> None:
        self.stub: Any = StubTreq(api.resource())
        self.spec = document()
        self.seen: set[tuple[str, str]] = set()

    async def call(
        self,
        method: str,
        template: str,
        path: str,
        status: int = 200,
        body: Any = None,
        token: str | None = None,
    ) -> Any:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        data = None if body is None else json.dumps(body).encode()
        response = await self.stub.request(
            method, "http://api.test" + path, data=data, headers=headers
        )
        content = await response.content()
        assert response.code == status, (method, path, content)
        operation = self.spec["paths"][template][method.lower()]
        described = operation["responses"].get(str(status), operation["responses"]["default"])
        (content_type,) = response.headers.getRawHeaders(b"content-type")
        media_type = content_type.decode().split(";")[0]
        self.seen.add((template, method.lower()))
        if "application/json" not in described["content"]:
            # Bytes from mail keep their own type where the document says any bytes.
            assert media_type in described["content"] or "octet-stream" in str(described), (
                path,
                media_type,
            )
            return content
        assert media_type == "application/json", path
        parsed = json.loads(content)
        schema = {**described["content"]["application/json"]["schema"]}
        schema["components"] = self.spec["components"]
        errors = list(Draft202012Validator(schema).iter_errors(parsed))
        assert not errors, (method, path, [e.message for e in errors])
        return parsed


@pytest_twisted.ensureDeferred
async def test_real_responses_match_the_document() -> None:
    store = MemoryMailStore()
    api = Checked(make_api(store))
    (id,) = await deliver(store, "bob@tempmail.local")
    await api.call("GET", "/livez", "/livez")
    await api.call("GET", "/readyz", "/readyz")
    await api.call("GET", "/api/health", "/api/health")
    await api.call("GET", "/metrics", "/metrics")
    await api.call("GET", "/api/openapi.json", "/api/openapi.json")
    await api.call("GET", "/api/docs", "/api/docs")
    mailbox = "/api/emails/{address}"
    await api.call("GET", mailbox, "/api/emails/bob")
    await api.call("GET", mailbox, "/api/emails/bob?full=true&limit=1")
    await api.call("GET", mailbox, "/api/emails/bob?limit=0", 400)
    await api.call("GET", "/api/emails/{address}/export", "/api/emails/bob/export")
    one = "/api/email/{id}"
    await api.call("GET", one, f"/api/email/{id}?peek=true")
    await api.call("GET", one, "/api/email/not-an-id", 401)
    await api.call("PATCH", one, f"/api/email/{id}", body={"seen": False})
    await api.call("PATCH", one, f"/api/email/{id}", 400, body={"seen": "yes"})
    await api.call("GET", "/api/email/{id}/raw", f"/api/email/{id}/raw")
    attachment = "/api/email/{id}/attachments/{index}"
    await api.call("GET", attachment, f"/api/email/{id}/attachments/0")
    await api.call("GET", attachment, f"/api/email/{id}/attachments/9", 404)
    ticket = await api.call("POST", "/api/email/{id}/view-ticket", f"/api/email/{id}/view-ticket")
    await api.call("GET", "/api/email/{id}/html", ticket["html_url"])
    await api.call("GET", "/api/email/{id}/cid/{content_id}", f"/api/email/{id}/cid/x", 404)

    hooks = await api.call(
        "POST",
        "/api/webhooks",
        "/api/webhooks",
        body={"mailbox_address": "bob", "webhook_url": "https://hooks.example/in"},
    )
    hook = "/api/webhook/{id}"
    await api.call("GET", "/api/webhooks/{address}", "/api/webhooks/bob")
    await api.call("GET", hook, f"/api/webhook/{hooks['id']}")
    await api.call("PUT", hook, f"/api/webhook/{hooks['id']}", body={"enabled": False})
    await api.call("PUT", hook, f"/api/webhook/{hooks['id']}", 400, body={"events": []})
    await api.call("POST", "/api/webhook/{id}/test", f"/api/webhook/{hooks['id']}/test")
    await api.call("GET", "/api/webhook/{id}/deliveries", f"/api/webhook/{hooks['id']}/deliveries")
    await api.call("DELETE", hook, f"/api/webhook/{hooks['id']}")

    claims = "/api/mailbox/{address}"
    await api.call("GET", claims + "/status", "/api/mailbox/bob/status")
    claimed = await api.call(
        "POST", claims + "/claim", "/api/mailbox/bob/claim", body={"password": "s3cret-pass"}
    )
    await api.call(
        "POST",
        claims + "/claim",
        "/api/mailbox/bob/claim",
        409,
        body={"password": "other-pass-word"},
    )
    await api.call("GET", mailbox, "/api/emails/bob", 401)
    await api.call("GET", mailbox, "/api/emails/bob", token=claimed["token"])
    await api.call(
        "POST", claims + "/login", "/api/mailbox/bob/login", body={"password": "s3cret-pass"}
    )
    changed = await api.call(
        "POST",
        claims + "/password",
        "/api/mailbox/bob/password",
        body={"password": "s3cret-pass", "new_password": "n3w-pass-word"},
    )
    await api.call("GET", "/api/mailboxes", "/api/mailboxes", token=ADMIN)
    await api.call("GET", "/api/mailboxes", "/api/mailboxes", 401)
    await api.call("DELETE", one, f"/api/email/{id}", token=changed["token"])
    await api.call("DELETE", mailbox, "/api/emails/bob", token=changed["token"])
    await api.call(
        "POST", claims + "/release", "/api/mailbox/bob/release", body={"password": "n3w-pass-word"}
    )
    described = {(path, method) for path, item in api.spec["paths"].items() for method in item}
    assert api.seen == described
