"""
End to end: behind a trusted reverse proxy, the failure limiter and the
WebSocket cap key by the forwarded client; from anyone else, a forwarding
header is ignored.
"""

from __future__ import annotations

import pytest
from websockets.exceptions import InvalidStatus

from tests.daemon import Daemon, DaemonFactory
from tests.test_daemon_websocket import frame, socket

pytestmark = pytest.mark.daemon

PASSWORD = "s3cret-pass"


def claim(server: Daemon, *mailboxes: str) -> None:
    for mailbox in mailboxes:
        response = server.send_json("POST", f"/api/mailbox/{mailbox}/claim", {"password": PASSWORD})
        assert response.status == 200, response.body


def wrong_login(server: Daemon, mailbox: str, forwarded_for: str) -> int:
    return server.send_json(
        "POST",
        f"/api/mailbox/{mailbox}/login",
        {"password": "wrong-pass"},
        {"X-Forwarded-For": forwarded_for},
    ).status


def test_a_spoofed_header_from_an_untrusted_peer_is_ignored(daemon: DaemonFactory) -> None:
    server = daemon.start(AUTH_FAILURE_LIMIT="2", WS_MAX_CONNECTIONS_PER_IP="1")
    claim(server, "one", "two")
    assert wrong_login(server, "one", "198.51.100.1") == 401
    assert wrong_login(server, "one", "198.51.100.2") == 401
    # Another mailbox, another claimed address: still this peer's failures.
    assert wrong_login(server, "two", "198.51.100.3") == 429
    with socket(server, "x", additional_headers={"X-Forwarded-For": "198.51.100.4"}) as ws:
        frame(ws)
        with pytest.raises(InvalidStatus) as refused:
            socket(server, "x", additional_headers={"X-Forwarded-For": "198.51.100.5"})
        assert refused.value.response.status_code == 503


def test_behind_a_trusted_proxy_each_client_is_counted_apart(daemon: DaemonFactory) -> None:
    server = daemon.start(
        AUTH_FAILURE_LIMIT="2", WS_MAX_CONNECTIONS_PER_IP="1", TRUSTED_PROXIES="127.0.0.0/8"
    )
    claim(server, "one", "two", "three")
    assert wrong_login(server, "one", "198.51.100.1") == 401
    assert wrong_login(server, "one", "198.51.100.1") == 401
    # A different client is not blocked by the first one's failures...
    assert wrong_login(server, "two", "198.51.100.2") == 401
    # ...but the first one is, even when it prepends a made-up address.
    assert wrong_login(server, "three", "203.0.113.9, 198.51.100.1") == 429
    first = socket(server, "x", additional_headers={"X-Forwarded-For": "198.51.100.4"})
    second = socket(server, "x", additional_headers={"Forwarded": "for=198.51.100.5"})
    with first, second:
        frame(first)
        frame(second)
        with pytest.raises(InvalidStatus) as refused:
            socket(server, "x", additional_headers={"X-Forwarded-For": "198.51.100.4"})
        assert refused.value.response.status_code == 503


def test_the_origin_check_accepts_the_host_the_proxy_was_asked_for(
    daemon: DaemonFactory,
) -> None:
    server = daemon.start(TRUSTED_PROXIES="127.0.0.1")
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "mail.example.com"}
    with socket(
        server,
        "x",
        origin="https://mail.example.com",
        additional_headers={"X-Forwarded-For": "198.51.100.4", **proxied},
    ) as ws:
        assert frame(ws)["type"] == "Connected"
    with pytest.raises(InvalidStatus) as refused:
        socket(
            server,
            "x",
            origin="http://mail.example.com",
            additional_headers={"X-Forwarded-For": "198.51.100.4", **proxied},
        )
    assert refused.value.response.status_code == 403
