"""
End to end: webhooks from the real daemon to a real local HTTP receiver.
"""

from __future__ import annotations

import smtplib
import threading
from typing import Any

import pytest

from tests.daemon import Daemon, DaemonFactory
from tests.receiver import Received, Receiver, running_receiver

pytestmark = pytest.mark.daemon

PRIVATE_OK = {"WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_RETRY_BASE": "0.1s"}


@pytest.fixture
def receiver() -> Any:
    with running_receiver() as running:
        yield running


def send(server: Daemon, address: str, subject: str = "hooked") -> str:
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as client:
        client.mail("alice@sender.test")
        client.rcpt(address)
        code, reply = client.data(f"Subject: {subject}\r\n\r\nthe body\r\n".encode())
    assert code == 250
    return reply.decode().rsplit(" ", 1)[-1]


def create(server: Daemon, receiver: Receiver, events: list[str], address: str = "hooked") -> dict:
    response = server.send_json(
        "POST",
        "/api/webhooks",
        {"mailbox_address": address, "webhook_url": receiver.url, "events": events},
    )
    assert response.status == 200, response.body
    return dict(response.json())


def events_of(requests: list[Received]) -> list[str]:
    return [r.json()["event"] for r in requests]


def test_arrival_read_and_deletion_are_signed(daemon: DaemonFactory, receiver: Receiver) -> None:
    server = daemon.start(**PRIVATE_OK)
    hook = create(server, receiver, ["Arrival", "read", "deletion"])
    assert hook["events"] == ["arrival", "read", "deletion"]
    assert hook["mailbox_address"] == "hooked@tempmail.local"
    assert hook["secret"].startswith("whsec_")
    assert "secret" not in server.get_json(f"/api/webhook/{hook['id']}")

    id = send(server, "hooked@tempmail.local")
    receiver.wait_for(lambda r: len(r) == 1)
    assert server.http("GET", f"/api/email/{id}").status == 200
    receiver.wait_for(lambda r: len(r) == 2)
    assert server.http("DELETE", f"/api/email/{id}").status == 200
    receiver.wait_for(lambda r: len(r) == 3)

    assert events_of(receiver.requests) == ["arrival", "read", "deletion"]
    for request in receiver.requests:
        assert request.signature_valid(hook["secret"])
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["X-Tempmail-Event"] == request.json()["event"]
        assert request.headers["X-Tempmail-Delivery"] == request.json()["delivery_id"]
        payload = request.json()
        assert payload["webhook_id"] == hook["id"]
        assert payload["mailbox"] == "hooked@tempmail.local"
        email = payload["email"]
        assert (email["id"], email["subject"], email["attachments"]) == (id, "hooked", 0)
    arrival, _, deletion = (r.json() for r in receiver.requests)
    assert arrival["email"]["body"].strip() == "the body"
    assert deletion["reason"] == "deleted"
    assert not receiver.requests[0].signature_valid("whsec_wrong")

    log = server.get_json(f"/api/webhook/{hook['id']}/deliveries")["deliveries"]
    assert sorted(d["event"] for d in log) == ["arrival", "deletion", "read"]
    assert {d["status"] for d in log} == {200}


def test_two_500s_then_success_keep_one_delivery_id(
    daemon: DaemonFactory, receiver: Receiver
) -> None:
    server = daemon.start(**PRIVATE_OK)
    hook = create(server, receiver, ["arrival"])
    receiver.statuses = [500, 500]
    send(server, "hooked@tempmail.local")
    receiver.wait_for(lambda r: len(r) == 3)
    ids = {r.headers["X-Tempmail-Delivery"] for r in receiver.requests}
    assert len(ids) == 1
    log = server.get_json(f"/api/webhook/{hook['id']}/deliveries")["deliveries"]
    assert [(d["attempt"], d["status"]) for d in reversed(log)] == [(1, 500), (2, 500), (3, 200)]
    assert server.get_json(f"/api/webhook/{hook['id']}")["consecutive_failures"] == 0


def test_a_pending_delivery_survives_a_restart(daemon: DaemonFactory, receiver: Receiver) -> None:
    settings = {"WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_RETRY_BASE": "2s"}
    server = daemon.start(**settings)
    create(server, receiver, ["arrival"])
    receiver.default_status = 503
    send(server, "hooked@tempmail.local")
    receiver.wait_for(lambda r: len(r) == 1)
    assert server.terminate() == 0

    receiver.default_status = 200
    daemon.start(**settings)
    receiver.wait_for(lambda r: len(r) == 2)
    first, second = receiver.requests
    assert first.headers["X-Tempmail-Delivery"] == second.headers["X-Tempmail-Delivery"]
    assert first.body == second.body


def test_410_disables_the_webhook(daemon: DaemonFactory, receiver: Receiver) -> None:
    server = daemon.start(**PRIVATE_OK)
    hook = create(server, receiver, ["arrival"])
    receiver.default_status = 410
    send(server, "hooked@tempmail.local")
    receiver.wait_for(lambda r: len(r) == 1)
    server.wait_for_log(f'"webhook_disabled": "{hook["id"]}"')
    state = server.get_json(f"/api/webhook/{hook['id']}")
    assert state["enabled"] is False
    assert "410" in state["disabled_reason"]
    with running_receiver() as witness:
        # The deliveries of one event are stored for all of the mailbox's
        # enabled webhooks at once, so once this second webhook has its
        # copy of the next arrival, the dispatcher has decided who gets one.
        create(server, witness, ["arrival"])
        send(server, "hooked@tempmail.local", "after")
        witness.wait_for(lambda r: len(r) == 1)
    assert witness.requests[0].json()["email"]["subject"] == "after"
    assert server.get_json("/api/emails/hooked")["total"] == 2
    assert len(receiver.requests) == 1
    attempts = server.get_json(f"/api/webhook/{hook['id']}/deliveries")["deliveries"]
    assert [d["status"] for d in attempts] == [410]


