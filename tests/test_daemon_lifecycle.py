"""
End to end: the daemon's process life: packaging, options, configuration
errors, the .tac file, and a SIGTERM that loses no accepted mail.
"""

from __future__ import annotations

import importlib.metadata
import smtplib
import threading
from pathlib import Path

import pytest

from tempmail.config import SETTINGS
from tests.daemon import DaemonFactory

pytestmark = pytest.mark.daemon

LOAD = 200
SENDERS = 8


def test_help_lists_every_option(daemon: DaemonFactory) -> None:
    result = daemon.run("tempmail", "--help")
    assert result.returncode == 0, result.stderr
    for setting in SETTINGS:
        assert f"--{setting.option}=" in result.stdout, setting.name


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [
        ("SMTP_PORT", "smtp", "SMTP_PORT='smtp': expected a port number from 0 to 65535"),
        ("MAX_MESSAGE_SIZE", "lots", "MAX_MESSAGE_SIZE='lots': expected a size"),
        (
            "DATABASE_URL",
            "postgres:db/mail",
            "DATABASE_URL='postgres:db/mail': expected postgresql://",
        ),
        ("EMAIL_RETENTION_HOURS", "0", "EMAIL_RETENTION_HOURS='0': expected a number greater"),
        ("EMAIL_RETENTION_HOURS", "-2", "EMAIL_RETENTION_HOURS='-2': expected a number greater"),
        ("RUST_LOG", "chatty", "RUST_LOG='chatty': expected one of"),
    ],
)
def test_a_bad_setting_stops_startup_with_one_line(
    daemon: DaemonFactory, setting: str, value: str, expected: str
) -> None:
    result = daemon.run("-n", "--pidfile=", "tempmail", **{setting: value})
    assert result.returncode == 1
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("tempmail: " + expected)


def test_options_win_over_environment_which_wins_over_dotenv(daemon: DaemonFactory) -> None:
    (daemon.workdir / ".env").write_text("DOMAIN_NAME=from-dotenv.test\nMAX_RECIPIENTS=1\n")
    server = daemon.start(
        "-n", "--pidfile=", "tempmail", "--domain-name=from-option.test", DOMAIN_NAME="env.test"
    )
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as client:
        code, _ = client.ehlo()
        assert code == 250
        assert client.ehlo_resp is not None
        assert client.ehlo_resp.startswith(b"from-option.test")
        client.mail("a@b.test")
        assert client.rcpt("one")[0] == 250
        # MAX_RECIPIENTS=1 came from .env, as nothing stronger set it.
        assert client.rcpt("two")[0] == 452


def test_tac_file_runs_the_same_service(daemon: DaemonFactory) -> None:
    tac = Path(__file__).resolve().parent.parent / "tempmail.tac"
    server = daemon.start("-n", "--pidfile=", "-y", str(tac))
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as client:
        client.sendmail("a@b.test", ["tac@example.com"], b"Subject: via tac\r\n\r\nhi\r\n")
    assert server.get_json("/api/emails/tac@example.com")["total"] == 1


def test_plugin_file_is_installed_with_the_package() -> None:
    try:
        files = importlib.metadata.files("tempmail") or []
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("tempmail is not installed: run the README's test command")
    assert any(
        str(f).replace("\\", "/").endswith("twisted/plugins/tempmail_plugin.py") for f in files
    )


def test_sigterm_under_load_loses_no_accepted_message(daemon: DaemonFactory) -> None:
    """
    Eight senders push 200 messages; SIGTERM arrives mid-load.  Every
    message that got a 250 must be there after a restart on the same file.
    """
    server = daemon.start()
    accepted: list[str] = []
    lock = threading.Lock()
    quarter_done = threading.Event()

    def sender(worker: int) -> None:
        for n in range(worker, LOAD, SENDERS):
            try:
                with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as client:
                    client.mail("load@sender.test")
                    client.rcpt(f"load{worker}@example.com")
                    code, reply = client.data(f"Subject: load {n}\r\n\r\n{'x' * 2000}\r\n".encode())
            except (OSError, smtplib.SMTPException):
                continue
            if code == 250:
                with lock:
                    accepted.append(reply.decode().rsplit(" ", 1)[-1])
                    if len(accepted) >= LOAD // 4:
                        quarter_done.set()

    threads = [threading.Thread(target=sender, args=(w,)) for w in range(SENDERS)]
    for thread in threads:
        thread.start()
    assert quarter_done.wait(60), "the load never got going"
    assert server.terminate() == 0
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive()

    assert LOAD // 4 <= len(accepted) < LOAD
    restarted = daemon.start()
    missing = [
        id for id in accepted if restarted.http("GET", f"/api/email/{id}?peek=true").status != 200
    ]
    assert missing == []


def test_a_port_in_use_stops_startup_with_a_clear_error(daemon: DaemonFactory) -> None:
    first = daemon.start()
    result = daemon.run("-n", "--pidfile=", "tempmail", SMTP_PORT=str(first.smtp_port))
    assert result.returncode == 1
    assert f"tempmail: cannot listen for smtp: Couldn't listen on 127.0.0.1:{first.smtp_port}" in (
        result.stdout + result.stderr
    )
