"""
The routes that show a message's HTML safely in a browser: the sandboxed
HTML view, the C{cid:} parts it refers to, and the short-lived view
tickets that let a sandboxed frame, which cannot send an C{Authorization}
header, load one message of a locked mailbox.

The HTML is never cleaned: it is served as sent, but under a
C{Content-Security-Policy} that sandboxes it (no script, no same-origin
access, no forms), allows only inline styles, and allows images only from
C{data:} URLs and this message's own parts until the reader asks for
remote images.  The few rewrites below (C{cid:} references, links opening
in a new tab, inert C{<meta>} and C{<link>}) make the page work better;
safety rests on the policy, not on them.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import re
import secrets
from datetime import UTC, datetime
from urllib.parse import quote, unquote

from twisted.web.iweb import IRequest

from tempmail.access import AccessDenied, MailboxAccess
from tempmail.api.mail_routes import MailRoutes
from tempmail.api.requests import query, whole_number
from tempmail.api.responses import ApiError, json_response
from tempmail.api.routing import UUID_PATTERN, route_group_app
from tempmail.interfaces import IMailStore
from tempmail.times import rfc3339

TICKET_LIFETIME = 600.0
"""Seconds a view ticket stays valid."""

_NO_SUCH_MESSAGE = "no such email, or its mailbox is locked"
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")
_CID_REFERENCE = re.compile(r"""cid:([^"'\s)>]+)""", re.IGNORECASE)
_ANCHOR = re.compile(r"<a(?=[\s/>])", re.IGNORECASE)
_INERT = re.compile(r"<(/?)(meta|link)(?=[\s/>])", re.IGNORECASE)
# Mail is written for a white page: keep it so in a dark-themed app.
_PREAMBLE = (
    '<!DOCTYPE html><html><head><meta charset="utf-8">'
    '<meta name="referrer" content="no-referrer"><base target="_blank">'
    "<style>:root{color-scheme:light}html{background:#fff;color:#000;"
    "font:15px/1.5 system-ui,sans-serif}body{margin:12px;overflow-wrap:anywhere}"
    "img{max-width:100%;height:auto}pre{white-space:pre-wrap}</style></head><body>"
)

app = route_group_app()


def html_policy(host: str | None, message_id: str, remote_images: bool) -> str:
    """
    The C{Content-Security-Policy} of one message's HTML view.

    @param host: the request's C{Host}, naming where the message's parts
        are served; C{None} (or a malformed value) allows no parts.
    @param message_id: the message whose parts may be shown.
    @param remote_images: whether images from any web address are allowed.
    """
    images = ["data:"]
    if host is not None and _HOST.match(host):
        # A scheme-less source matches the page's own scheme: the parts of
        # this message only, on this server.
        images.append(f"{host}/api/email/{message_id}/cid/")
    if remote_images:
        images += ["http:", "https:"]
    return (
        "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; "
        f"style-src 'unsafe-inline'; img-src {' '.join(images)}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
    )


def render_html(message_id: str, body: str, text: str, ticket: str | None) -> str:
    """
    The document the HTML view serves: the message's HTML (or its text,
    escaped, when it has no HTML part) after the preamble, with C{cid:}
    references turned into this message's part URLs.
    """
    if not body:
        return f"{_PREAMBLE}<pre>{html.escape(text)}</pre>"
    suffix = f"?ticket={quote(ticket, safe='')}" if ticket else ""

    def part_url(match: re.Match[str]) -> str:
        content_id = quote(unquote(match.group(1)), safe="")
        return f"/api/email/{message_id}/cid/{content_id}{suffix}"

    body = _CID_REFERENCE.sub(part_url, body)
    body = _ANCHOR.sub('<a target="_blank" rel="noopener noreferrer"', body)
    body = _INERT.sub(r"<\1x-inert-\2", body)
    return _PREAMBLE + body


class ContentRoutes(MailRoutes):
    """
    C{/api/email/{id}/html}, C{/api/email/{id}/cid/{content_id}} and
    C{POST /api/email/{id}/view-ticket}.  They use the same lock check as
    every route by message id: an unknown id is refused like a locked one.
    """

    app = app

    def __init__(self, store: IMailStore, access: MailboxAccess, domain: str) -> None:
        super().__init__(store, access, domain)
        # Tickets are valid for this process only: a restart makes the page
        # ask again, which costs one request.
        self._key = secrets.token_bytes(32)

    def _signature(self, message_id: str, expires: int) -> str:
        mac = hmac.new(self._key, f"{message_id}.{expires}".encode(), hashlib.sha256)
        return mac.hexdigest()

    def issue_ticket(self, message_id: str) -> tuple[str, int]:
        """
        A ticket for C{message_id} and its expiry (seconds since the epoch).
        """
        expires = int(self.access.clock.seconds() + TICKET_LIFETIME)
        return f"{expires}.{self._signature(message_id, expires)}", expires

    def ticket_is_valid(self, message_id: str, ticket: str) -> bool:
        """
        Whether C{ticket} was issued here for C{message_id} and has not expired.
        """
        expires_text, _, signature = ticket.partition(".")
        expires = whole_number(expires_text)
        if expires is None or expires < self.access.clock.seconds():
            return False
        return hmac.compare_digest(signature, self._signature(message_id, expires))

    async def _open_for_view(self, request: IRequest, id: str) -> str | None:
        """
        Check the client may view message C{id}, by a ticket or by the usual
        credentials; return the ticket it used, if any.
        """
        ticket = query(request, "ticket")
        if ticket is None:
            await self._open_message(request, id)
            return None
        known = UUID_PATTERN.match(id) and await self.store.mailbox_of(id) is not None
        if not known or not self.ticket_is_valid(id, ticket):
            raise AccessDenied(_NO_SUCH_MESSAGE)
        return ticket

    @app.route("/api/email/<string:id>/view-ticket", methods=["POST"])
    async def view_ticket(self, request: IRequest, id: str) -> bytes:
        await self._open_message(request, id)
        ticket, expires = self.issue_ticket(id)
        return json_response(
            request,
            {
                "ticket": ticket,
                "expires_at": rfc3339(datetime.fromtimestamp(expires, UTC)),
                "html_url": f"/api/email/{id}/html?ticket={quote(ticket, safe='')}",
            },
        )

    @app.route("/api/email/<string:id>/html", methods=["GET"])
    async def message_html(self, request: IRequest, id: str) -> bytes:
        ticket = await self._open_for_view(request, id)
        remote = query(request, "images") == "remote"
        found = await self.store.get_messages([id])
        if not found:
            raise ApiError(404, "Email not found")
        message = found[0]
        content = render_html(id, message.html, message.text, ticket).encode("utf-8")
        host = request.getHeader(b"host")
        policy = html_policy(host.decode("latin-1") if host else None, id, remote)
        request.setResponseCode(200)
        request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
        request.setHeader(b"Content-Length", str(len(content)).encode())
        request.setHeader(b"Content-Security-Policy", policy.encode("latin-1"))
        request.setHeader(b"Referrer-Policy", b"no-referrer")
        request.setHeader(b"X-Content-Type-Options", b"nosniff")
        request.setHeader(b"X-DNS-Prefetch-Control", b"off")
        request.setHeader(b"Cache-Control", b"private, no-store")
        return content

    @app.route("/api/email/<string:id>/cid/<path:content_id>", methods=["GET"])
    async def message_part(self, request: IRequest, id: str, content_id: str) -> bytes:
        await self._open_for_view(request, id)
        found = await self.store.get_messages([id])
        if not found:
            raise ApiError(404, "Email not found")
        wanted = content_id.strip("<>")
        info = next((a for a in found[0].attachments if a.content_id == wanted), None)
        part = await self.store.get_attachment(id, info.index) if info is not None else None
        if part is None:
            raise ApiError(404, "Attachment not found")
        kind = part.info.content_type
        request.setResponseCode(200)
        request.setHeader(b"Content-Type", kind.encode("ascii", "replace"))
        request.setHeader(b"Content-Length", str(len(part.content)).encode())
        request.setHeader(b"X-Content-Type-Options", b"nosniff")
        request.setHeader(b"Content-Security-Policy", b"sandbox; default-src 'none'")
        request.setHeader(b"Cache-Control", b"private, no-store")
        # The sandboxed frame that shows the part has an opaque origin, which
        # is never "same-site": a stricter policy would block every inline
        # image.  The route needs a ticket or a bearer token, never ambient
        # credentials, so there is nothing for a narrower policy to protect.
        request.setHeader(b"Cross-Origin-Resource-Policy", b"cross-origin")
        disposition = b"inline" if kind.startswith("image/") else b"attachment"
        request.setHeader(b"Content-Disposition", disposition)
        return part.content
