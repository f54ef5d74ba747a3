"""
TLS end to end: SMTP (STARTTLS on both ports, SMTPS) and IMAP (STARTTLS,
IMAPS) against the real daemon, with a throwaway CA from C{trustme} and
certificate verification on; the STARTTLS injection fix on raw sockets;
reloading a renewed certificate; startup errors; Debian's C{openssl
s_client} and C{swaks}.
"""

from __future__ import annotations

import imaplib
import os
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from cryptography import x509

from tempmail.launcher import DAEMON_ARGS
from tests.daemon import Daemon, DaemonFactory

pytestmark = pytest.mark.daemon

DOMAIN = "tempmail.local"
MESSAGE = b"From: a@sender.test\r\nTo: bob@tempmail.local\r\nSubject: tls\r\n\r\nhello\r\n"


@dataclass
class Certificates:
    """
    A test CA, the server's certificate files, and a client context that
    trusts the CA and checks host names.
    """

    ca: trustme.CA
    directory: Path
    cert_path: Path
    key_path: Path
    client: ssl.SSLContext

    def issue(self, not_before: datetime | None = None, not_after: datetime | None = None) -> int:
        """
        Write a new certificate for the daemon's files; return its serial.
        """
        leaf = self.ca.issue_cert(DOMAIN, "127.0.0.1", not_before=not_before, not_after=not_after)
        # Replace, as certbot does, so a reader never sees half a file.
        staged_cert, staged_key = self.directory / "new.crt", self.directory / "new.key"
        staged_cert.write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
        staged_key.write_bytes(leaf.private_key_pem.bytes())
        os.replace(staged_key, self.key_path)
        os.replace(staged_cert, self.cert_path)
        return x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).serial_number

    def settings(self, **more: str) -> dict[str, str]:
        return {
            "DOMAIN_NAME": DOMAIN,
            "SMTP_SSL_ENABLED": "true",
            "SMTP_SSL_CERT_PATH": str(self.cert_path),
            "SMTP_SSL_KEY_PATH": str(self.key_path),
            "SMTP_STARTTLS_PORT": "0",
            "SMTP_SSL_PORT": "0",
            "IMAP_ENABLED": "true",
            "IMAP_PORT": "0",
            "IMAP_SSL_PORT": "0",
            **more,
        }


@pytest.fixture
def certificates(tmp_path: Path) -> Iterator[Certificates]:
    ca = trustme.CA()
    client = ssl.create_default_context()
    ca.configure_trust(client)
    directory = tmp_path / "certs"
    directory.mkdir()
    ca_path = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    found = Certificates(
        ca, directory, directory / "fullchain.pem", directory / "privkey.pem", client
    )
    found.issue()
    yield found


@pytest.fixture
def server(daemon: DaemonFactory, certificates: Certificates) -> Daemon:
    return daemon.start(**certificates.settings())


def serial_of(sock: ssl.SSLSocket) -> int:
    der = sock.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def read_line(sock: socket.socket | ssl.SSLSocket) -> bytes:
    """
    Read one CRLF line, a byte at a time, so nothing after it is consumed.
    """
    line = b""
    while not line.endswith(b"\r\n"):
        byte = sock.recv(1)
        assert byte, f"connection closed after {line!r}"
        line += byte
    return line[:-2]


def read_reply(sock: socket.socket | ssl.SSLSocket) -> bytes:
    """
    The last line of one SMTP reply.
    """
    while True:
        line = read_line(sock)
        if line[3:4] == b" ":
            return line


def only_message(server: Daemon) -> dict:
    [entry] = server.get_json("/api/emails/bob@tempmail.local")["emails"]
    return server.get_json(f"/api/email/{entry['id']}")


# SMTP


def test_starttls_with_verification_stores_tls(server: Daemon, certificates: Certificates) -> None:
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        client.starttls(context=certificates.client)
        client.ehlo()
        assert not client.has_extn("starttls")
        client.sendmail("a@sender.test", ["bob@tempmail.local"], MESSAGE)
    message = only_message(server)
    assert message["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
    assert message["tls"]["cipher"]
    assert message["headers"]["Received"][0].startswith("from ")
    assert "with ESMTPS" in message["headers"]["Received"][0]


def test_plain_smtp_has_no_tls(server: Daemon) -> None:
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as client:
        client.sendmail("a@sender.test", ["bob@tempmail.local"], MESSAGE)
    assert only_message(server)["tls"] is None


def test_submission_port_requires_starttls(server: Daemon, certificates: Certificates) -> None:
    with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=30) as client:
        client.ehlo()
        assert client.mail("a@sender.test") == (
            530,
            b"5.7.0 Must issue a STARTTLS command first",
        )
        client.starttls(context=certificates.client)
        client.sendmail("a@sender.test", ["bob@tempmail.local"], MESSAGE)
    assert only_message(server)["tls"] is not None


def test_smtps_speaks_tls_from_the_first_byte(server: Daemon, certificates: Certificates) -> None:
    with smtplib.SMTP_SSL(
        "127.0.0.1", server.ports["smtps"], context=certificates.client, timeout=30
    ) as client:
        client.ehlo()
        assert not client.has_extn("starttls")
        client.sendmail("a@sender.test", ["bob@tempmail.local"], MESSAGE)
    assert only_message(server)["tls"] is not None


