"""
The webhook tools: C{create_webhook}, C{list_webhooks}, C{delete_webhook}
and C{test_webhook}, under the mailbox's lock as their REST routes are.
"""

from __future__ import annotations

import uuid

from tempmail.api.serialise import webhook_json
from tempmail.api.webhook_routes import WebhookSettings, new_secret
from tempmail.mcp import schemas as s
from tempmail.mcp.tools import (
    Tool,
    ToolCall,
    ToolFailure,
    ToolGroup,
    ToolResult,
    mailbox_name,
    object_schema,
    open_mailbox,
    open_webhook,
)
from tempmail.outbox import EVENT_NAMES
from tempmail.times import clock_now
from tempmail.webhooks.payloads import parse_events, ping_payload
from tempmail.webhooks.targets import TargetRefused


class WebhookTools(ToolGroup):
    """
    A mailbox's webhooks.
    """

    def tools(self) -> list[Tool]:
        return [
            Tool(
                "create_webhook",
                "Create a webhook",
                "Have events of a mailbox POSTed, signed, to a URL. The answer carries the "
                "signing secret, shown only here.",
                object_schema(
                    {
                        "address": s.ADDRESS,
                        "url": {"type": "string", "maxLength": 2048},
                        "events": {
                            "type": "array",
                            "items": {"type": "string", "enum": sorted(EVENT_NAMES)},
                            "minItems": 1,
                            "default": ["arrival"],
                        },
                    },
                    ["address", "url"],
                ),
                s.WEBHOOK,
                self.create_webhook,
            ),
            Tool(
                "list_webhooks",
                "List webhooks",
                "List a mailbox's webhooks (without their secrets).",
                object_schema({"address": s.ADDRESS}, ["address"]),
                s.obj({"address": s.STRING, "webhooks": s.array(s.WEBHOOK)}),
                self.list_webhooks,
            ),
            Tool(
                "delete_webhook",
                "Delete a webhook",
                "Delete a webhook by id.",
                object_schema({"id": s.UUID}, ["id"]),
                s.obj({"id": s.STRING, "deleted": s.BOOLEAN}),
                self.delete_webhook,
            ),
            Tool(
                "test_webhook",
                "Test a webhook",
                "Send a signed test event to a webhook now and report the answer.",
                object_schema({"id": s.UUID}, ["id"]),
                s.obj(
                    {
                        "success": s.BOOLEAN,
                        "status": s.NULLABLE_INTEGER,
                        "error": s.NULLABLE_STRING,
                        "duration_ms": {"type": ["number", "null"]},
                    }
                ),
                self.test_webhook,
            ),
        ]

    def _settings(self) -> WebhookSettings:
        if self.services.webhooks is None:
            raise ToolFailure("webhooks are not enabled on this server")
        return self.services.webhooks

    async def create_webhook(self, call: ToolCall) -> ToolResult:
        settings = self._settings()
        args = call.arguments
        mailbox = mailbox_name(self.services, args["address"])
        try:
            events = parse_events(args.get("events", ["arrival"]))
        except ValueError as e:
            raise ToolFailure(str(e)) from None
        # As over REST: the slow target check first, then the lock check
        # whose grant the insert is conditional on.
        try:
            url = (await settings.checker.check(args["url"])).url
        except TargetRefused as e:
            raise ToolFailure(f"url refused: {e}") from None
        grant = await self.services.access.authorize(mailbox, call.credentials)
        hook = await self.services.store.create_webhook(
            grant, url, events, new_secret(), settings.max_per_mailbox
        )
        if hook is None:
            raise ToolFailure(f"a mailbox can have at most {settings.max_per_mailbox} webhooks")
        return ToolResult(
            webhook_json(hook, with_secret=True),
            f"created webhook {hook.id} for {hook.mailbox} -> {hook.url}",
        )

    async def list_webhooks(self, call: ToolCall) -> ToolResult:
        address = call.arguments["address"]
        mailbox = (await open_mailbox(self.services, call.credentials, address)).mailbox
        hooks = [webhook_json(h) for h in await self.services.store.list_webhooks(mailbox)]
        lines = [f"{mailbox}: {len(hooks)} webhook(s)"] + [
            f"- {h['id']} {h['webhook_url']} {','.join(h['events'])}" for h in hooks
        ]
        return ToolResult({"address": mailbox, "webhooks": hooks}, "\n".join(lines))

    async def delete_webhook(self, call: ToolCall) -> ToolResult:
        hook, grant = await open_webhook(self.services, call.credentials, call.arguments["id"])
        await self.services.store.delete_webhook(grant, hook.id)
        return ToolResult({"id": hook.id, "deleted": True}, f"deleted webhook {hook.id}")

    async def test_webhook(self, call: ToolCall) -> ToolResult:
        sender = self._settings().sender
        hook, _ = await open_webhook(self.services, call.credentials, call.arguments["id"])
        delivery_id = str(uuid.uuid4())
        payload = ping_payload(hook.mailbox, hook.id, delivery_id, clock_now(self.services.clock))
        result = await sender.send(hook.url, hook.secret, "test", delivery_id, payload)
        success = result.status is not None and 200 <= result.status < 300
        return ToolResult(
            {
                "success": success,
                "status": result.status,
                "error": result.error,
                "duration_ms": result.duration_ms,
            },
            f"test event {'delivered' if success else 'failed'}: "
            f"status {result.status}, {result.error or 'no error'}",
        )
