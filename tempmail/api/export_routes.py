"""
C{GET /api/emails/{address}/export}: a whole mailbox as an mbox file,
streamed under the mailbox's lock.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IPushProducer
from twisted.web.iweb import IRequest
from zope.interface import implementer

from tempmail import mbox
from tempmail.api.routing import MAX_PAGE_SIZE, RouteBase, route_group_app
from tempmail.interfaces import UnknownCursor
from tempmail.models import MessageSummary

app = route_group_app()


@implementer(IPushProducer)
class _Pace:
    """
    Lets the export wait while the client reads more slowly than the store
    answers, so a large mailbox is never all in memory.
    """

    def __init__(self) -> None:
        self._resumed: Deferred[None] | None = None
        self.stopped = False

    def ready(self) -> Deferred[None]:
        """
        Fires when the transport takes more bytes.
        """
        return succeed(None) if self._resumed is None else self._resumed

    def pauseProducing(self) -> None:
        if self._resumed is None:
            self._resumed = Deferred()

    def resumeProducing(self) -> None:
        resumed, self._resumed = self._resumed, None
        if resumed is not None:
            resumed.callback(None)

    def stopProducing(self) -> None:
        self.stopped = True
        self.resumeProducing()


class ExportRoutes(RouteBase):
    """
    Exporting a mailbox.
    """

    app = app

    async def _summaries(self, mailbox: str) -> list[MessageSummary]:
        """
        Every message of C{mailbox}, newest first, read page by page.
        """
        ids: list[MessageSummary] = []
        before: str | None = None
        while True:
            try:
                page = await self.store.list_messages(mailbox, MAX_PAGE_SIZE, len(ids), before)
            except UnknownCursor:
                # The cursor's message was deleted meanwhile: go on by count.
                before = None
                continue
            ids.extend(page.summaries)
            if page.next_before is None:
                return ids
            before = page.next_before

    @app.route("/api/emails/<string:address>/export", methods=["GET"])
    async def export(self, request: IRequest, address: str) -> bytes:
        mailbox = (await self._open_mailbox(request, address)).mailbox
        summaries = await self._summaries(mailbox)
        request.setResponseCode(200)
        request.setHeader(b"Content-Type", b"application/mbox")
        filename = mailbox.replace('"', "_").encode("ascii", "replace")
        request.setHeader(b"Content-Disposition", b'attachment; filename="' + filename + b'.mbox"')
        request.setHeader(b"X-Content-Type-Options", b"nosniff")
        request.setHeader(b"Cache-Control", b"private, no-store")
        if request.method == b"HEAD":
            return b""
        pace = _Pace()
        # twisted.web's Request is a consumer, though IRequest does not say so.
        consumer: Any = request
        consumer.registerProducer(pace, True)
        try:
            for summary in summaries:
                raw = await self.store.get_raw(summary.id)
                if raw is None:
                    continue  # Deleted since the listing.
                await pace.ready()
                if pace.stopped:
                    break
                request.write(mbox.entry(summary.from_address, summary.received_at, raw))
        finally:
            consumer.unregisterProducer()
        return b""
