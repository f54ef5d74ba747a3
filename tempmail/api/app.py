"""
The REST API and static web UI, as one Klein application.

Paths and field names are the original server's; see C{docs/API.md}.  Every
route that touches a mailbox's mail asks L{MailboxAccess.authorize} first,
so a claimed mailbox is locked on every route.
"""

from __future__ import annotations

import math
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from klein import Klein
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource
from twisted.web.static import File
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from tempmail.access import (
    AccessDenied,
    AlreadyClaimed,
    GrantedToken,
    MailboxAccess,
    TooManyFailures,
    WeakPassword,
)
from tempmail.addresses import InvalidAddress, normalise_address
from tempmail.api.requests import (
    bool_query,
    credentials,
    int_query,
    json_body,
    query,
    string_field,
)
from tempmail.api.responses import ApiError, error_response, json_response, mail_content_response
from tempmail.api.serialise import (
    attempt_json,
    mailbox_json,
    message_json,
    page_json,
    summary_json,
    webhook_json,
)
from tempmail.api.websocket import MailboxSocketFactory
from tempmail.interfaces import IMailStore, UnknownCursor
from tempmail.models import StoredMessage, Webhook, WebhookChange
from tempmail.times import rfc3339
from tempmail.webhooks.payloads import parse_events, ping_payload
from tempmail.webhooks.sender import WebhookSender
from tempmail.webhooks.targets import TargetChecker, TargetRefused

log = Logger()

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
_UUID = _MESSAGE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_NO_SUCH_MESSAGE = "no such email, or its mailbox is locked"
_NO_SUCH_WEBHOOK = "no such webhook, or its mailbox is locked"
# Not "Basic": a browser would pop up its own login dialog for the web UI.
_CHALLENGE = b'Bearer realm="tempmail"'


def _content_disposition(filename: str) -> str:
    """
    C{attachment} with an ASCII fallback name and the exact UTF-8 one.
    """
    fallback = re.sub(r"[^A-Za-z0-9._ -]", "_", filename) or "attachment"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _token_json(mailbox: str, granted: GrantedToken, message: str) -> dict[str, str]:
    return {
        "message": message,
        "address": mailbox,
        "token": granted.token,
        "expires_at": rfc3339(granted.expires_at),
    }


@dataclass(frozen=True)
class WebhookSettings:
    """
    What the webhook routes need: where targets are checked, how test
    events are sent, and how many webhooks a mailbox may have.
    """

    checker: TargetChecker
    sender: WebhookSender
    max_per_mailbox: int = 20


def new_secret() -> str:
    """
    A webhook's signing secret.
    """
    return "whsec_" + secrets.token_urlsafe(32)


