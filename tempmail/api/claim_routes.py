"""
The claim routes: locking a mailbox, logging in, changing and releasing its
password, and the operator's list of mailboxes.  See
C{docs/MAILBOX_PASSWORD_PROTECTION.md}.
"""

from __future__ import annotations

from twisted.web.iweb import IRequest

from tempmail.access import AccessDenied, GrantedToken
from tempmail.api.requests import credentials, int_query, json_body, string_field
from tempmail.api.responses import json_response
from tempmail.api.routing import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, RouteBase, route_group_app
from tempmail.api.serialise import mailbox_json
from tempmail.times import rfc3339


def _token_json(mailbox: str, granted: GrantedToken, message: str) -> dict[str, str]:
    return {
        "message": message,
        "address": mailbox,
        "token": granted.token,
        "expires_at": rfc3339(granted.expires_at),
    }


app = route_group_app()


class ClaimRoutes(RouteBase):
    """
    Claims, logins and the operator's listing.
    """

    app = app

    @app.route("/api/mailboxes", methods=["GET"])
    async def list_mailboxes(self, request: IRequest) -> bytes:
        if not self.access.is_admin(credentials(request)):
            raise AccessDenied("listing mailboxes needs the admin token")
        limit = int_query(request, "limit", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        page = await self.store.list_mailboxes(limit, int_query(request, "offset", 0, 0, 2**31))
        return json_response(
            request, {"mailboxes": [mailbox_json(m) for m in page.mailboxes], "total": page.total}
        )

    @app.route("/api/mailbox/<string:address>/status", methods=["GET"])
    async def mailbox_status(self, request: IRequest, address: str) -> bytes:
        mailbox = self._mailbox(address)
        locked = await self.access.is_locked(mailbox)
        return json_response(request, {"address": mailbox, "is_locked": locked})

    @app.route("/api/mailbox/<string:address>/claim", methods=["POST"])
    async def claim(self, request: IRequest, address: str) -> bytes:
        mailbox = self._mailbox(address)
        password = string_field(json_body(request), "password")
        granted = await self.access.claim(mailbox, password)
        return json_response(request, _token_json(mailbox, granted, "Mailbox claimed successfully"))

    @app.route("/api/mailbox/<string:address>/login", methods=["POST"])
    async def login(self, request: IRequest, address: str) -> bytes:
        mailbox = self._mailbox(address)
        body = json_body(request)
        granted = await self.access.login(
            mailbox, string_field(body, "password"), credentials(request).client
        )
        return json_response(request, _token_json(mailbox, granted, "Logged in"))

    @app.route("/api/mailbox/<string:address>/password", methods=["POST"])
    async def change_password(self, request: IRequest, address: str) -> bytes:
        mailbox = self._mailbox(address)
        body = json_body(request)
        granted = await self.access.change_password(
            mailbox,
            string_field(body, "password"),
            string_field(body, "new_password"),
            credentials(request).client,
        )
        return json_response(
            request, _token_json(mailbox, granted, "Password changed; older tokens are revoked")
        )

    @app.route("/api/mailbox/<string:address>/release", methods=["POST"])
    async def release(self, request: IRequest, address: str) -> bytes:
        mailbox = self._mailbox(address)
        await self.access.release(mailbox, credentials(request, json_body(request)))
        return json_response(
            request, {"message": "Mailbox released successfully", "address": mailbox}
        )
