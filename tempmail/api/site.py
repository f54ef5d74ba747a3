"""
The twisted.web C{Site} every HTTP listener uses: no tracebacks shown, and
requests that know their client behind a trusted reverse proxy.
"""

from __future__ import annotations

from ipaddress import IPv6Address as IPv6
from ipaddress import ip_address

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IAddress
from twisted.web.resource import IResource
from twisted.web.server import Request, Site

from tempmail.proxies import ClientView, TrustedProxies


def request_header(request: Request, name: str) -> str | None:
    """
    Every value of a request header, comma-joined, or C{None}.
    """
    values = request.requestHeaders.getRawHeaders(name.encode("ascii"))
    if not values:
        return None
    return ", ".join(v.decode("latin-1") for v in values)


class ProxiedRequest(Request):
    """
    A request whose C{getClientAddress} is the client's, not the proxy's,
    when the connection comes from a trusted proxy (see
    L{TrustedProxies.client}).  Everything that keys by client address
    (the failure limiter, MCP, the access log) asks this.
    """

    def client_view(self) -> ClientView:
        """
        The client, its scheme and host, as L{TrustedProxies} reads them.
        """
        peer = super().getClientAddress()
        host = str(getattr(peer, "host", "unknown"))
        # Site.buildProtocol gives each channel its site.
        site = getattr(self.channel, "site", None)
        proxies: TrustedProxies = getattr(site, "trusted_proxies", TrustedProxies())
        return proxies.client(host, lambda name: request_header(self, name))

    def getClientAddress(self) -> IAddress:
        peer = super().getClientAddress()
        address = self.client_view().address
        if address == getattr(peer, "host", None):
            return peer
        try:
            if isinstance(ip_address(address), IPv6):
                return IPv6Address("TCP", address, 0)
        except ValueError:
            pass
        return IPv4Address("TCP", address, 0)


class ApiSite(Site):
    """
    A C{Site} for one of tempmail's HTTP listeners.
    """

    requestFactory = ProxiedRequest
    displayTracebacks = False
    noisy = False

    def __init__(self, resource: IResource, trusted_proxies: TrustedProxies) -> None:
        super().__init__(resource)
        self.trusted_proxies = trusted_proxies
