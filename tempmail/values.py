"""
Parsers for configuration values.

Each parser takes the raw text of a setting and returns the typed value, or
raises L{ValueError} whose message says what was expected.  They are shared by
environment variables, the C{.env} file and C{twistd tempmail} options, so a
value means the same thing wherever it is written.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from tempmail.addresses import is_domain_name

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1024**3,
    "gib": 1024**3,
}

_DURATION_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

_NUMBER_WITH_UNIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")

# Enough of a file to find the first PEM armour line without reading a large
# file that was named by mistake.
_PEM_HEAD_BYTES = 65536

# Short secrets fall to guessing over the network; sixteen characters of a
# random token are far beyond that.
_MIN_SECRET_LENGTH = 16


def parse_bool(text: str) -> bool:
    """
    Parse a boolean: true/false, 1/0, yes/no or on/off, in any case.
    """
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("expected a boolean (true/false, 1/0, yes/no)")


def parse_int(text: str, minimum: int = 0, maximum: int | None = None) -> int:
    """
    Parse a whole number within C{[minimum, maximum]}.
    """
    stripped = text.strip()
    if not re.fullmatch(r"[+-]?\d+", stripped):
        raise ValueError("expected a whole number")
    value = int(stripped)
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and at most {maximum}"
        raise ValueError(f"expected a whole number of at least {minimum}{upper}")
    return value


def parse_port(text: str) -> int:
    """
    Parse a TCP port; 0 asks the system for a free one.
    """
    try:
        return parse_int(text, 0, 65535)
    except ValueError:
        raise ValueError("expected a port number from 0 to 65535") from None


def parse_size(text: str) -> int:
    """
    Parse a size in bytes, optionally with a binary suffix: C{25M} is 25 MiB.
    """
    match = _NUMBER_WITH_UNIT.match(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _SIZE_UNITS:
        raise ValueError("expected a size in bytes, optionally with K, M or G")
    value = int(float(match.group(1)) * _SIZE_UNITS[unit])
    if value <= 0:
        raise ValueError("expected a size greater than zero")
    return value


def parse_duration(text: str) -> float:
    """
    Parse a duration in seconds, optionally with a suffix: C{5m}, C{2h}, C{1d}.
    """
    match = _NUMBER_WITH_UNIT.match(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _DURATION_UNITS:
        raise ValueError("expected a duration in seconds, optionally with s, m, h or d")
    value = float(match.group(1)) * _DURATION_UNITS[unit]
    if value <= 0:
        raise ValueError("expected a duration greater than zero")
    return value


def parse_positive_int(text: str) -> int:
    """
    Parse a whole number greater than zero.
    """
    return parse_int(text, 1)


def parse_log_level(text: str) -> str:
    """
    Parse a log level.  A C{RUST_LOG}-style filter such as
    C{info,tempmail::smtp=debug} is accepted and its global level used.
    """
    levels = ("trace", "debug", "info", "warn", "warning", "error", "critical")
    global_levels = [d.strip().lower() for d in text.split(",") if "=" not in d]
    global_levels = [d for d in global_levels if d]
    if len(global_levels) != 1 or global_levels[0] not in levels:
        raise ValueError("expected one of " + ", ".join(levels))
    return {"trace": "debug", "warning": "warn"}.get(global_levels[0], global_levels[0])


def parse_log_format(text: str) -> str:
    """
    Parse a log format: C{text} or C{json}.
    """
    lowered = text.strip().lower()
    if lowered not in ("text", "json"):
        raise ValueError("expected text or json")
    return lowered


def parse_positive_number(text: str) -> float:
    """
    Parse a number greater than zero; fractions allowed (C{0.5}).
    """
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError("expected a number greater than zero") from None
    if not value > 0 or value == float("inf"):
        raise ValueError("expected a number greater than zero")
    return value


def parse_origins(text: str) -> frozenset[str]:
    """
    Parse a comma-separated list of web origins such as
    C{https://mail.example.com,http://localhost:5173}.
    """
    origins = frozenset(o.strip().rstrip("/") for o in text.split(",") if o.strip())
    for origin in origins:
        scheme, sep, host = origin.partition("://")
        if scheme not in ("http", "https") or not sep or not host or "/" in host:
            raise ValueError(f"expected origins like https://example.com, got {origin!r}")
    return origins


def parse_domain(text: str) -> str:
    """
    Parse a domain name such as C{mail.example.com}: lower-cased, without a
    trailing dot.

    Only ASCII is accepted, because the domain is written into the SMTP
    greeting and C{Received:} headers, which are ASCII; an internationalised
    domain is given in its C{xn--} form.

    @param text: the raw setting.
    @raise ValueError: if C{text} is not an ASCII domain name.
    """
    domain = text.strip().lower().rstrip(".")
    if not (domain.isascii() and is_domain_name(domain)):
        raise ValueError("expected a domain name such as mail.example.com (IDNs as xn--)")
    return domain


def parse_ip_address(text: str) -> str:
    """
    Parse an IPv4 or IPv6 address, returned in its compressed form
    (C{0:0::0} is C{::}).

    @param text: the raw setting.
    @raise ValueError: if C{text} is not an IP address.
    """
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise ValueError("expected an IP address such as 0.0.0.0 or ::") from None


def parse_pem_file(text: str) -> str:
    """
    Parse the path of a PEM file, checking at startup that it can be read
    and holds a C{-----BEGIN} line, so that a wrong path stops the daemon
    rather than the first TLS handshake.

    @param text: the raw setting, a file path.
    @raise ValueError: if the file cannot be read or is not PEM.
    """
    path = Path(text.strip())
    try:
        with path.open("rb") as pem:
            head = pem.read(_PEM_HEAD_BYTES)
    except OSError as e:
        raise ValueError(f"expected a readable PEM file ({e.strerror})") from None
    if b"-----BEGIN " not in head:
        raise ValueError("expected a PEM file")
    return str(path)


def parse_secret(text: str) -> str:
    """
    Parse a shared secret such as an operator token or API key, with
    surrounding blanks removed.

    @param text: the raw setting.
    @raise ValueError: if the secret is shorter than 16 characters.
    """
    secret = text.strip()
    if len(secret) < _MIN_SECRET_LENGTH:
        raise ValueError(f"expected a secret of at least {_MIN_SECRET_LENGTH} characters")
    return secret


def parse_endpoint(text: str) -> str:
    """
    Parse a Twisted server endpoint description such as C{tcp:25} or
    C{systemd:domain=INET:index=0}.

    Only its shape is checked here; the daemon builds the endpoint with
    L{twisted.internet.endpoints.serverFromString} at startup, which judges
    the rest.

    @param text: the raw setting.
    @raise ValueError: if the description is empty or spans lines.
    """
    description = text.strip()
    if not description or "\n" in description or "\r" in description:
        raise ValueError("expected a Twisted endpoint description such as tcp:25")
    return description
