"""
End to end: a daemon killed with SIGKILL in the middle of group commits.

Several sessions send at once, so the store files their messages in shared
transactions; the daemon is killed while they are still sending.  Every
message that got its 250 must be stored, and every stored message (whether
or not its 250 went out) must be whole: its raw bytes, its mailbox copy and
its webhook delivery, never a part of them.
"""

from __future__ import annotations

import json
import smtplib
import sqlite3
import threading
from collections import Counter
from typing import Any

import pytest

from tests.daemon import DaemonFactory
from tests.receiver import running_receiver

pytestmark = pytest.mark.daemon

ROUNDS = 3
SENDERS = 8
# Acknowledged messages in a round before the kill.
BEFORE_KILL = 150
SETTINGS = {"WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_TIMEOUT": "1s"}


def message(tag: str) -> bytes:
    return (f"Subject: {tag}\r\n\r\n" + "a line of the body\r\n" * 40 + f"END {tag}\r\n").encode()


class Sender(threading.Thread):
    """Sends messages on one session until the connection fails."""

    def __init__(self, port: int, name: str, acknowledged: dict[str, str], enough: Any) -> None:
        super().__init__(name=name, daemon=True)
        self.port = port
        self.acknowledged = acknowledged
        self.enough = enough

    def run(self) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as client:
                for n in range(100_000):
                    tag = f"{self.name}-{n}"
                    client.mail("alice@sender.test")
                    client.rcpt("crash@tempmail.local")
                    code, reply = client.data(message(tag))
                    assert code == 250, reply
                    self.acknowledged[reply.decode().rsplit(" ", 1)[-1]] = tag
                    self.enough()
        except (OSError, smtplib.SMTPException):
            return


def test_no_acknowledged_message_is_lost_and_none_is_half_stored(
    daemon: DaemonFactory,
) -> None:
    acknowledged: dict[str, str] = {}
    with running_receiver() as receiver:
        first = daemon.start(**SETTINGS)
        created = first.send_json(
            "POST",
            "/api/webhooks",
            {"mailbox_address": "crash", "webhook_url": receiver.url, "events": ["arrival"]},
        )
        assert created.status == 200, created.body
        first.terminate()
        for round in range(ROUNDS):
            server = daemon.start(**SETTINGS)
            kill_now = threading.Event()
            goal = len(acknowledged) + BEFORE_KILL

            def enough(goal: int = goal, kill_now: threading.Event = kill_now) -> None:
                if len(acknowledged) >= goal:
                    kill_now.set()

            senders = [
                Sender(server.smtp_port, f"r{round}s{i}", acknowledged, enough)
                for i in range(SENDERS)
            ]
            for sender in senders:
                sender.start()
            assert kill_now.wait(60), "the senders did not get enough 250s"
            server.process.kill()
            server.process.wait(30)
            for sender in senders:
                sender.join(30)
                assert not sender.is_alive()

    connection = sqlite3.connect(daemon.workdir / "mail.db")
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        copies = connection.execute(
            "SELECT mm.id, m.raw FROM mailbox_messages mm JOIN messages m ON m.id = mm.message_id"
        ).fetchall()
        orphans = connection.execute(
            "SELECT count(*) FROM messages m WHERE NOT EXISTS "
            "(SELECT 1 FROM mailbox_messages mm WHERE mm.message_id = m.id)"
        ).fetchone()
        payloads = connection.execute("SELECT payload FROM webhook_deliveries").fetchall()
    finally:
        connection.close()

    stored = {id: bytes(raw) for id, raw in copies}
    missing = set(acknowledged) - set(stored)
    assert not missing, f"{len(missing)} acknowledged messages are missing"
    for id, raw in stored.items():
        tag = raw.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0].decode()
        assert raw.endswith(message(tag).split(b"\r\n\r\n", 1)[1]), f"{id} is cut short"
        if id in acknowledged:
            assert acknowledged[id] == tag
    assert orphans == (0,), "a message body without its mailbox copy"
    deliveries = Counter(json.loads(payload)["email"]["id"] for (payload,) in payloads)
    assert deliveries == Counter(list(stored)), "each stored message owes exactly one delivery"
    assert len(stored) >= ROUNDS * BEFORE_KILL
