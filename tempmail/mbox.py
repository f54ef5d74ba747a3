"""
The mbox format as tempmail writes and reads it: mboxrd.

Each message is a C{From } separator line, the message's bytes exactly as
stored (CRLF line ends kept) with every line that matches C{>*From }
quoted by one more C{>}, and one empty line.  Reading undoes the quoting,
so a message exported and imported again is byte for byte the same.
"""

from __future__ import annotations

import re
from datetime import datetime

_FROM_LINE = re.compile(rb"^(>*From )", re.MULTILINE)
_QUOTED_FROM_LINE = re.compile(rb"^>(>*From )", re.MULTILINE)


def separator(sender: str, when: datetime) -> bytes:
    """
    The C{From } line that starts a message: the sender (or
    C{MAILER-DAEMON} when there is no usable one) and the time in C{asctime}
    form, as mail readers expect.
    """
    who = sender if sender and sender.isascii() and " " not in sender else "MAILER-DAEMON"
    return f"From {who} {when.strftime('%a %b %d %H:%M:%S %Y')}\n".encode("ascii")


def entry(sender: str, when: datetime, raw: bytes) -> bytes:
    """
    One message as an mbox entry.
    """
    body = _FROM_LINE.sub(rb">\1", raw)
    if not body.endswith(b"\n"):
        body += b"\n"
    return separator(sender, when) + body + b"\n"


def unquote(content: bytes) -> bytes:
    """
    A message as read from an mboxrd file (separator and final empty line
    already gone), with the C{>From } quoting undone.
    """
    return _QUOTED_FROM_LINE.sub(rb"\1", content)
