"""
The HTTP application on the API port: the route groups, composed in order.

Each group is its own Klein app (L{MailRoutes}, L{ClaimRoutes},
L{WebhookRoutes}, L{SocketRoutes}, L{StaticRoutes}); L{MailAPI} lists them
explicitly and L{tempmail.api.compose} serves the list, so another port (MCP)
can serve another list.  Every route that touches a mailbox asks
L{MailboxAccess.authorize} first, so a claimed mailbox is locked on every
route.
"""

from __future__ import annotations

from pathlib import Path

from klein import Klein
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource

from tempmail.access import MailboxAccess
from tempmail.api.claim_routes import ClaimRoutes
from tempmail.api.compose import compose
from tempmail.api.content_routes import ContentRoutes
from tempmail.api.export_routes import ExportRoutes
from tempmail.api.health_routes import HealthRoutes
from tempmail.api.mail_routes import MailRoutes
from tempmail.api.metrics_routes import MetricsRoutes
from tempmail.api.openapi import OpenApiRoutes
from tempmail.api.responses import ApiError
from tempmail.api.routing import route_group_app
from tempmail.api.static_routes import StaticRoutes
from tempmail.api.webhook_routes import WebhookRoutes, WebhookSettings
from tempmail.api.websocket import MailboxSocketFactory
from tempmail.health import Readiness
from tempmail.interfaces import IMailStore

__all__ = ["MailAPI", "SocketRoutes", "StaticRoutes", "WebhookSettings"]

_sockets = route_group_app()


class SocketRoutes:
    """
    C{/api/ws/{address}}: hands the request to the WebSocket resource.
    """

    app = _sockets

    def __init__(self, sockets: MailboxSocketFactory | None) -> None:
        self.sockets = sockets.web_resource() if sockets is not None else None

    @_sockets.route("/api/ws/<string:address>", methods=["GET"])
    def websocket(self, request: IRequest, address: str) -> IResource:
        # The socket checks the address, origin and lock itself: a browser
        # cannot read an HTTP error from a refused upgrade, only close codes.
        if self.sockets is None:
            raise ApiError(404, "WebSockets are not enabled")
        return self.sockets


class MailAPI:
    """
    The groups served on the API port, in the order they are tried: mail,
    claims, webhooks, the WebSocket, MCP, and the web UI last.
    """

    def __init__(
        self,
        store: IMailStore,
        access: MailboxAccess,
        domain: str,
        web_root: Path | None,
        sockets: MailboxSocketFactory | None = None,
        webhooks: WebhookSettings | None = None,
        mcp: Klein | None = None,
        readiness: Readiness | None = None,
        metrics: MetricsRoutes | None = None,
    ) -> None:
        """
        @param mcp: the MCP endpoint's app, served at C{/mcp} before the
            web UI.
        @param readiness: what C{/readyz} checks; without it, only that
            HTTP answers.
        @param metrics: C{/metrics}, when served on this port.
        """
        self.groups: list[Klein] = [
            HealthRoutes(readiness).app,
            OpenApiRoutes(web_root).app,
            *([] if metrics is None else [metrics.app]),
            MailRoutes(store, access, domain).app,
            ExportRoutes(store, access, domain).app,
            ContentRoutes(store, access, domain).app,
            ClaimRoutes(store, access, domain).app,
            WebhookRoutes(store, access, domain, webhooks).app,
            SocketRoutes(sockets).app,
            *([] if mcp is None else [mcp]),
            StaticRoutes(web_root).app,
        ]

    def resource(self) -> IResource:
        """
        The twisted.web resource that serves these groups.
        """
        return compose(self.groups)