def test_private_targets_are_refused_alike(daemon: DaemonFactory, receiver: Receiver) -> None:
    server = daemon.start()
    errors = set()
    for url in (
        receiver.url,
        "http://127.0.0.1:1/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "http://localhost/x",
    ):
        response = server.send_json(
            "POST",
            "/api/webhooks",
            {"mailbox_address": "x", "webhook_url": url, "events": ["arrival"]},
        )
        assert response.status == 400, url
        errors.add(response.json()["error"])
    assert errors == {
        "webhook_url refused: the URL's address is not allowed (loopback, private or reserved)"
    }
    bad_scheme = server.send_json(
        "POST", "/api/webhooks", {"mailbox_address": "x", "webhook_url": "ftp://example.com/"}
    )
    assert bad_scheme.status == 400
    unknown_event = server.send_json(
        "POST",
        "/api/webhooks",
        {"mailbox_address": "x", "webhook_url": "http://192.0.2.1/", "events": ["arrival", "x"]},
    )
    assert unknown_event.json() == {"error": "Invalid event: x"}


def test_a_locked_mailbox_guards_its_webhooks(daemon: DaemonFactory, receiver: Receiver) -> None:
    server = daemon.start(**PRIVATE_OK)
    spy = create(server, receiver, ["arrival"], address="victim")
    claimed = server.send_json("POST", "/api/mailbox/victim/claim", {"password": "s3cret-pass"})
    token = claimed.json()["token"]
    owner = {"Authorization": f"Bearer {token}"}
    # The claim removed the webhook someone added while the mailbox was open.
    assert server.http("GET", "/api/webhooks/victim", headers=owner).json() == {"webhooks": []}
    assert server.http("GET", f"/api/webhook/{spy['id']}", headers=owner).status == 401
    created = server.send_json(
        "POST",
        "/api/webhooks",
        {"mailbox_address": "victim", "webhook_url": receiver.url, "events": ["arrival"]},
        owner,
    )
    assert created.status == 200
    hook = created.json()
    for variant in ("VICTIM", "victim@tempmail.local", " Victim@TEMPMAIL.local "):
        response = server.send_json(
            "POST",
            "/api/webhooks",
            {"mailbox_address": variant, "webhook_url": receiver.url, "events": ["arrival"]},
        )
        assert response.status == 401, variant
    put = server.send_json("PUT", f"/api/webhook/{hook['id']}", {"enabled": False})
    assert put.status == 401
    authorised = server.send_json(
        "PUT",
        f"/api/webhook/{hook['id']}",
        {"enabled": False},
        {"Authorization": f"Bearer {token}"},
    )
    assert authorised.status == 200 and authorised.json()["enabled"] is False
    for method, path in (
        ("GET", f"/api/webhook/{hook['id']}"),
        ("GET", "/api/webhooks/victim"),
        ("GET", f"/api/webhook/{hook['id']}/deliveries"),
        ("POST", f"/api/webhook/{hook['id']}/test"),
        ("DELETE", f"/api/webhook/{hook['id']}"),
    ):
        assert server.http(method, path).status == 401, path
        assert server.http(method, path, headers={"Authorization": f"Bearer {token}"}).status in (
            200,
        ), path


def test_test_endpoint_and_updates(daemon: DaemonFactory, receiver: Receiver) -> None:
    server = daemon.start(**PRIVATE_OK)
    hook = create(server, receiver, ["arrival"])
    result = server.http("POST", f"/api/webhook/{hook['id']}/test").json()
    assert result["success"] is True and result["status"] == 200 and result["error"] is None
    assert receiver.requests[0].json()["event"] == "test"
    assert receiver.requests[0].signature_valid(hook["secret"])
    receiver.default_status = 500
    failed = server.http("POST", f"/api/webhook/{hook['id']}/test").json()
    assert (failed["success"], failed["status"]) == (False, 500)

    updated = server.send_json(
        "PUT", f"/api/webhook/{hook['id']}", {"events": ["Deletion"], "enabled": False}
    )
    assert updated.json()["events"] == ["deletion"] and updated.json()["enabled"] is False
    moved = server.send_json("PUT", f"/api/webhook/{hook['id']}", {"mailbox_address": "other"})
    assert moved.status == 400
    assert server.http("DELETE", f"/api/webhook/{hook['id']}").status == 200
    assert server.get_json("/api/webhooks/hooked") == {"webhooks": []}


def test_a_burst_of_500_messages_gives_500_deliveries(
    daemon: DaemonFactory, receiver: Receiver
) -> None:
    server = daemon.start(**PRIVATE_OK)
    create(server, receiver, ["arrival"], address="burst")

    def sender(worker: int) -> None:
        with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=60) as client:
            for n in range(worker, 500, 10):
                client.sendmail(
                    "a@sender.test", ["burst@tempmail.local"], f"Subject: {n}\r\n\r\nx\r\n"
                )

    threads = [threading.Thread(target=sender, args=(w,)) for w in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert server.get_json("/api/emails/burst?limit=1")["total"] == 500
    receiver.wait_for(lambda r: len(r) >= 500, timeout=120)
    subjects = {r.json()["email"]["subject"] for r in receiver.requests}
    assert subjects == {str(n) for n in range(500)}
    assert len({r.headers["X-Tempmail-Delivery"] for r in receiver.requests}) == 500
