"""
Who the client is when a reverse proxy stands in front: the one rule every
HTTP door uses to key things by client address.

Only a connection from a trusted proxy (C{TRUSTED_PROXIES}) may say who it
forwards for, in C{Forwarded} (RFC 7239) or C{X-Forwarded-For}.  The client
is then the right-most address of that chain that is not itself a trusted
proxy: everything left of it was written by someone we do not trust, and
may be made up.  A connection from anyone else is taken at its word: its own
address, headers ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

HeaderReader = Callable[[str], str | None]
"""
Reads a request header by its lower-case name: every value, comma-joined,
or C{None} when absent.
"""


def parse_networks(text: str) -> tuple[Network, ...]:
    """
    Parse a comma-separated list of addresses and CIDR ranges, such as
    C{127.0.0.1, 10.0.0.0/8, fd00::/8}.

    @raise ValueError: naming the first entry that is neither.
    """
    networks = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"expected addresses or CIDR ranges such as 10.0.0.0/8, got {entry!r}"
            ) from None
    return tuple(networks)


@dataclass(frozen=True)
class ClientView:
    """
    The client as the nearest trusted proxy saw it.

    @ivar address: the client's address (or a proxy's token, such as
        C{unknown}, when the proxy could not say more).
    @ivar scheme: the scheme the client used, when a trusted proxy said so.
    @ivar host: the C{Host} the client asked for, when a trusted proxy said so.
    """

    address: str
    scheme: str | None = None
    host: str | None = None


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def _node_address(node: str) -> str:
    """
    The address part of a forwarded node: C{[2001:db8::1]:4711} is
    C{2001:db8::1}, C{192.0.2.1:80} is C{192.0.2.1}.
    """
    node = _unquote(node)
    if node.startswith("["):
        return node[1:].partition("]")[0]
    if node.count(":") == 1:
        return node.partition(":")[0]
    return node


def _split_list(value: str) -> list[str]:
    """
    Split a header list at commas outside quoted strings.
    """
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in value:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def _forwarded_elements(value: str) -> list[dict[str, str]]:
    elements = []
    for element in _split_list(value):
        pairs: dict[str, str] = {}
        for pair in element.split(";"):
            name, sep, raw = pair.partition("=")
            if sep:
                pairs[name.strip().lower()] = _unquote(raw)
        elements.append(pairs)
    return elements


class TrustedProxies:
    """
    The proxies whose forwarding headers are believed.
    """

    def __init__(self, networks: Iterable[Network] = ()) -> None:
        self.networks = tuple(networks)

    def trusts(self, address: str) -> bool:
        """
        Whether C{address} is one of the trusted proxies.
        """
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.networks)

    def client(self, peer: str, header: HeaderReader) -> ClientView:
        """
        Who the client of a connection from C{peer} is.

        @param peer: the address of the connection's other end.
        @param header: reads the request's headers.
        """
        if not self.trusts(peer):
            return ClientView(peer)
        forwarded = header("forwarded")
        if forwarded is not None:
            elements = _forwarded_elements(forwarded)
            hops = [_node_address(e.get("for", "unknown")) for e in elements]
            index = self._client_index(hops)
            if index is None:
                return ClientView(peer)
            element = elements[index]
            return ClientView(hops[index], element.get("proto"), element.get("host"))
        forwarded_for = header("x-forwarded-for")
        if forwarded_for is None:
            return ClientView(peer)
        hops = [_node_address(hop) for hop in _split_list(forwarded_for)]
        index = self._client_index(hops)
        if index is None:
            return ClientView(peer)
        return ClientView(
            hops[index],
            _aligned(header("x-forwarded-proto"), index, len(hops)),
            _aligned(header("x-forwarded-host"), index, len(hops)),
        )

    def _client_index(self, hops: list[str]) -> int | None:
        """
        The index of the right-most hop that is not a trusted proxy (the
        left-most when all are), or C{None} for an empty chain.
        """
        for index in range(len(hops) - 1, -1, -1):
            if not self.trusts(hops[index]):
                return index
        return 0 if hops else None


def _aligned(value: str | None, index: int, count: int) -> str | None:
    """
    The C{X-Forwarded-Proto} or C{-Host} entry for the hop at C{index}: the
    same position when the proxies kept one entry per hop, else the last
    (the nearest proxy's).
    """
    if value is None:
        return None
    entries = _split_list(value)
    if not entries:
        return None
    return entries[index] if len(entries) == count else entries[-1]