def test_smtp_starttls_injection_is_discarded(server: Daemon, certificates: Certificates) -> None:
    """
    C{STARTTLS} and C{RSET} in one packet: RSET is never answered, neither
    in plain text nor inside TLS; the first reply inside TLS is our NOOP's.
    """
    with socket.create_connection(("127.0.0.1", server.smtp_port), timeout=30) as raw:
        read_reply(raw)
        raw.sendall(b"EHLO client.example\r\n")
        read_reply(raw)
        raw.sendall(b"STARTTLS\r\nRSET\r\n")
        assert read_line(raw).startswith(b"220 ")
        with certificates.client.wrap_socket(raw, server_hostname=DOMAIN) as tls:
            tls.sendall(b"NOOP\r\n")
            assert read_reply(tls) == b"250 2.0.0 OK"
            tls.sendall(b"QUIT\r\n")
            assert read_reply(tls).startswith(b"221")


# The old versions are deprecated in the ssl module: that is the point here.
@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
def test_only_tls_1_2_and_up_with_aead_ciphers(server: Daemon, certificates: Certificates) -> None:
    tls12 = ssl.create_default_context(cafile=str(certificates.directory / "ca.pem"))
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    raw = socket.create_connection(("127.0.0.1", server.ports["smtps"]), timeout=30)
    with tls12.wrap_socket(raw, server_hostname=DOMAIN) as sock:
        assert sock.version() == "TLSv1.2"
        cipher = sock.cipher()
        assert cipher is not None and cipher[0].startswith("ECDHE-")
        assert "GCM" in cipher[0] or "CHACHA20" in cipher[0]
    # A client that offers only TLS 1.0 and 1.1, its own security level
    # lowered: the server's protocol_version alert refuses it.
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    raw = socket.create_connection(("127.0.0.1", server.ports["smtps"]), timeout=30)
    with raw, pytest.raises(ssl.SSLError, match="ALERT_PROTOCOL_VERSION"):
        old.wrap_socket(raw, server_hostname=DOMAIN)


# IMAP


def test_imap_starttls_and_logindisabled(server: Daemon, certificates: Certificates) -> None:
    client = imaplib.IMAP4("127.0.0.1", server.ports["imap"])
    try:
        assert "LOGINDISABLED" in client.capabilities
        assert "STARTTLS" in client.capabilities
        assert not any(c.startswith("AUTH=") for c in client.capabilities)
        with pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED"):
            client.login("bob", "anything")
        client.starttls(ssl_context=certificates.client)
        assert "LOGINDISABLED" not in client.capabilities
        assert "AUTH=PLAIN" in client.capabilities
        assert client.login("bob", "anything")[0] == "OK"
        assert client.select("INBOX")[0] == "OK"
    finally:
        client.logout()


def test_imaps_offers_auth_plain(server: Daemon, certificates: Certificates) -> None:
    client = imaplib.IMAP4_SSL("127.0.0.1", server.ports["imaps"], ssl_context=certificates.client)
    try:
        assert "AUTH=PLAIN" in client.capabilities
        assert "STARTTLS" not in client.capabilities
        assert client.login("bob", "anything")[0] == "OK"
    finally:
        client.logout()


def test_imap_plaintext_auth_can_be_allowed(
    daemon: DaemonFactory, certificates: Certificates
) -> None:
    server = daemon.start(**certificates.settings(IMAP_ALLOW_PLAINTEXT_AUTH="true"))
    client = imaplib.IMAP4("127.0.0.1", server.ports["imap"])
    try:
        assert "STARTTLS" in client.capabilities
        assert "LOGINDISABLED" not in client.capabilities
        assert client.login("bob", "anything")[0] == "OK"
    finally:
        client.logout()


def test_imap_starttls_injection_is_discarded(server: Daemon, certificates: Certificates) -> None:
    with socket.create_connection(("127.0.0.1", server.ports["imap"]), timeout=30) as raw:
        assert read_line(raw).startswith(b"* OK")
        raw.sendall(b"a STARTTLS\r\nb LOGIN bob anything\r\n")
        assert read_line(raw).startswith(b"a OK")
        with certificates.client.wrap_socket(raw, server_hostname=DOMAIN) as tls:
            tls.sendall(b"c NOOP\r\n")
            assert read_line(tls).startswith(b"c OK")
            # Not logged in: the pipelined LOGIN never ran.
            tls.sendall(b"d SELECT INBOX\r\n")
            assert read_line(tls).startswith(b"d BAD")


# Reloading


