"""
The resources: C{email://{id}} (the message as JSON), C{email://{id}/raw}
(C{message/rfc822}), C{webhook://{id}} and C{mailbox://{address}} (the
newest summaries), read under the mailbox's lock with the HTTP request's
credentials; and subscriptions to a mailbox, which send
C{notifications/resources/updated} on the session's stream when its mail
changes.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from twisted.internet.defer import Deferred

from tempmail.access import AccessDenied, Credentials
from tempmail.api.routing import DEFAULT_PAGE_SIZE
from tempmail.api.serialise import message_json, summary_json, webhook_json
from tempmail.events import MailEvent
from tempmail.mcp.context import CallContext, McpServices
from tempmail.mcp.jsonrpc import (
    ACCESS_DENIED,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    RESOURCE_NOT_FOUND,
    JsonRpcError,
    notification,
)
from tempmail.mcp.sessions import Session
from tempmail.mcp.tools import (
    ToolFailure,
    failure_text,
    mailbox_name,
    open_mailbox,
    open_message,
    open_webhook,
)
from tempmail.watch import MailboxWatch, WatchEnded

TEMPLATES = (
    {
        "uriTemplate": "email://{id}",
        "name": "email",
        "title": "An email",
        "description": "One email as JSON: bodies, headers, attachment metadata.",
        "mimeType": "application/json",
    },
    {
        "uriTemplate": "email://{id}/raw",
        "name": "raw_email",
        "title": "An email's source",
        "description": "One email exactly as received.",
        "mimeType": "message/rfc822",
    },
    {
        "uriTemplate": "webhook://{id}",
        "name": "webhook",
        "title": "A webhook",
        "description": "One webhook as JSON (without its secret).",
        "mimeType": "application/json",
    },
    {
        "uriTemplate": "mailbox://{address}",
        "name": "mailbox",
        "title": "A mailbox",
        "description": "A mailbox's newest email summaries as JSON; subscribe to hear of changes.",
        "mimeType": "application/json",
    },
)


def _as_error(error: Exception) -> JsonRpcError:
    text = failure_text(error)
    if text is None:
        raise error
    if isinstance(error, ToolFailure):
        return JsonRpcError(RESOURCE_NOT_FOUND, text)
    if isinstance(error, AccessDenied):
        return JsonRpcError(ACCESS_DENIED, text)
    return JsonRpcError(INTERNAL_ERROR, text)


def _json_contents(uri: str, body: Any) -> dict[str, Any]:
    return {
        "contents": [
            {"uri": uri, "mimeType": "application/json", "text": json.dumps(body, indent=2)}
        ]
    }


def _split(uri: Any) -> tuple[str, str]:
    if not isinstance(uri, str) or "://" not in uri:
        raise JsonRpcError(INVALID_PARAMS, "uri must be a resource URI such as email://{id}")
    scheme, _, rest = uri.partition("://")
    return scheme, rest


class Resources:
    """
    Reading and subscribing to resources.
    """

    def __init__(self, services: McpServices) -> None:
        self.services = services

    def templates(self) -> list[dict[str, Any]]:
        """
        The resource templates, for C{resources/templates/list}.
        """
        return [dict(template) for template in TEMPLATES]

    async def read(self, context: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """
        Answer C{resources/read}.
        """
        uri = params.get("uri")
        scheme, rest = _split(uri)
        assert isinstance(uri, str)
        try:
            return await self._read(context.credentials, uri, scheme, rest)
        except JsonRpcError:
            raise
        except Exception as e:
            raise _as_error(e) from None

    async def _read(
        self, credentials: Credentials, uri: str, scheme: str, rest: str
    ) -> dict[str, Any]:
        services = self.services
        if scheme == "email" and rest.endswith("/raw"):
            message, _ = await open_message(services, credentials, rest.removesuffix("/raw"))
            raw = await services.store.get_raw(message.summary.id)
            if raw is None:
                raise ToolFailure("no such email")
            content: dict[str, Any] = {"uri": uri, "mimeType": "message/rfc822"}
            try:
                content["text"] = raw.decode("utf-8")
            except UnicodeDecodeError:
                content["blob"] = base64.b64encode(raw).decode("ascii")
            return {"contents": [content]}
        if scheme == "email":
            message, _ = await open_message(services, credentials, rest)
            return _json_contents(uri, message_json(message))
        if scheme == "webhook":
            hook, _ = await open_webhook(services, credentials, rest)
            return _json_contents(uri, webhook_json(hook))
        if scheme == "mailbox":
            mailbox = (await open_mailbox(services, credentials, rest)).mailbox
            page = await services.store.list_messages(mailbox, DEFAULT_PAGE_SIZE)
            body = {
                "address": mailbox,
                "total": page.total,
                "emails": [summary_json(summary) for summary in page.summaries],
            }
            return _json_contents(uri, body)
        raise JsonRpcError(RESOURCE_NOT_FOUND, f"no resource {uri}")

    async def subscribe(self, context: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """
        Answer C{resources/subscribe}: only C{mailbox://{address}} can be
        subscribed to.  Once the lock check passes, every change of the
        mailbox's mail sends C{notifications/resources/updated}; a lock
        change that shuts the credentials out ends the subscription.
        """
        uri = params.get("uri")
        scheme, rest = _split(uri)
        assert isinstance(uri, str)
        if scheme != "mailbox":
            raise JsonRpcError(INVALID_PARAMS, "only mailbox://{address} can be subscribed to")
        session = context.session
        try:
            mailbox = mailbox_name(self.services, rest)
        except ToolFailure as e:
            raise JsonRpcError(INVALID_PARAMS, str(e)) from None
        if uri in session.subscriptions:
            return {}
        most = self.services.limits.max_subscriptions
        if len(session.subscriptions) >= most:
            # Each watch holds a hub subscription and costs a lock check.
            raise JsonRpcError(INVALID_PARAMS, f"a session may subscribe to at most {most} URIs")
        opened: Deferred[None] = Deferred()
        watch = self._watch(session, uri, mailbox, context.credentials, opened)
        session.subscriptions[uri] = watch.stop
        watch.start()
        await opened
        return {}

    def _watch(
        self,
        session: Session,
        uri: str,
        mailbox: str,
        credentials: Credentials,
        opened: Deferred[None],
    ) -> MailboxWatch:
        def changed(event: MailEvent) -> None:
            session.send(notification("notifications/resources/updated", {"uri": uri}))

        def ended(end: WatchEnded) -> None:
            session.subscriptions.pop(uri, None)
            if not opened.called:
                opened.errback(_as_error(end.failure.value))

        def now_open() -> None:
            if not opened.called:
                opened.callback(None)

        return MailboxWatch(
            self.services.access,
            self.services.hub,
            mailbox,
            credentials,
            changed,
            ended,
            now_open,
        )

    async def unsubscribe(self, context: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """
        Answer C{resources/unsubscribe}.
        """
        uri = params.get("uri")
        stop = context.session.subscriptions.pop(uri, None) if isinstance(uri, str) else None
        if stop is not None:
            stop()
        return {}
