"""
End to end: three tempmail daemons on one PostgreSQL database, each with
its own ports.  Mail sent to one node is heard on the others' doors
(WebSocket, IMAP IDLE, MCP), a claim on one locks the mailbox on all, UIDs
stay distinct and increasing while every node delivers to one mailbox,
and a restart of PostgreSQL under load costs 451s, never an acknowledged
message.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import smtplib
import threading
from typing import Any

import psycopg2
import pytest

from tempmail.testing.postgres import throwaway_server
from tests.daemon import Daemon, DaemonFactory
from tests.mcp_client import MCP_SETTINGS, mcp_url
from tests.mcp_client import connect as mcp_connect
from tests.receiver import running_receiver
from tests.test_daemon_mcp import structured
from tests.test_daemon_websocket import PASSWORD, close_code, frame, send, socket

pytestmark = pytest.mark.daemon

NODE_SETTINGS = {"IMAP_ENABLED": "true", "IMAP_PORT": "0", "DOMAIN_NAME": "tempmail.local"}


def nodes(
    daemon: DaemonFactory, url: str, count: int = 3, settings: dict[str, str] | None = None
) -> list[Daemon]:
    return [
        daemon.start(DATABASE_URL=url, **NODE_SETTINGS, **(settings or {})) for _ in range(count)
    ]


def rows(url: str, query: str) -> list[tuple[Any, ...]]:
    connection = psycopg2.connect(url)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute(query)
            return list(cursor.fetchall())
    finally:
        connection.close()


def test_every_door_on_one_node_hears_mail_sent_to_another(
    daemon: DaemonFactory, postgres_url: str
) -> None:
    a, b = nodes(daemon, postgres_url, 2)
    imap = imaplib.IMAP4("127.0.0.1", b.ports["imap"], timeout=15)
    try:
        imap.login("bob", "anything")
        imap.select("INBOX")
        imap.send(b"i1 IDLE\r\n")
        assert imap.readline().startswith(b"+")
        with socket(b, "bob") as ws:
            assert frame(ws)["type"] == "Connected"
            id = send(a, "bob@tempmail.local", "across")
            email = frame(ws)
            assert (email["type"], email["id"], email["subject"]) == ("Email", id, "across")
            assert imap.readline() == b"* 1 EXISTS\r\n"
            # This session is the first told of it, so to it the message is \Recent.
            assert imap.readline() == b"* 1 RECENT\r\n"
            imap.send(b"DONE\r\n")
            assert imap.readline() == b"i1 OK IDLE terminated\r\n"
            # A flag set over IMAP on B reaches a socket on A.
            with socket(a, "bob") as on_a:
                assert frame(on_a)["type"] == "Connected"
                assert imap.store("1", "+FLAGS", "(\\Flagged)")[0] == "OK"
                flags = frame(on_a)
                assert (flags["type"], flags["id"], flags["flags"]) == (
                    "EmailFlags",
                    id,
                    ["\\Flagged"],
                )
            assert frame(ws)["type"] == "EmailFlags"
            # Read on A: B's socket hears it.
            assert a.http("GET", f"/api/email/{id}").status == 200
            assert frame(ws)["type"] == "EmailFlags"
            assert frame(ws)["type"] == "EmailRead"
            # A claim on A closes B's anonymous socket and locks B's doors.
            claimed = a.send_json("POST", "/api/mailbox/bob/claim", {"password": PASSWORD})
            assert claimed.status == 200, claimed.body
            assert close_code(ws) == 4001
            # ...and ends B's IMAP session, which logged in without a
            # password (after the untagged FETCH of the read on A).
            assert imap.readline() == b"* 1 FETCH (FLAGS (\\Seen \\Flagged \\Recent))\r\n"
            assert imap.readline().startswith(b"* BYE")
        assert b.http("GET", "/api/emails/bob").status == 401
    finally:
        imap.shutdown()


def test_wait_for_email_on_one_node_returns_mail_sent_to_another(
    daemon: DaemonFactory, postgres_url: str
) -> None:
    a, b = nodes(daemon, postgres_url, 2, MCP_SETTINGS)

    async def scenario() -> tuple[dict[str, Any], str]:
        async with mcp_connect(mcp_url(b)) as client:
            waiting = asyncio.ensure_future(
                client.call_tool("wait_for_email", {"address": "mcp@tempmail.local", "timeout": 15})
            )
            id = await asyncio.to_thread(send, a, "mcp@tempmail.local", "for the agent")
            return structured(await waiting), id

    waited, id = asyncio.run(scenario())
    assert waited["found"] and waited["email"]["id"] == id


def test_round_robin_to_three_nodes_gives_one_order_everywhere(
    daemon: DaemonFactory, postgres_url: str
) -> None:
    servers = nodes(daemon, postgres_url)
    with contextlib.ExitStack() as opened:
        sockets = [opened.enter_context(socket(server, "busy")) for server in servers]
        for ws in sockets:
            assert frame(ws)["type"] == "Connected"
        clients = [smtplib.SMTP("127.0.0.1", s.smtp_port, timeout=30) for s in servers]
        try:
            for n in range(300):
                code, _ = clients[n % 3].sendmail(
                    "a@sender.test", ["busy@tempmail.local"], f"Subject: {n}\r\n\r\nx\r\n"
                ) or (250, b"")
                assert code == 250
        finally:
            for client in clients:
                client.quit()
        heard = [[frame(ws)["id"] for _ in range(300)] for ws in sockets]
    uid_of = dict(rows(postgres_url, "SELECT id, uid FROM mailbox_messages"))
    assert sorted(uid_of.values()) == list(range(1, 301))
    for ids in heard:
        assert ids == heard[0]
        assert [uid_of[id] for id in ids] == list(range(1, 301))


def test_each_arrival_reaches_the_webhook_once_while_a_node_is_killed(
    daemon: DaemonFactory, postgres_url: str
) -> None:
    settings = {
        "WEBHOOK_ALLOW_PRIVATE": "true",
        "WEBHOOK_TIMEOUT": "1s",
        "WEBHOOK_LEASE": "2s",
    }
    victim, *survivors = nodes(daemon, postgres_url, 3, settings)
    with running_receiver() as receiver:
        created = victim.send_json(
            "POST",
            "/api/webhooks",
            {"mailbox_address": "hooked", "webhook_url": receiver.url, "events": ["arrival"]},
        )
        assert created.status == 200, created.body
        sent: list[str] = []
        for n in range(150):
            sent.append(send(survivors[n % 2], "hooked@tempmail.local", f"m{n}"))
            if n == 40:
                receiver.wait_for(lambda got: len(got) >= 10)
                victim.process.kill()
                victim.process.wait(30)
        receiver.wait_for(lambda got: {r.json()["email"]["id"] for r in got} >= set(sent), 60)
    deliveries: dict[str, set[str]] = {}
    for request in receiver.requests:
        email = request.json()["email"]["id"]
        deliveries.setdefault(email, set()).add(request.headers["X-Tempmail-Delivery"])
    assert set(deliveries) == set(sent)
    assert all(len(ids) == 1 for ids in deliveries.values()), "an arrival with two delivery ids"
    # A repeat is only an attempt the killed node may have made unrecorded.
    repeats = len(receiver.requests) - len(deliveries)
    assert repeats <= 10, repeats


def test_retention_on_three_nodes_deletes_and_announces_each_message_once(
    daemon: DaemonFactory, postgres_url: str
) -> None:
    # 0.0003 hours is about a second; every node sweeps five times a second.
    settings = {"EMAIL_RETENTION_HOURS": "0.0003", "RETENTION_INTERVAL": "0.2s"}
    servers = nodes(daemon, postgres_url, 3, settings)
    with socket(servers[0], "short") as ws:
        assert frame(ws)["type"] == "Connected"
        sent = [send(servers[n % 3], "short@tempmail.local", f"m{n}") for n in range(30)]
        frames = [frame(ws) for _ in range(60)]
        # Nothing more comes: a second announcement of a deletion would.
        probe = send(servers[1], "short@tempmail.local", "probe")
        assert frame(ws)["id"] == probe
    arrivals = [f["id"] for f in frames if f["type"] == "Email"]
    deletions = [f["id"] for f in frames if f["type"] == "EmailDeleted"]
    assert sorted(arrivals) == sorted(deletions) == sorted(sent)


class Sender(threading.Thread):
    """
    Sends to one node until told to stop; records each reply.
    """

    def __init__(self, server: Daemon, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.server = server
        self.acknowledged: list[str] = []
        self.refused = 0
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            try:
                with smtplib.SMTP("127.0.0.1", self.server.smtp_port, timeout=30) as client:
                    while not self.stop.is_set():
                        n += 1
                        client.mail("a@sender.test")
                        client.rcpt("load@tempmail.local")
                        code, reply = client.data(f"Subject: {self.name}-{n}\r\n\r\nx\r\n".encode())
                        if code == 250:
                            self.acknowledged.append(reply.decode().rsplit(" ", 1)[-1])
                        else:
                            assert code == 451, (code, reply)
                            self.refused += 1
                            break
            except smtplib.SMTPResponseException as e:
                assert e.smtp_code == 451, e
                self.refused += 1

    def until(self, predicate: Any, timeout: float = 60) -> None:
        waited = threading.Event()
        deadline = threading.Timer(timeout, waited.set)
        deadline.start()
        try:
            while not predicate():
                assert not waited.wait(0.05), f"{self.name}: timed out"
        finally:
            deadline.cancel()


def test_postgresql_restarted_under_load(daemon: DaemonFactory) -> None:
    with throwaway_server() as server:
        url = server.new_database()
        servers = nodes(daemon, url, 2)
        senders = [Sender(s, f"s{i}") for i, s in enumerate(servers)]
        for sender in senders:
            sender.start()
        try:
            for sender in senders:
                sender.until(lambda s=sender: len(s.acknowledged) >= 20)
            server.stop()
            for sender in senders:
                sender.until(lambda s=sender: s.refused >= 1)
            before = [len(s.acknowledged) for s in senders]
            server.start()
            for sender, count in zip(senders, before, strict=True):
                sender.until(lambda s=sender, c=count: len(s.acknowledged) >= c + 20)
        finally:
            for sender in senders:
                sender.stop.set()
            for sender in senders:
                sender.join(60)
        stored = {id for (id,) in rows(url, "SELECT id FROM mailbox_messages")}
        for sender in senders:
            assert not sender.is_alive()
            missing = set(sender.acknowledged) - stored
            assert not missing, f"{len(missing)} acknowledged messages are missing"
        for node in servers:
            assert node.http("GET", "/api/emails/load").status == 200
            node.terminate()
