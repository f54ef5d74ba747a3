"""
A self-signed certificate for trying TLS in one step: C{SMTP_SSL_SELF_SIGNED}
and the C{tempmail-gencert} command.

The certificate is made with C{cryptography} (an ECDSA P-256 key, one year,
the domain as its subject alternative name).  Clients do not trust it, so
it is for development and tests; production uses a CA's certificate (see
C{docs/LETSENCRYPT_SETUP.md}).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tempmail.tls import CertificateError, load_certificate

CERT_NAME = "selfsigned.crt"
KEY_NAME = "selfsigned.key"
LIFETIME = timedelta(days=365)


def make_self_signed(domain: str, directory: Path, now: datetime) -> tuple[Path, Path]:
    """
    Write a self-signed certificate and key for C{domain} into C{directory}
    (made if needed, the key readable by its owner only), unless a usable
    pair is already there.

    @return: the certificate's and the key's paths.
    """
    cert_path, key_path = directory / CERT_NAME, directory / KEY_NAME
    try:
        load_certificate(cert_path, key_path, now)
        return cert_path, key_path
    except CertificateError:
        pass
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + LIFETIME)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as key_file:
        key_file.write(key_bytes)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def main(argv: list[str] | None = None) -> int:
    """
    C{tempmail-gencert DOMAIN [DIRECTORY]}: write a self-signed pair and
    print the two settings that use it.
    """
    parser = argparse.ArgumentParser(
        prog="tempmail-gencert", description="Make a self-signed certificate for tempmail."
    )
    parser.add_argument("domain", help="the domain (DOMAIN_NAME)")
    parser.add_argument("directory", nargs="?", default="tls", help="where to write (./tls)")
    arguments = parser.parse_args(argv)
    cert_path, key_path = make_self_signed(
        arguments.domain, Path(arguments.directory), datetime.now(UTC)
    )
    sys.stdout.write(
        f"SMTP_SSL_CERT_PATH={cert_path.resolve()}\nSMTP_SSL_KEY_PATH={key_path.resolve()}\n"
    )
    return 0
