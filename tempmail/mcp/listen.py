"""
C{subscriptions/listen}, the 2026-07-28 revision's one stream of change
notifications, which replaces C{resources/subscribe} and the C{GET} stream.

The request's answer is an SSE stream: first
C{notifications/subscriptions/acknowledged} with the part of the filter
that is honored, then a C{notifications/resources/updated} whenever a
subscribed mailbox's mail changes, each stamped with the request's id as
C{io.modelcontextprotocol/subscriptionId}.  Only C{mailbox://{address}}
resources can be subscribed to, and only those the request's credentials
open; the lists never change, so their flags are not honored.  The stream
lasts until the client closes it, or ends gracefully (with a result) once
no subscribed mailbox is open to the client any more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred, DeferredList

from tempmail.events import MailEvent
from tempmail.mcp.context import CallContext, McpServices
from tempmail.mcp.jsonrpc import INVALID_PARAMS, JsonRpcError, notification
from tempmail.mcp.tools import ToolFailure, mailbox_name
from tempmail.watch import MailboxWatch, WatchEnded

SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"


@dataclass(frozen=True)
class _Subscribed:
    """
    One subscribed URI: its watch, what fires when the watch's first check
    passes (or fails), and what fires when the watch ends.
    """

    uri: str
    watch: MailboxWatch
    opened: Deferred[None]
    ended: Deferred[None]


class Listener:
    """
    Answers C{subscriptions/listen}.
    """

    def __init__(self, services: McpServices) -> None:
        self.services = services

    async def listen(self, context: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """
        Watch the subscribed mailboxes until the client goes or none is
        open any more.
        """
        wanted = params.get("notifications", {})
        uris = wanted.get("resourceSubscriptions") or [] if isinstance(wanted, dict) else None
        if not isinstance(uris, list) or not all(isinstance(uri, str) for uri in uris):
            raise JsonRpcError(INVALID_PARAMS, "notifications.resourceSubscriptions must be URIs")
        most = self.services.limits.max_subscriptions
        if len(set(uris)) > most:
            raise JsonRpcError(INVALID_PARAMS, f"at most {most} resource subscriptions per call")
        stamp = {SUBSCRIPTION_ID: context.request_id}
        subscribed = [
            found
            for found in (self._subscribe(context, uri, stamp) for uri in dict.fromkeys(uris))
            if found is not None
        ]
        try:
            checks = await DeferredList([s.opened for s in subscribed], consumeErrors=True)
            honored = [s.uri for s, (passed, _) in zip(subscribed, checks, strict=True) if passed]
            acknowledged = {"resourceSubscriptions": honored} if honored else {}
            context.notify(
                notification(
                    "notifications/subscriptions/acknowledged",
                    {"notifications": acknowledged, "_meta": stamp},
                )
            )
            await DeferredList([s.ended for s in subscribed])
        finally:
            for s in subscribed:
                s.watch.stop()
        return {"_meta": stamp}

    def _subscribe(
        self, context: CallContext, uri: str, stamp: dict[str, Any]
    ) -> _Subscribed | None:
        """
        Start watching the mailbox of C{uri}; C{None} if it names none.
        """
        scheme, _, address = uri.partition("://")
        if scheme != "mailbox":
            return None
        try:
            mailbox = mailbox_name(self.services, address)
        except ToolFailure:
            return None
        opened: Deferred[None] = Deferred()
        ended: Deferred[None] = Deferred()

        def changed(event: MailEvent) -> None:
            context.notify(
                notification("notifications/resources/updated", {"uri": uri, "_meta": stamp})
            )

        def end(outcome: WatchEnded) -> None:
            if not opened.called:
                opened.errback(outcome.failure)
            ended.callback(None)

        watch = MailboxWatch(
            self.services.access,
            self.services.hub,
            mailbox,
            context.credentials,
            changed,
            end,
            lambda: opened.callback(None),
        )
        watch.start()
        return _Subscribed(uri, watch, opened, ended)
