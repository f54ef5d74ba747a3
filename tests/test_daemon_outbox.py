"""
End to end: the webhook outbox survives a crash.

A message's webhook deliveries are written in the same transaction as the
message, so a daemon killed with SIGKILL right after it answered C{250}
still owes, and later sends, every one of them, exactly once per webhook
and event in the database.
"""

from __future__ import annotations

import json
import smtplib
import sqlite3
from collections import Counter
from typing import Any

import pytest

from tests.daemon import DaemonFactory
from tests.receiver import Receiver, running_receiver

pytestmark = pytest.mark.daemon

KILLS = 100
SETTINGS = {
    "WEBHOOK_ALLOW_PRIVATE": "true",
    "WEBHOOK_TIMEOUT": "1s",
    # A killed daemon's leases end soon, so the next one takes over.
    "WEBHOOK_LEASE": "2s",
    "WEBHOOK_RETRY_BASE": "1s",
}


@pytest.fixture
def receiver() -> Any:
    with running_receiver() as running:
        yield running


def send_one(port: int, subject: str) -> str:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.mail("alice@sender.test")
        client.rcpt("crash@tempmail.local")
        code, reply = client.data(f"Subject: {subject}\r\n\r\nbody\r\n".encode())
    assert code == 250, reply
    return reply.decode().rsplit(" ", 1)[-1]


def test_every_acknowledged_arrival_is_delivered_after_sigkill(
    daemon: DaemonFactory, receiver: Receiver
) -> None:
    first = daemon.start(**SETTINGS)
    created = first.send_json(
        "POST",
        "/api/webhooks",
        {"mailbox_address": "crash", "webhook_url": receiver.url, "events": ["arrival"]},
    )
    assert created.status == 200, created.body
    hook_id = created.json()["id"]
    first.terminate()

    acknowledged = []
    for n in range(KILLS):
        server = daemon.start(**SETTINGS)
        acknowledged.append(send_one(server.smtp_port, f"crash {n}"))
        server.process.kill()
        server.process.wait(30)

    daemon.start(**SETTINGS)

    def all_delivered(requests: list[Any]) -> bool:
        return set(acknowledged) <= {r.json()["email"]["id"] for r in requests}

    receiver.wait_for(all_delivered, timeout=120)
    connection = sqlite3.connect(daemon.workdir / "mail.db")
    try:
        rows = connection.execute(
            "SELECT webhook_id, event, payload FROM webhook_deliveries"
        ).fetchall()
    finally:
        connection.close()
    per_message = Counter(
        (webhook, event, json.loads(payload)["email"]["id"]) for webhook, event, payload in rows
    )
    assert per_message == Counter({(hook_id, "arrival", id): 1 for id in acknowledged})
