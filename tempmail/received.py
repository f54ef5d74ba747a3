"""
The C{Received:} trace header tempmail puts on each message it accepts
over SMTP, and what is read back from it.

The header is the one record of how a message arrived, so the TLS a sender
used is written there (as Postfix writes it, C{(using TLSv1.3 with cipher
...)}) and the C{tls} field of the message JSON is read from it: the store
keeps no column of its own for it.  Only the first header counts, and only
if it is ours (C{by <domain> (tempmail)}); C{Received:} headers below it
were written by the sender's side.
"""

from __future__ import annotations

import re
from datetime import datetime
from email.utils import format_datetime

_OURS = re.compile(r"\(tempmail\) with ESMTPS?\b")
_TLS = re.compile(r"\(using (?P<version>TLSv1\.[0-3]) with cipher (?P<cipher>[A-Za-z0-9_-]+)\)")


def received_header(
    helo: str,
    peer: str,
    host: str,
    recipients: tuple[str, ...],
    now: datetime,
    tls: str | None,
) -> bytes:
    """
    Our C{Received:} header, folded, ending in CRLF.

    @param helo: the client's HELO name, already checked to be a domain or
        an address literal (or C{unknown}).
    @param peer: the client's IP address.
    @param host: our domain, in IDNA.
    @param recipients: the message's recipients; only a message with one
        names it, so that each copy does not reveal the others.
    @param tls: the TLS version and cipher, as
        L{tempmail.tls.tls_description} gives them, or C{None} in plain text.
    """
    for_clause = f"\r\n\tfor <{recipients[0]}>" if len(recipients) == 1 else ""
    using = ""
    protocol = "ESMTP"
    if tls is not None:
        version, _, cipher = tls.partition(" ")
        using = f"\r\n\t(using {version} with cipher {cipher})"
        protocol = "ESMTPS"
    return (
        f"Received: from {helo} ([{peer}]){using}\r\n"
        f"\tby {host} (tempmail) with {protocol}{for_clause};\r\n"
        f"\t{format_datetime(now)}\r\n"
    ).encode()


def tls_of(headers: tuple[tuple[str, str], ...]) -> dict[str, str] | None:
    """
    The TLS a message arrived over, from the first C{Received:} header if
    tempmail wrote it: C{{"version": "TLSv1.3", "cipher": "..."}}, or
    C{None} for plain text (or a message tempmail did not receive by SMTP).

    @param headers: the message's headers in order, unfolded.
    """
    for name, value in headers:
        if name.lower() == "received":
            if _OURS.search(value) is None:
                return None
            using = _TLS.search(value)
            if using is None:
                return None
            return {"version": using["version"], "cipher": using["cipher"]}
    return None
