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

# NUL, the other C0 controls (CR and LF included) and DEL.
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
# RFC 5321 4.1.2: a domain of letter-digit-hyphen labels (an underscore is
# tolerated, as hostnames with one are common), or an address literal.
_LABEL = rb"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_DOMAIN = rb"(?:" + _LABEL + rb")(?:\." + _LABEL + rb")*\.?"
_ADDRESS_LITERAL = (
    rb"\[(?:[0-9.]{7,15}|IPv6:[0-9A-Fa-f:.]{2,45}"
    rb"|[A-Za-z0-9-]*[A-Za-z0-9]:[\x21-\x5a\x5e-\x7e]+)\]"
)
_HELO = re.compile(rb"(?:" + _DOMAIN + rb"|" + _ADDRESS_LITERAL + rb")")
# A sender's mailbox: a local part and a domain (or address literal); a
# source route before it (RFC 5321 C.) is accepted and ignored.
_SENDER = re.compile(rb"(?:@[^,:@]+(?:,@[^,:@]+)*:)?(?P<mailbox>.+@(?:[^@\[\]]+|\[[^\[\]]+\]))")

MAIL_PARAMETER_ALLOWANCE = 26 + 14
"""
Octets a C{MAIL} command line may have beyond the command-line limit: 26
for C{SIZE=} (RFC 1870) and 14 for C{ BODY=8BITMIME}.
"""


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


CONTROL_CHARACTERS = Reply(501, b"5.5.4 Control characters are not allowed in a path")
"""
The reply to a C{MAIL} or C{RCPT} argument holding NUL or another control byte.
"""


def command_too_long(line: bytes, limit: int) -> bool:
    """
    Whether a command line is over the limit (RFC 5321 4.5.3.1.4: 512
    octets with its CRLF), allowing a C{MAIL} command the octets of the
    parameters we advertise (L{MAIL_PARAMETER_ALLOWANCE}).

    @param line: the line without its CRLF.
    @param limit: the octets allowed, CRLF included.
    """
    if line[:5].upper() == b"MAIL ":
        limit += MAIL_PARAMETER_ALLOWANCE
    return len(line) + 2 > limit


def valid_helo(name: bytes) -> bool:
    """
    Whether a C{HELO} or C{EHLO} argument is a domain or an address literal
    (RFC 5321 4.1.1.1), with nothing else: no spaces, no control or 8-bit
    bytes, not empty.
    """
    return _HELO.fullmatch(name) is not None


def parse_mail(rest: bytes, max_message_size: int) -> str | Reply:
    """
    Parse the argument of C{MAIL}.

    @param rest: the bytes after C{MAIL }, e.g. C{b"FROM:<a@b> SIZE=120"}.
    @param max_message_size: the largest C{SIZE=} accepted, in bytes.
    @return: the sender (C{""} for the null sender C{<>}), or the reply
        that refuses the command: 501 for bad syntax, C{SIZE} or C{BODY},
        552 for a C{SIZE} over the limit, 555 for any other parameter,
        553 for a path that is not a mailbox.
    """
    if _CONTROL.search(rest):
        return CONTROL_CHARACTERS
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
    path = _path(match)
    if path:
        sender = _SENDER.fullmatch(path)
        if sender is None:
            return Reply(553, b"5.1.7 Bad sender address syntax")
        path = sender.group("mailbox")
    return path.decode("utf-8", "replace")


def parse_rcpt(rest: bytes) -> str | Reply:
    """
    Parse the argument of C{RCPT}.

    @param rest: the bytes after C{RCPT }, e.g. C{b"TO:<bob@example.com>"}.
    @return: the recipient as given (not yet normalised), or the reply that
        refuses the command: 501 for bad syntax, 555 for any parameter, 553
        for a path that is not valid UTF-8.
    """
    if _CONTROL.search(rest):
        return CONTROL_CHARACTERS
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
