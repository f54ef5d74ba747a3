"""
The HTTP application: REST under C{/api}, the WebSocket, and the static
web UI, as one Klein application.

The routes live in groups (L{MailRoutes}, L{ClaimRoutes}, L{WebhookRoutes})
that all register on the one Klein app of L{tempmail.api.routing}; every
route that touches a mailbox asks L{MailboxAccess.authorize} first, so a
claimed mailbox is locked on every route.
"""

from __future__ import annotations

from pathlib import Path

from twisted.web.iweb import IRequest
from twisted.web.resource import IResource
from twisted.web.static import File

from tempmail.access import MailboxAccess
from tempmail.api.claim_routes import ClaimRoutes
from tempmail.api.mail_routes import MailRoutes
from tempmail.api.responses import ApiError
from tempmail.api.routing import app
from tempmail.api.webhook_routes import WebhookRoutes, WebhookSettings
from tempmail.api.websocket import MailboxSocketFactory
from tempmail.interfaces import IMailStore

__all__ = ["MailAPI", "WebhookSettings"]


class MailAPI(MailRoutes, ClaimRoutes, WebhookRoutes):
    """
    The HTTP application: REST under C{/api}, the web UI everywhere else.
    """

    def __init__(
        self,
        store: IMailStore,
        access: MailboxAccess,
        domain: str,
        web_root: Path,
        sockets: MailboxSocketFactory | None = None,
        webhooks: WebhookSettings | None = None,
    ) -> None:
        self.store = store
        self.access = access
        self.domain = domain
        self.web_root = web_root
        self.sockets = sockets.web_resource() if sockets is not None else None
        self.webhooks = webhooks

    def resource(self) -> IResource:
        """
        The twisted.web resource that serves this application.
        """
        return self.app.resource()

    # Live events

    @app.route("/api/ws/<string:address>", methods=["GET"])
    def websocket(self, request: IRequest, address: str) -> IResource:
        # The socket checks the address, origin and lock itself: a browser
        # cannot read an HTTP error from a refused upgrade, only close codes.
        if self.sockets is None:
            raise ApiError(404, "WebSockets are not enabled")
        return self.sockets

    # Everything else: GET and HEAD only, so that a known API path asked
    # with another method gets 405 rather than falling through to the files.

    @app.route("/", branch=True, methods=["GET", "HEAD"])
    def web_ui(self, request: IRequest) -> IResource:
        if request.path.startswith(b"/api/"):
            raise ApiError(404, "no such API route")
        return File(str(self.web_root))
