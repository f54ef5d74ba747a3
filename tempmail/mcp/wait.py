"""
C{wait_for_email}: block until a matching message arrives in a mailbox, or
a timeout passes.

There is no race with mail that arrives just before the call: the watch
subscribes to the hub before its lock check, and once the check passes the
store is searched (from C{since}, by default C{MCP_WAIT_LOOKBACK} back).
A message committed before that search is found by it, and one committed
after it is announced to the subscription.  Each arrival announced is
matched by the store too, with the same criterion, so both ways see the
same decoded headers.  Progress notifications go out
every second while it waits, if the client asked for them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.task import LoopingCall

from tempmail.api.serialise import message_json
from tempmail.events import EventKind, MailEvent
from tempmail.mcp import schemas as s
from tempmail.mcp.jsonrpc import notification
from tempmail.mcp.mail_tools import message_text
from tempmail.mcp.search import mail_criterion, parse_time, search_mailbox
from tempmail.mcp.tools import (
    Tool,
    ToolCall,
    ToolFailure,
    ToolGroup,
    ToolResult,
    mailbox_name,
    object_schema,
)
from tempmail.models import MessageSummary
from tempmail.search import Criterion
from tempmail.times import clock_now
from tempmail.watch import MailboxWatch, WatchEnded

DEFAULT_TIMEOUT = 60.0
PROGRESS_INTERVAL = 1.0


class WaitTool(ToolGroup):
    """
    The C{wait_for_email} tool.
    """

    def tools(self) -> list[Tool]:
        limit = self.services.limits.max_wait
        return [
            Tool(
                "wait_for_email",
                "Wait for an email",
                "Wait until an email matching from / subject_contains arrives in a mailbox, and "
                "return it whole. Mail that arrived shortly before the call counts (since "
                f"defaults to {self.services.limits.wait_lookback:g} s before the call). The "
                f"timeout is in seconds (default {DEFAULT_TIMEOUT:g}, at most {limit:g}); when it "
                "passes, found is false. Sends progress notifications while waiting.",
                object_schema(
                    {
                        "address": s.ADDRESS,
                        "from": {
                            "type": "string",
                            "description": "Part of the From header (name or address).",
                        },
                        "subject_contains": {"type": "string"},
                        "since": {
                            "type": "string",
                            "format": "date-time",
                            "description": "Only mail received after this RFC 3339 time.",
                        },
                        "timeout": {"type": "number", "minimum": 0, "default": DEFAULT_TIMEOUT},
                    },
                    ["address"],
                ),
                s.obj(
                    {
                        "found": s.BOOLEAN,
                        "waited_seconds": {"type": "number"},
                        "email": {"anyOf": [s.MESSAGE, {"type": "null"}]},
                    }
                ),
                self.wait_for_email,
            )
        ]

    def _criterion(self, arguments: dict[str, Any]) -> Criterion:
        since_text = arguments.get("since")
        if since_text is None:
            since = clock_now(self.services.clock) - timedelta(
                seconds=self.services.limits.wait_lookback
            )
        else:
            try:
                since = parse_time(since_text)
            except ValueError:
                raise ToolFailure("since must be an RFC 3339 time") from None
        return mail_criterion(
            sender=arguments.get("from"), subject=arguments.get("subject_contains"), since=since
        )

    async def wait_for_email(self, call: ToolCall) -> ToolResult:
        services = self.services
        clock = services.clock
        mailbox = mailbox_name(services, call.arguments["address"])
        criterion = self._criterion(call.arguments)
        asked = float(call.arguments.get("timeout", DEFAULT_TIMEOUT))
        timeout = min(asked, services.limits.max_wait)
        started = clock.seconds()
        opened: Deferred[None] = Deferred()
        found: Deferred[MessageSummary | None] = Deferred()

        async def check(arrived: MessageSummary) -> None:
            try:
                matched = await services.store.search_uids(
                    mailbox, criterion, arrived.uid, arrived.uid
                )
            except Exception:
                # The wait fails with the store, as a failed look-back does.
                if not found.called:
                    found.errback()
                return
            if matched and not found.called:
                found.callback(arrived)

        def heard(event: MailEvent) -> None:
            if event.kind is EventKind.ARRIVAL and event.summary is not None and not found.called:
                Deferred.fromCoroutine(check(event.summary))

        def ended(end: WatchEnded) -> None:
            for waiting in (opened, found):
                if not waiting.called:
                    waiting.errback(end.failure)
                    return

        watch = MailboxWatch(
            services.access,
            services.hub,
            mailbox,
            call.credentials,
            heard,
            ended,
            lambda: opened.callback(None),
        )
        ticker = LoopingCall(self._progress, call, started, timeout, mailbox)
        ticker.clock = clock
        deadline: IDelayedCall | None = None
        watch.start()
        try:
            await opened
            earlier = await search_mailbox(services.store, mailbox, criterion, 1)
            if earlier.summaries and not found.called:
                found.callback(earlier.summaries[0])
            # The clock starts once the watch is open and the store searched,
            # so even a timeout of 0 finds mail that is already there.
            deadline = clock.callLater(
                max(0.0, timeout - (clock.seconds() - started)),
                lambda: None if found.called else found.callback(None),
            )
            if call.context.progress_token is not None and not found.called:
                ticker.start(PROGRESS_INTERVAL, now=True)
            summary = await found
        finally:
            watch.stop()
            if ticker.running:
                ticker.stop()
            if deadline is not None and deadline.active():
                deadline.cancel()
        waited = round(clock.seconds() - started, 3)
        if summary is None:
            return ToolResult(
                {"found": False, "waited_seconds": waited, "email": None},
                f"no matching email arrived in {mailbox} within {timeout:g} s",
            )
        messages = await services.store.get_messages([summary.id])
        if not messages:
            raise ToolFailure("the matching email was deleted before it could be read")
        body = message_json(messages[0])
        return ToolResult(
            {"found": True, "waited_seconds": waited, "email": body}, message_text(body)
        )

    def _progress(self, call: ToolCall, started: float, timeout: float, mailbox: str) -> None:
        elapsed = round(self.services.clock.seconds() - started, 3)
        call.context.notify(
            notification(
                "notifications/progress",
                {
                    "progressToken": call.context.progress_token,
                    "progress": elapsed,
                    "total": timeout,
                    "message": f"waiting for mail to {mailbox}",
                },
            )
        )