def test_renewed_certificate_is_used_by_new_connections(
    server: Daemon, certificates: Certificates
) -> None:
    """
    The files are replaced and SIGHUP sent: a new connection gets the new
    serial, while a session opened before keeps working on the old one.
    """
    old_session = certificates.client.wrap_socket(
        socket.create_connection(("127.0.0.1", server.ports["smtps"]), timeout=30),
        server_hostname=DOMAIN,
    )
    with old_session:
        read_reply(old_session)
        old_serial = serial_of(old_session)
        new_serial = certificates.issue()
        assert new_serial != old_serial
        server.process.send_signal(signal.SIGHUP)
        server.wait_for_log(format(new_serial, "x"))
        with smtplib.SMTP_SSL(
            "127.0.0.1", server.ports["smtps"], context=certificates.client, timeout=30
        ) as client:
            assert isinstance(client.sock, ssl.SSLSocket)
            assert serial_of(client.sock) == new_serial
        with imaplib.IMAP4("127.0.0.1", server.ports["imap"]) as imap:
            imap.starttls(ssl_context=certificates.client)
            assert isinstance(imap.sock, ssl.SSLSocket)
            assert serial_of(imap.sock) == new_serial
        old_session.sendall(b"NOOP\r\n")
        assert read_reply(old_session) == b"250 2.0.0 OK"


def test_bad_renewal_keeps_the_old_certificate(server: Daemon, certificates: Certificates) -> None:
    with smtplib.SMTP_SSL(
        "127.0.0.1", server.ports["smtps"], context=certificates.client, timeout=30
    ) as client:
        assert isinstance(client.sock, ssl.SSLSocket)
        serial = serial_of(client.sock)
    # A key that belongs to another certificate.
    other = certificates.ca.issue_cert(DOMAIN)
    certificates.key_path.write_bytes(other.private_key_pem.bytes())
    server.process.send_signal(signal.SIGHUP)
    server.wait_for_log("TLS certificate not reloaded")
    with smtplib.SMTP_SSL(
        "127.0.0.1", server.ports["smtps"], context=certificates.client, timeout=30
    ) as client:
        assert isinstance(client.sock, ssl.SSLSocket)
        assert serial_of(client.sock) == serial


# Startup errors


def test_bad_certificate_files_stop_startup(
    daemon: DaemonFactory, certificates: Certificates
) -> None:
    settings = certificates.settings()
    other = certificates.ca.issue_cert(DOMAIN)
    wrong_key = certificates.directory / "wrong.key"
    wrong_key.write_bytes(other.private_key_pem.bytes())
    done = daemon.run(*DAEMON_ARGS, **{**settings, "SMTP_SSL_KEY_PATH": str(wrong_key)})
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"tempmail: SMTP_SSL_KEY_PATH={wrong_key}: the key does not match the certificate "
        f"in {certificates.cert_path}"
    )

    yesterday = datetime.now(UTC) - timedelta(days=1)
    certificates.issue(not_before=yesterday - timedelta(days=30), not_after=yesterday)
    done = daemon.run(*DAEMON_ARGS, **settings)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"tempmail: SMTP_SSL_CERT_PATH={certificates.cert_path}: ")
    assert "the certificate expired on" in last

    missing = str(certificates.directory / "none")
    done = daemon.run(*DAEMON_ARGS, **{**settings, "SMTP_SSL_CERT_PATH": missing})
    assert done.returncode == 1
    assert "SMTP_SSL_CERT_PATH=" in done.stderr.strip().splitlines()[-1]
    assert "expected a readable PEM file" in done.stderr


def test_self_signed_certificate_in_one_step(daemon: DaemonFactory, tmp_path: Path) -> None:
    server = daemon.start(
        DOMAIN_NAME=DOMAIN,
        SMTP_SSL_ENABLED="true",
        SMTP_SSL_SELF_SIGNED="true",
        SMTP_STARTTLS_PORT="0",
        SMTP_SSL_PORT="0",
    )
    made = tmp_path / "tls" / "selfsigned.crt"
    trusting = ssl.create_default_context(cafile=str(made))
    raw = socket.create_connection(("127.0.0.1", server.ports["smtps"]), timeout=30)
    with trusting.wrap_socket(raw, server_hostname=DOMAIN) as tls:
        assert read_reply(tls).startswith(b"220 tempmail.local ESMTP")
    assert (tmp_path / "tls" / "selfsigned.key").stat().st_mode & 0o077 == 0


# Real clients


@pytest.mark.parametrize(("protocol", "port_name"), [("smtp", "smtp"), ("imap", "imap")])
def test_openssl_s_client_starttls(
    server: Daemon, certificates: Certificates, protocol: str, port_name: str
) -> None:
    done = subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"127.0.0.1:{server.ports[port_name]}",
            "-starttls",
            protocol,
            "-CAfile",
            str(certificates.directory / "ca.pem"),
            "-verify_hostname",
            DOMAIN,
            "-verify_return_error",
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Verify return code: 0 (ok)" in done.stdout
    assert "New, TLSv1.3, Cipher is TLS_" in done.stdout


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed")
def test_swaks_tls(server: Daemon, certificates: Certificates) -> None:
    done = subprocess.run(
        [
            "swaks",
            "--server",
            "127.0.0.1",
            "--port",
            str(server.smtp_port),
            "--tls",
            "--tls-verify",
            "--tls-ca-path",
            str(certificates.directory / "ca.pem"),
            "--from",
            "a@sender.test",
            "--to",
            "bob@tempmail.local",
            "--helo",
            "client.example",
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert only_message(server)["tls"] is not None
