"""
End to end: C{/metrics} on the real daemon, behind C{METRICS_TOKEN} or on
its own C{METRICS_PORT}.
"""

from __future__ import annotations

import imaplib
import smtplib
import urllib.request

import pytest

from tests.daemon import DaemonFactory
from tests.test_daemon_websocket import frame, socket

pytestmark = pytest.mark.daemon

TOKEN = "scrape-token-0123456789"


def samples(text: str) -> dict[str, float]:
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, number = line.rpartition(" ")
            found[name] = float(number)
    return found


def test_metrics_need_the_token_and_count_mail(daemon: DaemonFactory) -> None:
    server = daemon.start(
        METRICS_TOKEN=TOKEN,
        MAX_MESSAGE_SIZE="1K",
        DOMAIN_NAME="example.com",
        REJECT_NON_DOMAIN_EMAILS="true",
    )
    refused = server.http("GET", "/metrics")
    assert refused.status == 401
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="tempmail metrics"'
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as client:
        client.sendmail("a@example.com", ["hidden-name@example.com", "b@example.com"], b"Hi\r\n")
        with pytest.raises(smtplib.SMTPSenderRefused):  # SIZE= says it at MAIL
            client.sendmail("a@example.com", ["b@example.com"], b"x" * 2048)
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail("a@example.com", ["c@elsewhere.test"], b"Hi\r\n")
        scraped = server.http("GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert scraped.status == 200
    assert scraped.headers["Content-Type"].startswith("text/plain; version=")
    text = scraped.body.decode()
    values = samples(text)
    assert values["tempmail_messages_stored_total"] == 1
    assert values["tempmail_smtp_messages_received_total"] == 1
    assert values["tempmail_smtp_sessions_total"] == 1
    assert values['tempmail_smtp_refused_total{reason="5.3.4"}'] == 1
    assert values['tempmail_smtp_refused_total{reason="5.1.1"}'] == 1
    assert values['tempmail_sessions{protocol="smtp"}'] == 1
    assert values['tempmail_store_operation_seconds_count{operation="deliver"}'] == 1
    assert values["process_resident_memory_bytes"] > 0
    assert (values["tempmail_mailboxes"], values["tempmail_messages"]) == (2, 2)
    assert values["tempmail_database_bytes"] > 0
    assert values["tempmail_webhook_queue_depth"] == 0
    assert values["tempmail_webhook_queue_oldest_seconds"] == 0
    assert "hidden-name" not in text
    assert "elsewhere" not in text


def test_metrics_port_serves_them_alone(daemon: DaemonFactory) -> None:
    server = daemon.start(METRICS_PORT="0", IMAP_ENABLED="true", IMAP_PORT="0")
    assert server.http("GET", "/metrics").status == 404
    port = server.ports["metrics"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        assert response.status == 200
        assert samples(response.read().decode())["tempmail_messages_stored_total"] == 0
    # The IMAP client has had the greeting, the WebSocket its first frame:
    # both sessions are open.
    with (
        imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=30),
        socket(server, "watcher") as ws,
    ):
        assert frame(ws)["type"] == "Connected"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
            values = samples(response.read().decode())
    assert values['tempmail_sessions{protocol="imap"}'] == 1
    assert values['tempmail_sessions{protocol="websocket"}'] == 1
    assert values['tempmail_sessions{protocol="mcp"}'] == 0
    assert server.get_json("/readyz") == {"status": "ok"}
