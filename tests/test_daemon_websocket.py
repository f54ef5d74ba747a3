"""
End to end: live events over a real WebSocket client (websockets), against
the real daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import json
import smtplib
import socket as socket_module
from typing import Any

import pytest
from websockets.asyncio.client import connect as connect_async
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.daemon import Daemon, DaemonFactory

pytestmark = pytest.mark.daemon

TIMEOUT = 15
PASSWORD = "s3cret-pass"


def socket(server: Daemon, address: str, query: str = "", **options: Any) -> ClientConnection:
    url = f"ws://127.0.0.1:{server.http_port}/api/ws/{address}{query}"
    return connect(url, open_timeout=TIMEOUT, **options)


def frame(ws: ClientConnection) -> dict[str, Any]:
    return dict(json.loads(ws.recv(timeout=TIMEOUT)))


def send(server: Daemon, address: str, subject: str = "live") -> str:
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as client:
        client.mail("alice@sender.test")
        client.rcpt(address)
        code, reply = client.data(
            f"From: alice@sender.test\r\nSubject: {subject}\r\n\r\nhi\r\n".encode()
        )
    assert code == 250
    return reply.decode().rsplit(" ", 1)[-1]


def close_code(ws: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=TIMEOUT)
    return closed.value.rcvd.code if closed.value.rcvd else None


def test_arrival_read_and_deletion_reach_the_socket(daemon: DaemonFactory) -> None:
    server = daemon.start()
    with socket(server, "Watch@Example.com") as ws:
        assert frame(ws) == {"type": "Connected", "address": "watch@example.com"}
        id = send(server, "watch@example.com", "first")
        email = frame(ws)
        assert email["type"] == "Email"
        assert (email["id"], email["to"], email["from"]) == (
            id,
            "watch@example.com",
            "alice@sender.test",
        )
        assert (email["subject"], email["preview"], email["attachments"]) == ("first", "hi", 0)
        assert email["size"] > 0 and email["timestamp"].endswith("Z")
        assert "raw" not in email and "body" not in email

        assert server.http("GET", f"/api/email/{id}").status == 200
        assert frame(ws) == {
            "type": "EmailFlags",
            "id": id,
            "address": "watch@example.com",
            "seen": True,
            "flags": [],
        }
        assert frame(ws) == {"type": "EmailRead", "id": id, "address": "watch@example.com"}
        # Reading it again changes nothing, so nothing is sent; the next
        # frame is the deletion.
        assert server.http("GET", f"/api/email/{id}").status == 200
        assert server.http("DELETE", f"/api/email/{id}").status == 200
        assert frame(ws) == {
            "type": "EmailDeleted",
            "id": id,
            "address": "watch@example.com",
            "reason": "deleted",
        }


def test_patch_marks_read_and_unread(daemon: DaemonFactory) -> None:
    server = daemon.start()
    with socket(server, "patch@example.com") as ws:
        frame(ws)
        id = send(server, "patch@example.com")
        frame(ws)
        assert server.send_json("PATCH", f"/api/email/{id}", {"seen": True}).status == 200
        assert [frame(ws)["type"], frame(ws)["type"]] == ["EmailFlags", "EmailRead"]
        assert server.send_json("PATCH", f"/api/email/{id}", {"seen": False}).status == 200
        assert frame(ws) == {
            "type": "EmailFlags",
            "id": id,
            "address": "patch@example.com",
            "seen": False,
            "flags": [],
        }
        assert server.get_json(f"/api/email/{id}?peek=true")["seen"] is False
        assert server.send_json("PATCH", f"/api/email/{id}", {"seen": "yes"}).status == 400
        # A refused change sends nothing: the next event is the next arrival.
        send(server, "patch@example.com", "next")
        assert frame(ws)["subject"] == "next"


def test_retention_deletes_and_announces(daemon: DaemonFactory) -> None:
    # 0.0003 hours is about a second.
    server = daemon.start(EMAIL_RETENTION_HOURS="0.0003", RETENTION_INTERVAL="0.2s")
    with socket(server, "short@example.com") as ws:
        frame(ws)
        id = send(server, "short@example.com")
        assert frame(ws)["type"] == "Email"
        assert frame(ws) == {
            "type": "EmailDeleted",
            "id": id,
            "address": "short@example.com",
            "reason": "retention",
        }
    assert server.get_json("/api/emails/short@example.com")["total"] == 0


def test_locked_mailbox_needs_a_token(daemon: DaemonFactory) -> None:
    server = daemon.start()
    claimed = server.send_json("POST", "/api/mailbox/locked/claim", {"password": PASSWORD})
    token = claimed.json()["token"]

    with socket(server, "locked") as ws:
        ws.send("hello?")  # Not a token: ignored.
        ws.send(json.dumps({"token": "not-the-token"}))
        assert close_code(ws) == 4001
    with socket(server, "locked", "?token=wrong") as ws:
        assert close_code(ws) == 4001
    with socket(server, "locked", f"?token={token}") as ws:
        assert frame(ws) == {"type": "Connected", "address": "locked@tempmail.local"}
        send(server, "locked@tempmail.local")
        assert frame(ws)["type"] == "Email"
    with socket(server, "locked") as ws:
        # Browsers cannot set headers: the token may come as the first message.
        ws.send(json.dumps({"token": token}))
        assert frame(ws)["type"] == "Connected"


def test_claiming_closes_anonymous_sockets(daemon: DaemonFactory) -> None:
    server = daemon.start()
    with socket(server, "soon-locked") as ws:
        assert frame(ws)["type"] == "Connected"
        claimed = server.send_json("POST", "/api/mailbox/soon-locked/claim", {"password": PASSWORD})
        assert claimed.status == 200
        assert close_code(ws) == 4001


def test_foreign_origin_is_refused(daemon: DaemonFactory) -> None:
    server = daemon.start(ALLOWED_ORIGINS="https://app.example.com")
    with pytest.raises(InvalidStatus) as refused:
        socket(server, "x@example.com", origin="https://evil.example")
    assert refused.value.response.status_code == 403
    with socket(server, "x@example.com", origin="https://app.example.com") as ws:
        assert frame(ws)["type"] == "Connected"
    with socket(server, "x@example.com", origin=f"http://127.0.0.1:{server.http_port}") as ws:
        assert frame(ws)["type"] == "Connected"


def test_connection_limit_refuses_cleanly(daemon: DaemonFactory) -> None:
    server = daemon.start(WS_MAX_CONNECTIONS_PER_IP="2")
    with socket(server, "a@example.com") as first, socket(server, "a@example.com") as second:
        frame(first)
        frame(second)
        with pytest.raises(InvalidStatus) as refused:
            socket(server, "a@example.com")
        assert refused.value.response.status_code == 503
    with socket(server, "a@example.com") as again:
        assert frame(again)["type"] == "Connected"


def test_two_hundred_sockets_all_get_the_event(daemon: DaemonFactory) -> None:
    server = daemon.start()
    url = f"ws://127.0.0.1:{server.http_port}/api/ws/crowd@example.com"

    async def crowd() -> list[dict[str, Any]]:
        sockets = [await connect_async(url, open_timeout=TIMEOUT) for _ in range(200)]
        try:
            for ws in sockets:
                assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["type"] == "Connected"
            await asyncio.to_thread(send, server, "crowd@example.com", "for everyone")
            return [json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)) for ws in sockets]
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets))

    frames = asyncio.run(crowd())
    assert len(frames) == 200
    assert {(f["type"], f["subject"]) for f in frames} == {("Email", "for everyone")}


def test_a_dead_peer_is_dropped_after_unanswered_pings(daemon: DaemonFactory) -> None:
    server = daemon.start(WS_PING_INTERVAL="0.5s")
    with socket_module.create_connection(("127.0.0.1", server.http_port), timeout=TIMEOUT) as raw:
        raw.sendall(
            b"GET /api/ws/dead@example.com HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        received = b""
        # Read, never answering the pings, until the server gives up on us
        # (closing or aborting the connection; a hang fails on the timeout).
        with contextlib.suppress(ConnectionResetError):
            while chunk := raw.recv(4096):
                received += chunk
    assert received.startswith(b"HTTP/1.1 101")
    # A ping frame (opcode 0x9) came before the server closed the connection.
    assert b"\x89" in received.split(b"\r\n\r\n", 1)[1]


def test_seen_set_over_imap_reaches_the_socket(daemon: DaemonFactory) -> None:
    server = daemon.start(IMAP_ENABLED="true", IMAP_PORT="0", DOMAIN_NAME="example.com")
    with socket(server, "watch@example.com") as ws:
        assert frame(ws)["type"] == "Connected"
        id = send(server, "watch@example.com")
        assert frame(ws)["type"] == "Email"
        client = imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=TIMEOUT)
        try:
            client.login("watch", "anything")
            client.select("INBOX")
            client.store("1", "+FLAGS", "(\\Seen \\Flagged)")
        finally:
            client.logout()
        flags = frame(ws)
        assert flags == {
            "type": "EmailFlags",
            "id": id,
            "address": "watch@example.com",
            "seen": True,
            "flags": ["\\Flagged"],
        }
        assert frame(ws) == {"type": "EmailRead", "id": id, "address": "watch@example.com"}
