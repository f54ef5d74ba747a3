"""
Where a webhook may post: http(s) URLs whose every address is public.

Targets are checked after DNS resolution, and the request then goes to the
very address that was checked (see L{tempmail.webhooks.sender}), so a name
that re-resolves to C{127.0.0.1} between check and connect (DNS
rebinding) gets nowhere.  Loopback, private, link-local (C{169.254.x.x},
C{fe80::}), multicast, unspecified and other non-global addresses are
refused unless C{WEBHOOK_ALLOW_PRIVATE} is set.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread

MAX_URL_LENGTH = 2048


class TargetRefused(Exception):
    """
    The URL may not be posted to; the message says why, the same way
    whatever is listening there.
    """


class TargetUnresolved(TargetRefused):
    """
    The URL's host does not resolve now; that may pass, so an attempt that
    meets it is retried.
    """


@dataclass(frozen=True)
class Target:
    """
    A checked URL and the address to connect to for it.
    """

    url: str
    scheme: str
    host: str
    port: int
    address: str


def normalise_url(text: str) -> str:
    """
    Check a webhook URL's form: http or https, with a host.  A URL without
    a scheme gets C{http://}, as clients of the REST API have long relied on.

    @raise TargetRefused: for other schemes or a malformed URL.
    """
    url = text.strip()
    if "://" not in url:
        url = "http://" + url
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises for a bad port)
    except ValueError:
        raise TargetRefused("the URL is not valid") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("the URL must be http or https")
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    if parts.username or parts.password:
        raise TargetRefused("the URL must not carry credentials")
    return url


def address_allowed(address: str, allow_private: bool) -> bool:
    """
    Whether a webhook may connect to C{address}.
    """
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if allow_private:
        return not (ip.is_multicast or ip.is_unspecified)
    return ip.is_global and not ip.is_multicast


def resolve_in_thread(host: str, port: int) -> Deferred[list[str]]:
    """
    Every address C{host} resolves to (IPv4 and IPv6), via the system
    resolver in a thread.
    """

    def lookup() -> list[str]:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return list(dict.fromkeys(str(info[4][0]) for info in infos))

    return deferToThread(lookup)


class TargetChecker:
    """
    Resolves and checks webhook targets.

    @ivar resolve: C{(host, port) -> Deferred[list of addresses]}.
    """

    def __init__(
        self,
        allow_private: bool = False,
        resolve: Callable[[str, int], Deferred[list[str]]] = resolve_in_thread,
    ) -> None:
        self.allow_private = allow_private
        self.resolve = resolve

    async def check(self, url: str) -> Target:
        """
        Resolve C{url}'s host and return where to connect.

        @raise TargetRefused: if the URL is malformed, does not resolve, or
            any of its addresses is not allowed.
        """
        parts = urlsplit(normalise_url(url))
        assert parts.hostname is not None
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            ipaddress.ip_address(parts.hostname)
            addresses = [parts.hostname]
        except ValueError:
            try:
                addresses = await self.resolve(parts.hostname, port)
            except (OSError, UnicodeError):
                # UnicodeError: a name the resolver cannot even encode (IDNA).
                raise TargetUnresolved("the URL's host does not resolve") from None
        # Every address must pass: a name with one public and one private
        # record must not be a way in.
        if not addresses or not all(address_allowed(a, self.allow_private) for a in addresses):
            raise TargetRefused("the URL's address is not allowed (loopback, private or reserved)")
        return Target(url, parts.scheme, parts.hostname, port, addresses[0])
