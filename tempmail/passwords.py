"""
Mailbox passwords and tokens: slow hashes, constant-time checks.

Passwords are hashed with scrypt from the standard library, tuned to about
50 ms a check on a small server, so a guess costs the guesser.  The encoded
hash records its parameters, so they can be raised later without breaking
stored hashes.  Tokens are random; only their SHA-256 is stored.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass

# N=2**14, r=7: 14 MiB and about 50 ms a hash on the 2-core reference machine
# (measured by bench/password_check.py).
SCRYPT_N = 2**14
SCRYPT_R = 7
SCRYPT_P = 1
_SALT_BYTES = 16
_KEY_BYTES = 32
_MAX_MEMORY = 64 * 1024 * 1024
# Longer passwords are refused rather than hashed: a megabyte "password"
# would only cost us time.
MAX_PASSWORD_LENGTH = 1024


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAX_MEMORY, dklen=_KEY_BYTES
    )


def hash_password(password: str) -> str:
    """
    Return C{scrypt$N$r$p$salt$key} for C{password}, with a fresh salt.
    """
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, encoded: str) -> bool:
    """
    Check C{password} against a hash from L{hash_password}, in constant time.

    A malformed hash never matches.
    """
    try:
        scheme, n, r, p, salt, key = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key, validate=True)
        actual = _scrypt(password, base64.b64decode(salt, validate=True), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@functools.cache
def dummy_hash() -> str:
    """
    A hash of a random password, checked against when a mailbox has no
    password, so that an unknown mailbox costs a login attempt as much time
    as a known one.  Made on first use (it takes as long as a check), not
    when this module is imported.
    """
    return hash_password(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class IssuedToken:
    """
    A bearer token: C{token} goes to the client once, C{digest} is stored.
    """

    token: str
    digest: str


def token_digest(token: str) -> str:
    """
    The stored form of a bearer token.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token() -> IssuedToken:
    """
    A new random, opaque bearer token.
    """
    token = secrets.token_urlsafe(32)
    return IssuedToken(token, token_digest(token))


def same_secret(given: str, expected: str) -> bool:
    """
    Compare two secrets (API keys, admin tokens) in constant time.
    """
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