class MailAPI:
    """
    The HTTP application: REST under C{/api}, the web UI everywhere else.
    """

    app = Klein()

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

    def _mailbox(self, address: str) -> str:
        try:
            return normalise_address(address, self.domain)
        except InvalidAddress as e:
            raise ApiError(400, f"invalid address: {e}") from None

    async def _open_mailbox(self, request: IRequest, address: str) -> str:
        """
        Normalise C{address} and check the client may use that mailbox.
        """
        mailbox = self._mailbox(address)
        await self.access.authorize(mailbox, credentials(request))
        return mailbox

    async def _open_message(self, request: IRequest, id: str) -> str:
        """
        Check the client may use message C{id}; return the id.

        Without the admin token, an unknown id is refused exactly like a
        message in a locked mailbox, so the answer never tells whether
        another mailbox's message exists.
        """
        presented = credentials(request)
        mailbox = await self.store.mailbox_of(id) if _MESSAGE_ID.match(id) else None
        if mailbox is None:
            if self.access.is_admin(presented):
                raise ApiError(404, "Email not found")
            raise AccessDenied(_NO_SUCH_MESSAGE)
        try:
            await self.access.authorize(mailbox, presented)
        except AccessDenied:
            raise AccessDenied(_NO_SUCH_MESSAGE) from None
        return id

    async def _message(self, request: IRequest, id: str) -> StoredMessage:
        found = await self.store.get_messages([await self._open_message(request, id)])
        if not found:
            raise ApiError(404, "Email not found")
        return found[0]

    # Errors

    @app.handle_errors(ApiError)
    def api_error(self, request: IRequest, failure: Failure) -> bytes:
        error = failure.value
        assert isinstance(error, ApiError)
        return error_response(request, error.status, error.message)

    @app.handle_errors(AccessDenied)
    def access_denied(self, request: IRequest, failure: Failure) -> bytes:
        request.setHeader(b"WWW-Authenticate", _CHALLENGE)
        return error_response(request, 401, str(failure.value))

    @app.handle_errors(TooManyFailures)
    def too_many_failures(self, request: IRequest, failure: Failure) -> bytes:
        error = failure.value
        assert isinstance(error, TooManyFailures)
        seconds = math.ceil(error.retry_after)
        request.setHeader(b"Retry-After", str(seconds).encode())
        return error_response(request, 429, f"too many wrong passwords; retry in {seconds} s")

    @app.handle_errors(AlreadyClaimed)
    def already_claimed(self, request: IRequest, failure: Failure) -> bytes:
        return error_response(request, 409, "Mailbox is already claimed and locked")

    @app.handle_errors(WeakPassword)
    def weak_password(self, request: IRequest, failure: Failure) -> bytes:
        return error_response(request, 400, str(failure.value))

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

    @app.route("/api/mailboxes", methods=["GET"])
    async def list_mailboxes(self, request: IRequest) -> bytes:
        if not self.access.is_admin(credentials(request)):
            raise AccessDenied("listing mailboxes needs the admin token")
        limit = int_query(request, "limit", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        page = await self.store.list_mailboxes(limit, int_query(request, "offset", 0, 0, 2**31))
        return json_response(
            request, {"mailboxes": [mailbox_json(m) for m in page.mailboxes], "total": page.total}
        )

    # Claims

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

    # Mailboxes

    @app.route("/api/emails/<string:address>", methods=["GET"])
    async def list_emails(self, request: IRequest, address: str) -> bytes:
        mailbox = await self._open_mailbox(request, address)
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
        mailbox = await self._open_mailbox(request, address)
        deleted = await self.store.empty_mailbox(mailbox)
        return json_response(
            request, {"message": "Mailbox emptied", "address": mailbox, "deleted": len(deleted)}
        )

    # Messages

    @app.route("/api/email/<string:id>", methods=["GET"])
    async def get_email(self, request: IRequest, id: str) -> bytes:
        message = await self._message(request, id)
        body = message_json(message)
        # HEAD reaches this handler too, but only reading marks a message.
        reading = request.method == b"GET" and not bool_query(request, "peek")
        if reading and not message.summary.seen:
            await self.store.set_seen(id, True)
            body["seen"] = True
        return json_response(request, body)

    @app.route("/api/email/<string:id>", methods=["PATCH"])
    async def mark_email(self, request: IRequest, id: str) -> bytes:
        seen = json_body(request).get("seen")
        if not isinstance(seen, bool):
            raise ApiError(400, "seen is required and must be true or false")
        await self._open_message(request, id)
        if await self.store.set_seen(id, seen) is None:
            raise ApiError(404, "Email not found")
        return json_response(request, {"id": id, "seen": seen})

    @app.route("/api/email/<string:id>", methods=["DELETE"])
    async def delete_email(self, request: IRequest, id: str) -> bytes:
        if await self.store.delete_message(await self._open_message(request, id)) is None:
            raise ApiError(404, "Email not found")
        return json_response(request, {"message": "Email deleted successfully"})

    @app.route("/api/email/<string:id>/raw", methods=["GET"])
    async def get_raw(self, request: IRequest, id: str) -> bytes:
        raw = await self.store.get_raw(await self._open_message(request, id))
        if raw is None:
            raise ApiError(404, "Email not found")
        return mail_content_response(request, raw, "message/rfc822")

    @app.route("/api/email/<string:id>/attachments/<string:index>", methods=["GET"])
    async def get_attachment(self, request: IRequest, id: str, index: str) -> bytes:
        await self._open_message(request, id)
        found = await self.store.get_attachment(id, int(index)) if index.isdigit() else None
        if found is None:
            raise ApiError(404, "Attachment not found")
        return mail_content_response(
            request,
            found.content,
            found.info.content_type,
            _content_disposition(found.info.filename),
        )

    # Webhooks

    async def _open_webhook(
        self, request: IRequest, id: str, body: dict[str, Any] | None = None
    ) -> Webhook:
        """
        The webhook C{id}, if the client may use its mailbox; unknown ids
        are refused like locked ones (see L{_open_message}).
        """
        presented = credentials(request, body)
        hook = await self.store.get_webhook(id) if _UUID.match(id) else None
        if hook is None:
            if self.access.is_admin(presented):
                raise ApiError(404, "Webhook not found")
            raise AccessDenied(_NO_SUCH_WEBHOOK)
        try:
            await self.access.authorize(hook.mailbox, presented)
        except AccessDenied:
            raise AccessDenied(_NO_SUCH_WEBHOOK) from None
        return hook

    def _webhooks_enabled(self) -> WebhookSettings:
        if self.webhooks is None:
            raise ApiError(404, "webhooks are not enabled")
        return self.webhooks

    async def _checked_url(self, text: Any) -> str:
        if not isinstance(text, str):
            raise ApiError(400, "webhook_url is required and must be a string")
        try:
            return (await self._webhooks_enabled().checker.check(text)).url
        except TargetRefused as e:
            raise ApiError(400, f"webhook_url refused: {e}") from None

    @staticmethod
    def _events(values: Any) -> tuple[str, ...]:
        try:
            return parse_events(values)
        except ValueError as e:
            raise ApiError(400, str(e)) from None

    @app.route("/api/webhooks", methods=["POST"])
    async def create_webhook(self, request: IRequest) -> bytes:
        settings = self._webhooks_enabled()
        body = json_body(request)
        address = body.get("mailbox_address")
        if not isinstance(address, str):
            raise ApiError(400, "mailbox_address is required and must be a string")
        # The lock of the normalised mailbox: Bob, bob and bob@DOMAIN are one.
        mailbox = self._mailbox(address)
        await self.access.authorize(mailbox, credentials(request, body))
        events = self._events(body.get("events", ["arrival"]))
        url = await self._checked_url(body.get("webhook_url"))
        hook = await self.store.create_webhook(
            mailbox, url, events, new_secret(), settings.max_per_mailbox
        )
        if hook is None:
            raise ApiError(400, f"a mailbox can have at most {settings.max_per_mailbox} webhooks")
        return json_response(request, webhook_json(hook, with_secret=True))

    @app.route("/api/webhooks/<string:address>", methods=["GET"])
    async def list_webhooks(self, request: IRequest, address: str) -> bytes:
        mailbox = await self._open_mailbox(request, address)
        hooks = await self.store.list_webhooks(mailbox)
        return json_response(request, {"webhooks": [webhook_json(h) for h in hooks]})

    @app.route("/api/webhook/<string:id>", methods=["GET"])
    async def get_webhook(self, request: IRequest, id: str) -> bytes:
        return json_response(request, webhook_json(await self._open_webhook(request, id)))

    @app.route("/api/webhook/<string:id>", methods=["PUT"])
    async def update_webhook(self, request: IRequest, id: str) -> bytes:
        body = json_body(request)
        hook = await self._open_webhook(request, id, body)
        moved = body.get("mailbox_address")
        if moved is not None and (
            not isinstance(moved, str) or self._mailbox(moved) != hook.mailbox
        ):
            raise ApiError(400, "a webhook cannot move to another mailbox")
        enabled = body.get("enabled")
        if enabled is not None and not isinstance(enabled, bool):
            raise ApiError(400, "enabled must be true or false")
        change = WebhookChange(
            url=None if "webhook_url" not in body else await self._checked_url(body["webhook_url"]),
            events=None if "events" not in body else self._events(body["events"]),
            enabled=enabled,
        )
        updated = await self.store.update_webhook(id, change)
        if updated is None:
            raise ApiError(404, "Webhook not found")
        return json_response(request, webhook_json(updated))

    @app.route("/api/webhook/<string:id>", methods=["DELETE"])
    async def delete_webhook(self, request: IRequest, id: str) -> bytes:
        hook = await self._open_webhook(request, id)
        await self.store.delete_webhook(hook.id)
        return json_response(request, {"message": "Webhook deleted successfully"})

    @app.route("/api/webhook/<string:id>/test", methods=["POST"])
    async def test_webhook(self, request: IRequest, id: str) -> bytes:
        sender = self._webhooks_enabled().sender
        hook = await self._open_webhook(request, id)
        delivery_id = str(uuid.uuid4())
        payload = ping_payload(hook.mailbox, hook.id, delivery_id, datetime.now(UTC))
        result = await sender.send(hook.url, hook.secret, "test", delivery_id, payload)
        return json_response(
            request,
            {
                "success": result.status is not None and 200 <= result.status < 300,
                "status": result.status,
                "error": result.error,
                "duration_ms": result.duration_ms,
            },
        )

    @app.route("/api/webhook/<string:id>/deliveries", methods=["GET"])
    async def webhook_deliveries(self, request: IRequest, id: str) -> bytes:
        hook = await self._open_webhook(request, id)
        limit = int_query(request, "limit", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        attempts = await self.store.list_attempts(hook.id, limit)
        return json_response(request, {"deliveries": [attempt_json(a) for a in attempts]})

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
