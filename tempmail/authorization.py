"""
Reading an HTTP C{Authorization} header: the one parser that the REST API
and the WebSocket share.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass


class MalformedAuthorization(ValueError):
    """
    The header names a scheme we read (Basic) but its value cannot be decoded.
    """


@dataclass(frozen=True)
class Authorization:
    """
    What an C{Authorization} header carried.

    @ivar bearer: the token of C{Bearer <token>}.
    @ivar basic: the C{(user, password)} of C{Basic <base64>}.
    """

    bearer: str | None = None
    basic: tuple[str, str] | None = None


def parse_authorization(header: str | None) -> Authorization:
    """
    Read a C{Bearer} token or C{Basic} credentials; any other scheme, or no
    header, carries nothing.

    @raise MalformedAuthorization: for C{Basic} whose value is not base64 of
        UTF-8 C{user:password}.
    """
    if header is None:
        return Authorization()
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return Authorization(bearer=value or None)
    if scheme.lower() != "basic":
        return Authorization()
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise MalformedAuthorization("malformed Basic credentials") from None
    user, sep, password = decoded.partition(":")
    if not sep:
        raise MalformedAuthorization("malformed Basic credentials")
    return Authorization(basic=(user, password))
