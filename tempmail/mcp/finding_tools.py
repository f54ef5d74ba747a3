"""
The tools that find things in mail: C{search_emails} (by sender,
recipient, subject, body text and date, through L{search_mailbox}) and
C{extract_verification} (codes and links, through L{extract}).
"""

from __future__ import annotations

from typing import Any

from tempmail.api.serialise import summary_json
from tempmail.mcp import schemas as s
from tempmail.mcp.extraction import extract
from tempmail.mcp.search import mail_criterion, parse_time, search_mailbox
from tempmail.mcp.tools import (
    Tool,
    ToolCall,
    ToolFailure,
    ToolGroup,
    ToolResult,
    listing_text,
    object_schema,
    open_mailbox,
    open_message,
)

DEFAULT_RESULTS = 20
MAX_RESULTS = 100

_TIME = {"type": "string", "format": "date-time"}
_SCORE = {"type": "number"}


class FindingTools(ToolGroup):
    """
    Searching mail and reading verification codes and links from it.
    """

    def tools(self) -> list[Tool]:
        return [
            Tool(
                "search_emails",
                "Search emails",
                "Find a mailbox's emails by sender (from: the From header), recipient (to: To "
                "or Cc), subject, body text (text: any text part, decoded) and received time "
                "(since, exclusive; until, inclusive). Text matches are case-insensitive "
                "substrings of the decoded headers and body. The whole mailbox is searched; "
                "results are newest first, at most limit: complete is false when older "
                "emails match too.",
                object_schema(
                    {
                        "address": s.ADDRESS,
                        "from": {"type": "string"},
                        "to": {"type": "string"},
                        "subject": {"type": "string"},
                        "text": {"type": "string"},
                        "since": _TIME,
                        "until": _TIME,
                        "limit": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_RESULTS,
                            "default": DEFAULT_RESULTS,
                        },
                    },
                    ["address"],
                ),
                s.obj(
                    {
                        "address": s.STRING,
                        "emails": s.array(s.SUMMARY),
                        "complete": s.BOOLEAN,
                    }
                ),
                self.search_emails,
            ),
            Tool(
                "extract_verification",
                "Extract verification codes and links",
                "Read one-time codes and verification (or reset, magic login, invitation) "
                "links from an email, ranked best first, each with the text around it. "
                "best_code and best_link are the likeliest (null when nothing is likely); a "
                "link wrapped in a tracking redirect also gives its target. Give the email's "
                "id, or an address to use its newest email.",
                {
                    **object_schema({"id": s.UUID, "address": s.ADDRESS}),
                    "anyOf": [{"required": ["id"]}, {"required": ["address"]}],
                },
                s.obj(
                    {
                        "email_id": s.STRING,
                        "subject": s.STRING,
                        "best_code": s.NULLABLE_STRING,
                        "best_link": s.NULLABLE_STRING,
                        "codes": s.array(
                            s.obj(
                                {
                                    "code": s.STRING,
                                    "shown": s.STRING,
                                    "score": _SCORE,
                                    "context": s.STRING,
                                }
                            )
                        ),
                        "links": s.array(
                            s.obj(
                                {
                                    "url": s.STRING,
                                    "target": s.NULLABLE_STRING,
                                    "label": s.STRING,
                                    "score": _SCORE,
                                    "context": s.STRING,
                                }
                            )
                        ),
                    }
                ),
                self.extract_verification,
            ),
        ]

    async def search_emails(self, call: ToolCall) -> ToolResult:
        args = call.arguments
        mailbox = (await open_mailbox(self.services, call.credentials, args["address"])).mailbox
        try:
            since = None if "since" not in args else parse_time(args["since"])
            until = None if "until" not in args else parse_time(args["until"])
        except ValueError:
            raise ToolFailure("since and until must be RFC 3339 times") from None
        criterion = mail_criterion(
            sender=args.get("from"),
            recipient=args.get("to"),
            subject=args.get("subject"),
            text=args.get("text"),
            since=since,
            until=until,
        )
        outcome = await search_mailbox(
            self.services.store, mailbox, criterion, args.get("limit", DEFAULT_RESULTS)
        )
        emails = [summary_json(summary) for summary in outcome.summaries]
        note = "" if outcome.complete else " (the newest; older ones match too)"
        return ToolResult(
            {"address": mailbox, "emails": emails, "complete": outcome.complete},
            listing_text(f"{len(emails)} matching email(s) in {mailbox}{note}", emails),
        )

    async def extract_verification(self, call: ToolCall) -> ToolResult:
        args = call.arguments
        id = args.get("id")
        if id is None:
            mailbox = (await open_mailbox(self.services, call.credentials, args["address"])).mailbox
            page = await self.services.store.list_messages(mailbox, 1)
            if not page.summaries:
                raise ToolFailure(f"{mailbox} has no email")
            id = page.summaries[0].id
        message, _ = await open_message(self.services, call.credentials, id)
        found = extract(message.summary.subject, message.text, message.html)
        body: dict[str, Any] = {
            "email_id": message.summary.id,
            "subject": message.summary.subject,
            "best_code": found.best_code,
            "best_link": found.best_link,
            "codes": [
                {"code": c.value, "shown": c.shown, "score": c.score, "context": c.context}
                for c in found.codes
            ],
            "links": [
                {
                    "url": link.value,
                    "target": link.target,
                    "label": link.label,
                    "score": link.score,
                    "context": link.context,
                }
                for link in found.links
            ],
        }
        text = (
            f"code: {found.best_code or 'none found'}\n"
            f"link: {found.best_link or 'none found'}\n"
            f"({len(found.codes)} code and {len(found.links)} link candidate(s))"
        )
        return ToolResult(body, text)
