"""
Mailbox identity: the one rule every door uses to turn text into a mailbox.

An address is trimmed and lower-cased; a bare name gains C{@DOMAIN_NAME}.
SMTP recipients, REST paths and (later) WebSocket, IMAP, MCP and webhook
mailboxes all pass through L{normalise_address}, so C{Bob@X}, C{ bob@x } and
C{bob} (with C{DOMAIN_NAME=x}) are one mailbox everywhere.
"""

from __future__ import annotations

import re

MAX_ADDRESS_LENGTH = 254
MAX_LOCAL_PART_LENGTH = 64

# Characters that never appear in a usable mailbox address.  Anything else
# printable (including UTF-8, for SMTPUTF8 senders) is allowed in the local
# part, as peers do: a temp-mail sink should accept odd but harmless names.
_FORBIDDEN_LOCAL = re.compile(r"[\s\x00-\x1f\x7f<>()\[\]\\,;:\"@/]")

# A domain is dot-separated labels of letters and digits with inner hyphens.
# Non-ASCII letters are allowed because SMTPUTF8 peers send them unencoded.
_LETTERS = r"a-z0-9\u0080-\U0010ffff"
_LABEL = rf"[{_LETTERS}](?:[{_LETTERS}-]*[{_LETTERS}])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


class InvalidAddress(ValueError):
    """
    The text cannot name a mailbox.  The message says why.
    """


def is_domain_name(domain: str) -> bool:
    """
    Whether C{domain} is a domain name in canonical form: lower case, no
    trailing dot, labels of letters, digits and inner hyphens.  Labels may
    hold UTF-8 letters (C{bücher.example}); callers that need ASCII, such as
    the SMTP greeting, check that themselves.

    @param domain: the candidate, already lower-cased and without its
        trailing dot.
    """
    return _DOMAIN.fullmatch(domain) is not None


def normalise_address(text: str, default_domain: str) -> str:
    """
    Return the canonical mailbox address for C{text}.

    @param text: what a user or client wrote: C{Bob@Example.COM},
        C{<bob@example.com>} or a bare C{bob}.
    @param default_domain: the domain appended to a bare name.
    @raise InvalidAddress: if C{text} cannot be a mailbox address.
    """
    address = text.strip()
    if address.startswith("<") and address.endswith(">"):
        address = address[1:-1].strip()
    if "@" not in address:
        address = f"{address}@{default_domain}"
    local, _, domain = address.rpartition("@")
    local = local.lower()
    domain = domain.lower().rstrip(".")
    if not local:
        raise InvalidAddress("the mailbox name is empty")
    if len(local) > MAX_LOCAL_PART_LENGTH:
        raise InvalidAddress(f"the mailbox name is longer than {MAX_LOCAL_PART_LENGTH} characters")
    if _FORBIDDEN_LOCAL.search(local) or local.startswith(".") or local.endswith("."):
        raise InvalidAddress("the mailbox name contains characters not allowed in an address")
    if not is_domain_name(domain):
        raise InvalidAddress("the domain is not a valid domain name")
    canonical = f"{local}@{domain}"
    if len(canonical.encode("utf-8")) > MAX_ADDRESS_LENGTH:
        raise InvalidAddress(f"the address is longer than {MAX_ADDRESS_LENGTH} bytes")
    return canonical


def domain_of(address: str) -> str:
    """
    Return the domain of a normalised address.
    """
    return address.rpartition("@")[2]
