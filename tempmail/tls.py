"""
TLS for the mail listeners: certificates read from PEM files, and a
context factory whose certificate can be swapped while the daemon runs.

L{load_certificate} reads a chain and its key with C{cryptography} and
checks them (readable, matching, not expired); it never runs crypto of its
own: the TLS itself is pyOpenSSL's, through Twisted's L{CertificateOptions}
(TLS 1.2 and 1.3 only, forward-secret AEAD ciphers only).

L{ReloadingContextFactory} is what every TLS listener and every STARTTLS
is given.  Twisted asks it for an OpenSSL context once per connection, so
after L{ReloadingContextFactory.reload} has installed a renewed certificate
the next connection uses it, while open sessions keep theirs, and no
listener is restarted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from twisted.application.internet import TimerService
from twisted.internet.interfaces import IOpenSSLContextFactory
from twisted.internet.ssl import AcceptableCiphers, CertificateOptions, TLSVersion
from twisted.logger import Logger
from zope.interface import implementer

log = Logger()

CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"
"""
The TLS 1.2 cipher suites offered (OpenSSL's syntax): ephemeral ECDH with
an AEAD cipher.  TLS 1.3 has only such suites, and OpenSSL's defaults.
"""


class CertificateError(Exception):
    """
    A certificate or key cannot be used.  The message is one line that names
    the setting (C{SMTP_SSL_CERT_PATH} or C{SMTP_SSL_KEY_PATH}) and the problem.
    """


@dataclass(frozen=True)
class Certificate:
    """
    A checked certificate chain and its key.

    @ivar serial: the leaf certificate's serial number.
    @ivar not_after: when the leaf certificate expires.
    @ivar options: the Twisted TLS options serving it.
    """

    serial: int
    not_after: datetime
    options: CertificateOptions


def _read(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise CertificateError(f"{setting}={path}: cannot be read ({e.strerror})") from None


def load_certificate(cert_path: Path, key_path: Path, now: datetime) -> Certificate:
    """
    Read and check a PEM certificate chain (leaf first, as certbot's
    C{fullchain.pem}) and its PEM private key.

    @param now: the time the leaf must be valid at.
    @raise CertificateError: if a file is missing or unreadable, is not
        PEM, the key does not match the leaf, or the leaf has expired.
    """
    cert_setting, key_setting = "SMTP_SSL_CERT_PATH", "SMTP_SSL_KEY_PATH"
    try:
        chain = x509.load_pem_x509_certificates(_read(cert_path, cert_setting))
    except ValueError:
        raise CertificateError(f"{cert_setting}={cert_path}: no PEM certificate in it") from None
    try:
        key = serialization.load_pem_private_key(_read(key_path, key_setting), password=None)
    except (ValueError, TypeError) as e:
        raise CertificateError(
            f"{key_setting}={key_path}: not an unencrypted PEM private key ({e})"
        ) from None
    leaf = chain[0]
    public_format = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if key.public_key().public_bytes(*public_format) != leaf.public_key().public_bytes(
        *public_format
    ):
        raise CertificateError(
            f"{key_setting}={key_path}: the key does not match the certificate in {cert_path}"
        )
    if leaf.not_valid_after_utc <= now:
        raise CertificateError(
            f"{cert_setting}={cert_path}: the certificate expired on "
            f"{leaf.not_valid_after_utc.isoformat()}"
        )
    # pyOpenSSL takes cryptography's objects as they are (its own wrappers
    # are deprecated); Twisted hands them on untouched.
    options = CertificateOptions(
        privateKey=key,  # type: ignore[arg-type]
        certificate=leaf,  # type: ignore[arg-type]
        extraCertChain=chain[1:],  # type: ignore[arg-type]
        raiseMinimumTo=TLSVersion.TLSv1_2,
        acceptableCiphers=AcceptableCiphers.fromOpenSSLCipherString(CIPHERS),
    )
    return Certificate(leaf.serial_number, leaf.not_valid_after_utc, options)


def _stamp(path: Path) -> tuple[int, int, int]:
    """
    What changes when a file is replaced or rewritten: its inode, size and
    modification time.  Certbot replaces the symbolic links in C{live/}.
    """
    try:
        info = path.stat()
    except OSError:
        return (0, 0, 0)
    return (info.st_ino, info.st_size, info.st_mtime_ns)


@implementer(IOpenSSLContextFactory)
class ReloadingContextFactory:
    """
    An OpenSSL context factory (Twisted's old-style C{getContext}) for one
    certificate pair, which L{reload} replaces when the files change.

    @ivar cert_path: the PEM certificate chain.
    @ivar key_path: the PEM private key.
    @ivar current: the certificate served to new connections.
    """

    def __init__(self, cert_path: Path, key_path: Path, clock: Any) -> None:
        """
        Load the pair.

        @param clock: gives the time certificates must be valid at
            (C{seconds()}).
        @raise CertificateError: if the pair cannot be used.
        """
        self.cert_path = cert_path
        self.key_path = key_path
        self._clock = clock
        self._stamps = self._files()
        self.current = load_certificate(cert_path, key_path, self._now())

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.seconds(), UTC)

    def _files(self) -> tuple[tuple[int, int, int], ...]:
        return (_stamp(self.cert_path), _stamp(self.key_path))

    def getContext(self) -> Any:
        """
        The OpenSSL context for a new connection: the current certificate's.
        """
        return self.current.options.getContext()

    def reload(self) -> bool:
        """
        Load the files again if they changed.  A pair that cannot be used is
        logged as an error and the certificate in use is kept.

        @return: whether a new certificate is now in use.
        """
        stamps = self._files()
        if stamps == self._stamps:
            return False
        self._stamps = stamps
        try:
            renewed = load_certificate(self.cert_path, self.key_path, self._now())
        except CertificateError as e:
            log.error(
                "TLS certificate not reloaded, serial {serial} stays in use: {problem}",
                serial=format(self.current.serial, "x"),
                problem=str(e),
            )
            return False
        self.current = renewed
        log.info(
            "TLS certificate reloaded: serial {serial}, valid until {not_after}",
            serial=format(renewed.serial, "x"),
            not_after=renewed.not_after.isoformat(),
        )
        return True


class CertificateReloader(TimerService):
    """
    Checks a L{ReloadingContextFactory}'s files every C{interval} seconds,
    the first time at startup.  Its name is C{tls-reload}.

    @ivar factory: the context factory it reloads.
    """

    def __init__(self, factory: ReloadingContextFactory, interval: float, clock: Any) -> None:
        super().__init__(interval, factory.reload)
        self.factory = factory
        self.clock = clock
        self.setName("tls-reload")


def tls_description(connection: Any) -> str | None:
    """
    The protocol version and cipher of a connection's TLS, as
    C{"TLSv1.3 TLS_AES_256_GCM_SHA384"}, or C{None} if it has none.

    @param connection: a transport; after STARTTLS or on an implicit-TLS
        listener its C{getHandle()} is the pyOpenSSL connection.
    """
    handle = connection.getHandle()
    version = getattr(handle, "get_protocol_version_name", None)
    cipher = getattr(handle, "get_cipher_name", None)
    if version is None or cipher is None:
        return None
    name = cipher()
    if name is None:
        return None
    return f"{version()} {name}"
