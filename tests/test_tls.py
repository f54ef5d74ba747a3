"""
Unit tests of L{tempmail.tls} and L{tempmail.gencert}: checking a
certificate pair, reloading it on a L{Clock}, and the self-signed pair.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from OpenSSL import SSL
from twisted.internet.task import Clock

from tempmail.gencert import main, make_self_signed
from tempmail.tls import (
    CertificateError,
    CertificateReloader,
    ReloadingContextFactory,
    load_certificate,
)
from tests.conftest import LoggedErrors

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def write_pair(ca: trustme.CA, directory: Path, **dates: datetime) -> tuple[Path, Path, int]:
    leaf = ca.issue_cert("tmp.test", **dates)  # type: ignore[arg-type]
    cert, key = directory / "fullchain.pem", directory / "privkey.pem"
    staged = directory / "staged.pem"
    staged.write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
    os.replace(staged, cert)
    staged.write_bytes(leaf.private_key_pem.bytes())
    os.replace(staged, key)
    return cert, key, load_certificate(cert, key, datetime.now(UTC)).serial


def test_load_checks_the_pair(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert, key, _ = write_pair(ca, tmp_path)
    loaded = load_certificate(cert, key, datetime.now(UTC))
    context = loaded.options.getContext()
    assert isinstance(context, SSL.Context)

    with pytest.raises(CertificateError, match=r"^SMTP_SSL_CERT_PATH=.*: cannot be read"):
        load_certificate(tmp_path / "missing.pem", key, NOW)
    with pytest.raises(CertificateError, match=r"^SMTP_SSL_CERT_PATH=.*: no PEM certificate"):
        load_certificate(key, key, NOW)
    with pytest.raises(CertificateError, match=r"^SMTP_SSL_KEY_PATH=.*: not an unencrypted PEM"):
        load_certificate(cert, cert, NOW)
    other = tmp_path / "other.key"
    other.write_bytes(ca.issue_cert("tmp.test").private_key_pem.bytes())
    with pytest.raises(CertificateError, match=r"^SMTP_SSL_KEY_PATH=.*: the key does not match"):
        load_certificate(cert, other, NOW)
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    cert, key, _ = write_pair(ca, tmp_path, not_after=tomorrow)
    with pytest.raises(CertificateError, match=r"^SMTP_SSL_CERT_PATH=.*: the certificate expired"):
        load_certificate(cert, key, tomorrow + timedelta(days=1))


def test_reload_on_the_interval_and_keep_the_old_on_a_bad_pair(
    tmp_path: Path, logged_errors: LoggedErrors
) -> None:
    ca = trustme.CA()
    cert, key, first = write_pair(ca, tmp_path)
    clock = Clock()
    clock.advance(datetime.now(UTC).timestamp())
    factory = ReloadingContextFactory(cert, key, clock)
    reloader = CertificateReloader(factory, 300, clock)
    reloader.startService()
    try:
        assert factory.current.serial == first
        first_context = factory.getContext()
        _, _, second = write_pair(ca, tmp_path)
        clock.advance(300)
        assert factory.current.serial == second
        assert factory.getContext() is not first_context
        # Unchanged files are not read again.
        assert not factory.reload()

        key.write_bytes(ca.issue_cert("tmp.test").private_key_pem.bytes())
        clock.advance(300)
        assert factory.current.serial == second
        [error] = logged_errors.take()
        assert "TLS certificate not reloaded" in error
    finally:
        reloader.stopService()


def test_self_signed_pair_is_made_once(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    cert, key = make_self_signed("tmp.test", tmp_path / "tls", now)
    assert key.stat().st_mode & 0o077 == 0
    serial = load_certificate(cert, key, now).serial
    assert make_self_signed("tmp.test", tmp_path / "tls", now) == (cert, key)
    assert load_certificate(cert, key, now).serial == serial


def test_gencert_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tmp.test", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        f"SMTP_SSL_CERT_PATH={tmp_path / 'selfsigned.crt'}",
        f"SMTP_SSL_KEY_PATH={tmp_path / 'selfsigned.key'}",
    ]
