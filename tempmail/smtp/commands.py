"""
The arguments of C{MAIL FROM:} and C{RCPT TO:}, parsed.

Pure functions from a command's argument bytes (what follows the command
word) and the limits to the path it names, or to the L{Reply} that refuses
it.  They know nothing of the session: whether a sender was already given,
or how many recipients there are, is the session's business.

The path syntax is looser than RFC 5321's: a path in angle brackets or a
bare address, without spaces.  A recipient must be valid UTF-8, since it
names a mailbox; a sender is only recorded, so bytes that are not UTF-8
become U+FFFD.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PATH = rb"<(?P<path>[^<>\s]*)>|(?P<bare>[^<>\s]+)"
_MAIL = re.compile(rb"^FROM:\s*(?:" + _PATH + rb")(?P<params>(?:\s+\S+)*)\s*$", re.I)
_RCPT = re.compile(rb"^TO:\s*(?:" + _PATH + rb")(?P<params>(?:\s+\S+)*)\s*$", re.I)

# A SIZE with more significant digits than this (10**20 bytes and up) is
# over any limit.  Counting digits before int() also keeps int() away from
# a SIZE of thousands of digits, which Python refuses to convert.
_MAX_SIZE_DIGITS = 20

_BODY_TYPES = (b"7BIT", b"8BITMIME")


@dataclass(frozen=True)
class Reply:
    """
    An SMTP reply that refuses a command.

    @ivar code: the three-digit reply code.
    @ivar text: the rest of the line, starting with the enhanced status code.
    """

    code: int
    text: bytes


TOO_BIG = Reply(552, b"5.3.4 Message size exceeds fixed maximum message size")
"""
The reply to a message over the size limit, declared at C{MAIL} or found
while reading C{DATA}.
"""


def parse_mail(rest: bytes, max_message_size: int) -> str | Reply:
    """
    Parse the argument of C{MAIL}.

    @param rest: the bytes after C{MAIL }, e.g. C{b"FROM:<a@b> SIZE=120"}.
    @param max_message_size: the largest C{SIZE=} accepted, in bytes.
    @return: the sender (C{""} for the null sender C{<>}), or the reply
        that refuses the command: 501 for bad syntax, C{SIZE} or C{BODY},
        552 for a C{SIZE} over the limit, 555 for any other parameter.
    """
    match = _MAIL.match(rest)
    if match is None:
        return Reply(501, b"5.5.4 Syntax: MAIL FROM:<address>")
    params = _params(match)
    size = params.pop(b"SIZE", b"0") or b""
    body = (params.pop(b"BODY", b"7BIT") or b"").upper()
    digits = size.lstrip(b"0") or b"0"
    if not size.isdigit():
        return Reply(501, b"5.5.4 SIZE needs a number of bytes")
    if len(digits) > _MAX_SIZE_DIGITS or int(digits) > max_message_size:
        return TOO_BIG
    if body not in _BODY_TYPES:
        return Reply(501, b"5.5.4 BODY must be 7BIT or 8BITMIME")
    if params:
        return Reply(555, b"5.5.4 Unsupported MAIL parameter " + next(iter(params)))
    return _path(match).decode("utf-8", "replace")


def parse_rcpt(rest: bytes) -> str | Reply:
    """
    Parse the argument of C{RCPT}.

    @param rest: the bytes after C{RCPT }, e.g. C{b"TO:<bob@example.com>"}.
    @return: the recipient as given (not yet normalised), or the reply that
        refuses the command: 501 for bad syntax, 555 for any parameter, 553
        for a path that is not valid UTF-8.
    """
    match = _RCPT.match(rest)
    if match is None:
        return Reply(501, b"5.5.4 Syntax: RCPT TO:<address>")
    if _params(match):
        return Reply(555, b"5.5.4 RCPT parameters are not supported")
    try:
        return _path(match).decode("utf-8")
    except UnicodeDecodeError:
        return Reply(553, b"5.1.3 The address is not valid UTF-8")


def _path(match: re.Match[bytes]) -> bytes:
    """
    The address in a matched path, without its angle brackets.
    """
    path = match.group("path")
    return match.group("bare") if path is None else path


def _params(match: re.Match[bytes]) -> dict[bytes, bytes | None]:
    """
    The parameters after a matched path, by upper-cased name; a name
    without C{=} has the value C{None}.  A repeated name keeps its last value.
    """
    params: dict[bytes, bytes | None] = {}
    for token in match.group("params").split():
        key, sep, value = token.partition(b"=")
        params[key.upper()] = value if sep else None
    return params
