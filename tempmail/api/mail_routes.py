"""
The mail routes: health, mailbox listings and single messages.

Paths and field names are documented in C{docs/API.md}; clients rely on them.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from twisted.logger import Logger
from twisted.web.iweb import IRequest

from tempmail.access import AccessDenied
from tempmail.api.requests import (
    bool_query,
    credentials,
    int_query,
    json_body,
    query,
    whole_number,
)
from tempmail.api.responses import ApiError, json_response, mail_content_response
from tempmail.api.routing import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    UUID_PATTERN,
    RouteBase,
    route_group_app,
)
from tempmail.api.serialise import message_json, page_json, summary_json
from tempmail.interfaces import UnknownCursor
from tempmail.models import MailboxGrant, StoredMessage

log = Logger()

_NO_SUCH_MESSAGE = "no such email, or its mailbox is locked"


def _content_disposition(filename: str) -> str:
    """
    C{attachment} with an ASCII fallback name and the exact UTF-8 one.
    """
    fallback = re.sub(r"[^A-Za-z0-9._ -]", "_", filename) or "attachment"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


app = route_group_app()


class MailRoutes(RouteBase):
    """
    Reading and deleting mail.
    """

    app = app

    async def _open_message(self, request: IRequest, id: str) -> MailboxGrant:
        """
        Check the client may use message C{id}; return the grant for its
        mailbox.

        Without the admin token, an unknown id is refused exactly like a
        message in a locked mailbox, so the answer never tells whether
        another mailbox's message exists.
        """
        presented = credentials(request)
        mailbox = await self.store.mailbox_of(id) if UUID_PATTERN.match(id) else None
        if mailbox is None:
            if self.access.is_admin(presented):
                raise ApiError(404, "Email not found")
            raise AccessDenied(_NO_SUCH_MESSAGE)
        try:
            return await self.access.authorize(mailbox, presented)
        except AccessDenied:
            raise AccessDenied(_NO_SUCH_MESSAGE) from None

    async def _message(self, request: IRequest, id: str) -> tuple[StoredMessage, MailboxGrant]:
        grant = await self._open_message(request, id)
        found = await self.store.get_messages([id])
        if not found:
            raise ApiError(404, "Email not found")
        return found[0], grant

    # Health and the operator's listing

    @app.route("/api/health", methods=["GET"])
    async def health(self, request: IRequest) -> bytes:
        try:
            await self.store.check_health()
        except Exception as e:
            log.warn("health check: storage failed: {error}", error=e)
            return json_response(
                request,
                {"status": "error", "storage": "error", "error": "storage unavailable"},
                503,
            )
        return json_response(request, {"status": "ok", "storage": "ok"})

    # Mailboxes

    @app.route("/api/emails/<string:address>", methods=["GET"])
    async def list_emails(self, request: IRequest, address: str) -> bytes:
        mailbox = (await self._open_mailbox(request, address)).mailbox
        limit = int_query(request, "limit", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        offset = int_query(request, "offset", 0, 0, 2**31)
        full = bool_query(request, "full")
        try:
            page = await self.store.list_messages(mailbox, limit, offset, query(request, "before"))
        except UnknownCursor:
            raise ApiError(400, "before must be the id of a message in this mailbox") from None
        if full:
            messages = await self.store.get_messages([s.id for s in page.summaries])
            emails = [message_json(m) for m in messages]
        else:
            emails = [summary_json(s) for s in page.summaries]
        return json_response(request, page_json(page, emails))

    @app.route("/api/emails/<string:address>", methods=["DELETE"])
    async def empty_mailbox(self, request: IRequest, address: str) -> bytes:
        grant = await self._open_mailbox(request, address)
        deleted = await self.store.empty_mailbox(grant)
        return json_response(
            request,
            {"message": "Mailbox emptied", "address": grant.mailbox, "deleted": len(deleted)},
        )

    # Messages

    @app.route("/api/email/<string:id>", methods=["GET"])
    async def get_email(self, request: IRequest, id: str) -> bytes:
        message, grant = await self._message(request, id)
        body = message_json(message)
        # HEAD reaches this handler too, but only reading marks a message.
        reading = request.method == b"GET" and not bool_query(request, "peek")
        if reading and not message.summary.seen:
            await self.store.set_seen(grant, id, True)
            body["seen"] = True
        return json_response(request, body)

    @app.route("/api/email/<string:id>", methods=["PATCH"])
    async def mark_email(self, request: IRequest, id: str) -> bytes:
        seen = json_body(request).get("seen")
        if not isinstance(seen, bool):
            raise ApiError(400, "seen is required and must be true or false")
        grant = await self._open_message(request, id)
        if await self.store.set_seen(grant, id, seen) is None:
            raise ApiError(404, "Email not found")
        return json_response(request, {"id": id, "seen": seen})

    @app.route("/api/email/<string:id>", methods=["DELETE"])
    async def delete_email(self, request: IRequest, id: str) -> bytes:
        if await self.store.delete_message(await self._open_message(request, id), id) is None:
            raise ApiError(404, "Email not found")
        return json_response(request, {"message": "Email deleted successfully"})

    @app.route("/api/email/<string:id>/raw", methods=["GET"])
    async def get_raw(self, request: IRequest, id: str) -> bytes:
        await self._open_message(request, id)
        raw = await self.store.get_raw(id)
        if raw is None:
            raise ApiError(404, "Email not found")
        return mail_content_response(request, raw, "message/rfc822")

    @app.route("/api/email/<string:id>/attachments/<string:index>", methods=["GET"])
    async def get_attachment(self, request: IRequest, id: str, index: str) -> bytes:
        await self._open_message(request, id)
        number = whole_number(index)
        found = await self.store.get_attachment(id, number) if number is not None else None
        if found is None:
            raise ApiError(404, "Attachment not found")
        return mail_content_response(
            request,
            found.content,
            found.info.content_type,
            _content_disposition(found.info.filename),
        )
