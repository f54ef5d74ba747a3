"""
The mail tools: C{list_emails}, C{read_email}, C{delete_email} and
C{create_mailbox}.
"""

from __future__ import annotations

import base64
import secrets
import string
from typing import Any

from tempmail.api.routing import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from tempmail.api.serialise import message_json, summary_json
from tempmail.interfaces import UnknownCursor
from tempmail.mcp import schemas as s
from tempmail.mcp.tools import (
    Tool,
    ToolCall,
    ToolFailure,
    ToolGroup,
    ToolResult,
    listing_text,
    mailbox_name,
    object_schema,
    open_mailbox,
    open_message,
)
from tempmail.models import StoredMessage
from tempmail.times import rfc3339

_ALPHABET = string.ascii_lowercase + string.digits
# 12 characters of 36: about 62 bits, so a fresh address is never guessed.
_RANDOM_LENGTH = 12


def random_local_part(prefix: str | None = None) -> str:
    """
    A fresh mailbox name: 12 random letters and digits, after C{prefix-}.
    """
    name = "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_LENGTH))
    return f"{prefix}-{name}" if prefix else name


class MailTools(ToolGroup):
    """
    The tools that read, delete and create mailboxes and mail.
    """

    def tools(self) -> list[Tool]:
        return [
            Tool(
                "list_emails",
                "List emails",
                "List a mailbox's emails, newest first: id, from, subject, time, preview. "
                "Page with limit and offset, or with before (the next_before of a page).",
                object_schema(
                    {
                        "address": s.ADDRESS,
                        "limit": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_PAGE_SIZE,
                            "default": DEFAULT_PAGE_SIZE,
                        },
                        # The REST route's bound: a store's integers are 64-bit.
                        "offset": {
                            "type": "integer",
                            "minimum": 0,
                            "maximum": 2**31,
                            "default": 0,
                        },
                        "before": s.UUID,
                    },
                    ["address"],
                ),
                s.obj(
                    {
                        "address": s.STRING,
                        "emails": s.array(s.SUMMARY),
                        "total": s.INTEGER,
                        "next_before": s.NULLABLE_STRING,
                    }
                ),
                self.list_emails,
            ),
            Tool(
                "read_email",
                "Read an email",
                "Read one email: text and HTML bodies, headers, and attachments as metadata "
                "with URLs on the API port. Attachment contents come as base64 only with "
                "include_attachment_content. Marks the email seen unless mark_seen is false.",
                object_schema(
                    {
                        "id": s.UUID,
                        "include_attachment_content": {"type": "boolean", "default": False},
                        "mark_seen": {"type": "boolean", "default": True},
                    },
                    ["id"],
                ),
                s.MESSAGE,
                self.read_email,
            ),
            Tool(
                "delete_email",
                "Delete an email",
                "Delete one email by id.",
                object_schema({"id": s.UUID}, ["id"]),
                s.obj({"id": s.STRING, "deleted": s.BOOLEAN}),
                self.delete_email,
            ),
            Tool(
                "create_mailbox",
                "Create a mailbox",
                "Make a fresh random address on this server's domain (mail to it is accepted "
                "at once). With lock: true it is also claimed with a generated password, and "
                "the answer carries the password and a token: pass the token to the other "
                "tools (token argument) to use it.",
                object_schema(
                    {
                        "prefix": {
                            "type": "string",
                            "pattern": "^[a-z0-9][a-z0-9._-]{0,30}$",
                            "description": "Put this before the random part (lower case).",
                        },
                        "lock": {"type": "boolean", "default": False},
                    },
                    credentials=False,
                ),
                s.obj(
                    {
                        "address": s.STRING,
                        "locked": s.BOOLEAN,
                        "password": s.NULLABLE_STRING,
                        "token": s.NULLABLE_STRING,
                        "token_expires_at": s.NULLABLE_STRING,
                    }
                ),
                self.create_mailbox,
            ),
        ]

    async def list_emails(self, call: ToolCall) -> ToolResult:
        args = call.arguments
        mailbox = (await open_mailbox(self.services, call.credentials, args["address"])).mailbox
        try:
            page = await self.services.store.list_messages(
                mailbox,
                args.get("limit", DEFAULT_PAGE_SIZE),
                args.get("offset", 0),
                args.get("before"),
            )
        except UnknownCursor:
            raise ToolFailure("before must be the id of an email in this mailbox") from None
        emails = [summary_json(summary) for summary in page.summaries]
        return ToolResult(
            {
                "address": mailbox,
                "emails": emails,
                "total": page.total,
                "next_before": page.next_before,
            },
            listing_text(f"{mailbox}: {page.total} email(s)", emails),
        )

    async def read_email(self, call: ToolCall) -> ToolResult:
        args = call.arguments
        message, grant = await open_message(self.services, call.credentials, args["id"])
        body = message_json(message)
        if args.get("mark_seen", True) and not message.summary.seen:
            await self.services.store.set_seen(grant, message.summary.id, True)
            body["seen"] = True
        if args.get("include_attachment_content", False):
            await self._inline_attachments(message, body["attachments"])
        return ToolResult(body, message_text(body))

    async def _inline_attachments(
        self, message: StoredMessage, attachments: list[dict[str, Any]]
    ) -> None:
        budget = self.services.limits.max_inline_attachments
        for entry in attachments:
            if entry["size"] > budget:
                continue
            found = await self.services.store.get_attachment(message.summary.id, entry["index"])
            if found is None:
                continue
            budget -= len(found.content)
            entry["content_base64"] = base64.b64encode(found.content).decode("ascii")

    async def delete_email(self, call: ToolCall) -> ToolResult:
        id = call.arguments["id"]
        _, grant = await open_message(self.services, call.credentials, id)
        if await self.services.store.delete_message(grant, id) is None:
            raise ToolFailure("no such email")
        return ToolResult({"id": id, "deleted": True}, f"deleted email {id}")

    async def create_mailbox(self, call: ToolCall) -> ToolResult:
        address = mailbox_name(self.services, random_local_part(call.arguments.get("prefix")))
        if not call.arguments.get("lock", False):
            return ToolResult(
                {
                    "address": address,
                    "locked": False,
                    "password": None,
                    "token": None,
                    "token_expires_at": None,
                },
                f"created {address} (open: anyone who knows the address can read it)",
            )
        password = secrets.token_urlsafe(24)
        granted = await self.services.access.claim(address, password)
        return ToolResult(
            {
                "address": address,
                "locked": True,
                "password": password,
                "token": granted.token,
                "token_expires_at": rfc3339(granted.expires_at),
            },
            f"created and locked {address}; token: {granted.token}",
        )


def message_text(body: dict[str, Any]) -> str:
    """
    A message as a short text for clients that show text only.
    """
    text = body["text"] or "(no text part; see html)"
    attachments = ", ".join(a["filename"] for a in body["attachments"]) or "none"
    return (
        f"From: {body['from']}\nTo: {body['to']}\nSubject: {body['subject']}\n"
        f"Date: {body['timestamp']}\nId: {body['id']}\nAttachments: {attachments}\n\n{text}"
    )
