"""
JSON Schema pieces shared by the tools' output schemas: the shapes of
L{tempmail.api.serialise}, which MCP answers with as REST does.
"""

from __future__ import annotations

from typing import Any

STRING: dict[str, Any] = {"type": "string"}
INTEGER: dict[str, Any] = {"type": "integer"}
BOOLEAN: dict[str, Any] = {"type": "boolean"}
NULLABLE_STRING: dict[str, Any] = {"type": ["string", "null"]}
NULLABLE_INTEGER: dict[str, Any] = {"type": ["integer", "null"]}
ADDRESS: dict[str, Any] = {
    "type": "string",
    "description": "A mailbox: an address, or a bare name on this server's domain.",
    "minLength": 1,
    "maxLength": 320,
}
UUID: dict[str, Any] = {"type": "string", "description": "An id (a UUID).", "maxLength": 64}


def obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """
    An output object of C{properties}; more properties may appear later.
    """
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }


def array(items: dict[str, Any]) -> dict[str, Any]:
    """
    An array of C{items}.
    """
    return {"type": "array", "items": items}


SUMMARY = obj(
    {
        "id": STRING,
        "to": STRING,
        "from": STRING,
        "subject": STRING,
        "timestamp": STRING,
        "size": INTEGER,
        "seen": BOOLEAN,
        "attachments": INTEGER,
        "preview": STRING,
    }
)

ATTACHMENT = obj(
    {
        "index": INTEGER,
        "filename": STRING,
        "content_type": STRING,
        "size": INTEGER,
        "content_id": NULLABLE_STRING,
        "inline": BOOLEAN,
        "url": STRING,
        "content_base64": STRING,
    },
    ["index", "filename", "content_type", "size", "url"],
)

MESSAGE = obj(
    {
        "id": STRING,
        "to": STRING,
        "from": STRING,
        "subject": STRING,
        "timestamp": STRING,
        "text": STRING,
        "html": STRING,
        "headers": {"type": "object", "additionalProperties": array(STRING)},
        "attachments": array(ATTACHMENT),
        "seen": BOOLEAN,
        "raw_url": STRING,
    },
    ["id", "to", "from", "subject", "timestamp", "text", "html", "headers", "attachments"],
)

WEBHOOK = obj(
    {
        "id": STRING,
        "mailbox_address": STRING,
        "webhook_url": STRING,
        "events": array(STRING),
        "created_at": STRING,
        "enabled": BOOLEAN,
        "secret": STRING,
    },
    ["id", "mailbox_address", "webhook_url", "events", "enabled"],
)
