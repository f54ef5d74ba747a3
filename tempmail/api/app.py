"""
The REST API and static web UI, as one Klein application.

Paths and field names are the original server's; see C{docs/API.md}.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

from klein import Klein
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource
from twisted.web.static import File
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from tempmail.addresses import InvalidAddress, normalise_address
from tempmail.api.responses import ApiError, error_response, json_response, mail_content_response
from tempmail.api.serialise import message_json, page_json, summary_json
from tempmail.interfaces import IMailStore, UnknownCursor
from tempmail.models import StoredMessage
from tempmail.values import parse_bool

log = Logger()

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
_MESSAGE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _query(request: IRequest, name: str) -> str | None:
    values = request.args.get(name.encode())
    if not values:
        return None
    return values[-1].decode("utf-8", "replace")


def _int_query(request: IRequest, name: str, default: int, low: int, high: int) -> int:
    text = _query(request, name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise ApiError(400, f"{name} must be a whole number from {low} to {high}")
    return int(text)


def _bool_query(request: IRequest, name: str) -> bool:
    text = _query(request, name)
    if text is None:
        return False
    try:
        return parse_bool(text)
    except ValueError:
        raise ApiError(400, f"{name} must be true or false") from None


def _content_disposition(filename: str) -> str:
    """
    C{attachment} with an ASCII fallback name and the exact UTF-8 one.
    """
    fallback = re.sub(r"[^A-Za-z0-9._ -]", "_", filename) or "attachment"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class MailAPI:
    """
    The HTTP application: REST under C{/api}, the web UI everywhere else.
    """

    app = Klein()

    def __init__(self, store: IMailStore, domain: str, web_root: Path) -> None:
        self.store = store
        self.domain = domain
        self.web_root = web_root

    def resource(self) -> IResource:
        """
        The twisted.web resource that serves this application.
        """
        return self.app.resource()

    def _mailbox(self, address: str) -> str:
        try:
            return normalise_address(address, self.domain)
        except InvalidAddress as e:
            raise ApiError(400, f"invalid address: {e}") from None

    async def _message(self, id: str) -> StoredMessage:
        if _MESSAGE_ID.match(id):
            found = await self.store.get_messages([id])
            if found:
                return found[0]
        raise ApiError(404, "Email not found")

    # Errors

    @app.handle_errors(ApiError)
    def api_error(self, request: IRequest, failure: Failure) -> bytes:
        error = failure.value
        assert isinstance(error, ApiError)
        return error_response(request, error.status, error.message)

    @app.handle_errors(HTTPException)
    def http_error(self, request: IRequest, failure: Failure) -> bytes:
        error = failure.value
        assert isinstance(error, HTTPException)
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            request.setHeader(b"Allow", ", ".join(error.valid_methods).encode())
        return error_response(request, error.code or 500, error.name)

    @app.handle_errors(Exception)
    def internal_error(self, request: IRequest, failure: Failure) -> bytes:
        log.failure("unhandled error serving {uri}", failure, uri=request.uri)
        return error_response(request, 500, "internal server error")

    # Health

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
        mailbox = self._mailbox(address)
        limit = _int_query(request, "limit", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        offset = _int_query(request, "offset", 0, 0, 2**31)
        before = _query(request, "before")
        full = _bool_query(request, "full")
        try:
            page = await self.store.list_messages(mailbox, limit, offset, before)
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
        mailbox = self._mailbox(address)
        deleted = await self.store.empty_mailbox(mailbox)
        return json_response(
            request, {"message": "Mailbox emptied", "address": mailbox, "deleted": deleted}
        )

    # Messages

    @app.route("/api/email/<string:id>", methods=["GET"])
    async def get_email(self, request: IRequest, id: str) -> bytes:
        message = await self._message(id)
        body = message_json(message)
        if not _bool_query(request, "peek") and not message.summary.seen:
            await self.store.set_seen(id, True)
            body["seen"] = True
        return json_response(request, body)

    @app.route("/api/email/<string:id>", methods=["DELETE"])
    async def delete_email(self, request: IRequest, id: str) -> bytes:
        if not (_MESSAGE_ID.match(id) and await self.store.delete_message(id)):
            raise ApiError(404, "Email not found")
        return json_response(request, {"message": "Email deleted successfully"})

    @app.route("/api/email/<string:id>/raw", methods=["GET"])
    async def get_raw(self, request: IRequest, id: str) -> bytes:
        raw = await self.store.get_raw(id) if _MESSAGE_ID.match(id) else None
        if raw is None:
            raise ApiError(404, "Email not found")
        return mail_content_response(request, raw, "message/rfc822")

    @app.route("/api/email/<string:id>/attachments/<string:index>", methods=["GET"])
    async def get_attachment(self, request: IRequest, id: str, index: str) -> bytes:
        found = None
        if _MESSAGE_ID.match(id) and index.isdigit():
            found = await self.store.get_attachment(id, int(index))
        if found is None:
            raise ApiError(404, "Attachment not found")
        return mail_content_response(
            request,
            found.content,
            found.info.content_type,
            _content_disposition(found.info.filename),
        )

    # Everything else

    # GET and HEAD only, so that a known API path asked with another method
    # gets 405 rather than falling through to the static files.
    @app.route("/", branch=True, methods=["GET", "HEAD"])
    def web_ui(self, request: IRequest) -> IResource:
        if request.path.startswith(b"/api/"):
            raise ApiError(404, "no such API route")
        return File(str(self.web_root))
