"""
The webhook routes: create, list, read, change, delete, test, and the
delivery log, each under its mailbox's lock.  See C{docs/WEBHOOKS.md}.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from twisted.web.iweb import IRequest

from tempmail.access import AccessDenied, MailboxAccess
from tempmail.api.requests import credentials, int_query, json_body
from tempmail.api.responses import ApiError, json_response
from tempmail.api.routing import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    UUID_PATTERN,
    RouteBase,
    route_group_app,
)
from tempmail.api.serialise import attempt_json, webhook_json
from tempmail.interfaces import IMailStore
from tempmail.models import MailboxGrant, Webhook, WebhookChange
from tempmail.times import clock_now
from tempmail.webhooks.payloads import parse_events, ping_payload
from tempmail.webhooks.sender import WebhookSender
from tempmail.webhooks.targets import TargetChecker, TargetRefused

_NO_SUCH_WEBHOOK = "no such webhook, or its mailbox is locked"


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


app = route_group_app()


class WebhookRoutes(RouteBase):
    """
    A mailbox's webhooks.
    """

    app = app

    def __init__(
        self,
        store: IMailStore,
        access: MailboxAccess,
        domain: str,
        webhooks: WebhookSettings | None,
    ) -> None:
        super().__init__(store, access, domain)
        self.webhooks = webhooks

    async def _open_webhook(
        self, request: IRequest, id: str, body: dict[str, Any] | None = None
    ) -> tuple[Webhook, MailboxGrant]:
        """
        The webhook C{id} and the grant for its mailbox, if the client may
        use that mailbox; unknown ids are refused like locked ones (see
        L{_open_message}).
        """
        presented = credentials(request, body)
        hook = await self.store.get_webhook(id) if UUID_PATTERN.match(id) else None
        if hook is None:
            if self.access.is_admin(presented):
                raise ApiError(404, "Webhook not found")
            raise AccessDenied(_NO_SUCH_WEBHOOK)
        try:
            grant = await self.access.authorize(hook.mailbox, presented)
        except AccessDenied:
            raise AccessDenied(_NO_SUCH_WEBHOOK) from None
        return hook, grant

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
        mailbox = self._mailbox(address)
        events = self._events(body.get("events", ["arrival"]))
        # The target is checked (a DNS lookup, as slow as its owner likes)
        # before the lock, and the insert is conditional on the lock the
        # check saw: a claim that lands in between refuses the insert.
        url = await self._checked_url(body.get("webhook_url"))
        # The lock of the normalised mailbox: Bob, bob and bob@DOMAIN are one.
        grant = await self.access.authorize(mailbox, credentials(request, body))
        hook = await self.store.create_webhook(
            grant, url, events, new_secret(), settings.max_per_mailbox
        )
        if hook is None:
            raise ApiError(400, f"a mailbox can have at most {settings.max_per_mailbox} webhooks")
        return json_response(request, webhook_json(hook, with_secret=True))

    @app.route("/api/webhooks/<string:address>", methods=["GET"])
    async def list_webhooks(self, request: IRequest, address: str) -> bytes:
        mailbox = (await self._open_mailbox(request, address)).mailbox
        hooks = await self.store.list_webhooks(mailbox)
        return json_response(request, {"webhooks": [webhook_json(h) for h in hooks]})

    @app.route("/api/webhook/<string:id>", methods=["GET"])
    async def get_webhook(self, request: IRequest, id: str) -> bytes:
        hook, _ = await self._open_webhook(request, id)
        return json_response(request, webhook_json(hook))

    @app.route("/api/webhook/<string:id>", methods=["PUT"])
    async def update_webhook(self, request: IRequest, id: str) -> bytes:
        body = json_body(request)
        # As at creation: the slow target check first, then the lock check
        # whose grant the update is conditional on.
        url = None if "webhook_url" not in body else await self._checked_url(body["webhook_url"])
        hook, grant = await self._open_webhook(request, id, body)
        moved = body.get("mailbox_address")
        if moved is not None and (
            not isinstance(moved, str) or self._mailbox(moved) != hook.mailbox
        ):
            raise ApiError(400, "a webhook cannot move to another mailbox")
        enabled = body.get("enabled")
        if enabled is not None and not isinstance(enabled, bool):
            raise ApiError(400, "enabled must be true or false")
        change = WebhookChange(
            url=url,
            events=None if "events" not in body else self._events(body["events"]),
            enabled=enabled,
        )
        updated = await self.store.update_webhook(grant, id, change)
        if updated is None:
            raise ApiError(404, "Webhook not found")
        return json_response(request, webhook_json(updated))

    @app.route("/api/webhook/<string:id>", methods=["DELETE"])
    async def delete_webhook(self, request: IRequest, id: str) -> bytes:
        hook, grant = await self._open_webhook(request, id)
        await self.store.delete_webhook(grant, hook.id)
        return json_response(request, {"message": "Webhook deleted successfully"})

    @app.route("/api/webhook/<string:id>/test", methods=["POST"])
    async def test_webhook(self, request: IRequest, id: str) -> bytes:
        sender = self._webhooks_enabled().sender
        hook, _ = await self._open_webhook(request, id)
        delivery_id = str(uuid.uuid4())
        payload = ping_payload(hook.mailbox, hook.id, delivery_id, clock_now(self.access.clock))
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
        hook, _ = await self._open_webhook(request, id)
        limit = int_query(request, "limit", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        attempts = await self.store.list_attempts(hook.id, limit)
        return json_response(request, {"deliveries": [attempt_json(a) for a in attempts]})
