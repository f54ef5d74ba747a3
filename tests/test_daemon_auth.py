"""
End to end: mailbox claims and locks against the real daemon.
"""

from __future__ import annotations

import base64
import smtplib
import threading

import pytest

from tests.daemon import Daemon, DaemonFactory

pytestmark = pytest.mark.daemon

PASSWORD = "s3cret-pass"
ADMIN = "operator-token-0123456789"
API_KEY = "private-key-0123456789"


def deliver(server: Daemon, address: str) -> str:
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as client:
        client.mail("a@sender.test")
        client.rcpt(address)
        code, reply = client.data(
            b"Subject: locked\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
            b"Content-Type: text/plain\r\n\r\nsecret\r\n--B\r\nContent-Type: text/csv\r\n"
            b'Content-Disposition: attachment; filename="a.csv"\r\n\r\na,b\r\n--B--\r\n'
        )
    assert code == 250
    return str(reply.decode().rsplit(" ", 1)[-1])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claim(server: Daemon, address: str) -> str:
    response = server.send_json("POST", f"/api/mailbox/{address}/claim", {"password": PASSWORD})
    assert response.status == 200, response.body
    return str(response.json()["token"])


def test_claim_locks_every_route_and_each_credential_opens_it(daemon: DaemonFactory) -> None:
    server = daemon.start()
    id = deliver(server, "bob@example.com")
    token = claim(server, "Bob@Example.com")
    basic = {
        "Authorization": "Basic "
        + base64.b64encode(f"bob@example.com:{PASSWORD}".encode()).decode()
    }
    routes = [
        ("GET", "/api/emails/bob@example.com"),
        ("GET", f"/api/email/{id}"),
        ("GET", f"/api/email/{id}/raw"),
        ("GET", f"/api/email/{id}/attachments/0"),
    ]
    for method, path in routes:
        refused = server.http(method, path)
        assert refused.status == 401, path
        assert refused.headers["WWW-Authenticate"] == 'Bearer realm="tempmail"'
        assert "error" in refused.json()
        assert server.http(method, path, headers=bearer(token)).status == 200, path
        assert server.http(method, path, headers=basic).status == 200, path
        joiner = "&" if "?" in path else "?"
        assert server.http(method, f"{path}{joiner}password={PASSWORD}").status == 200, path
    # The deletes refuse too, and then work with the token.
    assert server.http("DELETE", f"/api/email/{id}").status == 401
    assert server.http("DELETE", "/api/emails/bob@example.com").status == 401
    assert server.http("DELETE", f"/api/email/{id}", headers=bearer(token)).status == 200
    assert server.http("DELETE", "/api/emails/bob@example.com", headers=bearer(token)).status == 200


def test_wrong_passwords_then_429_and_release_reopens(daemon: DaemonFactory) -> None:
    server = daemon.start(AUTH_FAILURE_LIMIT="3")
    claim(server, "carol")
    for _ in range(3):
        wrong = server.send_json("POST", "/api/mailbox/carol/login", {"password": "wrong-pass"})
        assert wrong.status == 401
    limited = server.send_json("POST", "/api/mailbox/carol/login", {"password": PASSWORD})
    assert limited.status == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert server.http("GET", "/api/emails/carol").status == 401


def test_release_and_password_change(daemon: DaemonFactory) -> None:
    server = daemon.start()
    first = claim(server, "dave")
    changed = server.send_json(
        "POST",
        "/api/mailbox/dave/password",
        {"password": PASSWORD, "new_password": "n3w-pass-word"},
    )
    assert changed.status == 200
    assert server.http("GET", "/api/emails/dave", headers=bearer(first)).status == 401
    assert (
        server.http("GET", "/api/emails/dave", headers=bearer(changed.json()["token"])).status
        == 200
    )
    released = server.send_json("POST", "/api/mailbox/dave/release", {"password": "n3w-pass-word"})
    assert released.status == 200
    assert server.get_json("/api/mailbox/dave/status") == {
        "address": "dave@tempmail.local",
        "is_locked": False,
    }
    assert server.http("GET", "/api/emails/dave").status == 200


def test_concurrent_claims_give_one_200_and_one_409(daemon: DaemonFactory) -> None:
    server = daemon.start()

    def attempt(address: str, barrier: threading.Barrier, statuses: list[int]) -> None:
        barrier.wait(10)
        response = server.send_json("POST", f"/api/mailbox/{address}/claim", {"password": PASSWORD})
        statuses.append(response.status)

    for round in range(5):
        statuses: list[int] = []
        barrier = threading.Barrier(2)
        threads = [
            threading.Thread(target=attempt, args=(f"race{round}", barrier, statuses))
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(statuses) == [200, 409]


def test_admin_token_and_api_key(daemon: DaemonFactory) -> None:
    server = daemon.start(ADMIN_TOKEN=ADMIN, API_KEY=API_KEY)
    key = {"X-API-Key": API_KEY}
    assert server.http("GET", "/api/health").status == 200
    assert server.http("GET", "/api/emails/erin").status == 401
    assert server.http("GET", "/api/emails/erin", headers=key).status == 200
    token = server.send_json("POST", "/api/mailbox/erin/claim", {"password": PASSWORD}, key)
    assert token.status == 200
    id = deliver(server, "erin@tempmail.local")
    # The lock still applies with the key; the admin token opens it.
    assert server.http("GET", f"/api/email/{id}", headers=key).status == 401
    assert server.http("GET", f"/api/email/{id}", headers={**key, **bearer(ADMIN)}).status == 200
    listing = server.http("GET", "/api/mailboxes", headers={**key, **bearer(ADMIN)})
    assert listing.status == 200
    assert {"address": "erin@tempmail.local", "messages": 1, "is_locked": True}.items() <= (
        listing.json()["mailboxes"][0].items()
    )
    assert server.http("GET", "/api/mailboxes", headers=key).status == 401
