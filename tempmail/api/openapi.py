"""
The OpenAPI 3.1 description of the REST API, served at
C{GET /api/openapi.json}, and the reference page at C{GET /api/docs}.

The document is written here, next to the routes, and kept true by tests:
every route of the REST groups must appear in it, real responses are
checked against its schemas, and schemathesis fuzzes the live daemon with
it.  The WebSocket (C{/api/ws/{address}}) and MCP (C{/mcp}) are not REST and
have their own pages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.web.iweb import IRequest

from tempmail import __version__
from tempmail.api.responses import ApiError, json_response
from tempmail.api.routing import MAX_PAGE_SIZE, route_group_app
from tempmail.api.static_routes import CONTENT_SECURITY_POLICY

JSON = "application/json"
NULLABLE_STRING = {"type": ["string", "null"]}
TIME = {"type": "string", "format": "date-time"}
STRINGS = {"type": "array", "items": {"type": "string"}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": list(required),
    }


SCHEMAS: dict[str, Any] = {
    "Error": _object({"error": {"type": "string"}}),
    "Health": _object(
        {"status": {"enum": ["ok", "error"]}, "storage": {"enum": ["ok", "error"]}},
        {"error": {"type": "string"}},
    ),
    "Probe": _object({"status": {"enum": ["ok", "unavailable"]}}, {"error": {"type": "string"}}),
    "EmailSummary": _object(
        {
            "id": {"type": "string", "format": "uuid"},
            "to": {"type": "string"},
            "from": {"type": "string"},
            "subject": {"type": "string"},
            "timestamp": TIME,
            "size": {"type": "integer", "minimum": 0},
            "seen": {"type": "boolean"},
            "attachments": {"type": "integer", "minimum": 0},
            "preview": {"type": "string"},
        }
    ),
    "Attachment": _object(
        {
            "index": {"type": "integer", "minimum": 0},
            "filename": {"type": "string"},
            "content_type": {"type": "string"},
            "size": {"type": "integer", "minimum": 0},
            "content_id": NULLABLE_STRING,
            "inline": {"type": "boolean"},
            "url": {"type": "string"},
        }
    ),
    "Email": _object(
        {
            "id": {"type": "string", "format": "uuid"},
            "to": {"type": "string"},
            "from": {"type": "string"},
            "subject": {"type": "string"},
            "body": {"type": "string"},
            "timestamp": TIME,
            "attachments": {"type": "array", "items": _ref("Attachment")},
            "text": {"type": "string"},
            "html": {"type": "string"},
            "headers": {"type": "object", "additionalProperties": STRINGS},
            "header_to": STRINGS,
            "cc": STRINGS,
            "date": {"type": ["string", "null"], "format": "date-time"},
            "message_id": NULLABLE_STRING,
            "size": {"type": "integer", "minimum": 0},
            "seen": {"type": "boolean"},
            "envelope_from": {"type": "string"},
            "envelope_to": STRINGS,
            "raw_url": {"type": "string"},
        }
    ),
    "EmailPage": _object(
        {
            "emails": {
                "type": "array",
                "items": {"anyOf": [_ref("EmailSummary"), _ref("Email")]},
            },
            "total": {"type": "integer", "minimum": 0},
            "next_before": NULLABLE_STRING,
        }
    ),
    "Emptied": _object(
        {
            "message": {"type": "string"},
            "address": {"type": "string"},
            "deleted": {"type": "integer", "minimum": 0},
        }
    ),
    "Seen": _object({"id": {"type": "string"}, "seen": {"type": "boolean"}}),
    "Message": _object({"message": {"type": "string"}}),
    "ViewTicket": _object(
        {"ticket": {"type": "string"}, "expires_at": TIME, "html_url": {"type": "string"}}
    ),
    "MailboxStatus": _object({"address": {"type": "string"}, "is_locked": {"type": "boolean"}}),
    "Token": _object(
        {
            "message": {"type": "string"},
            "address": {"type": "string"},
            "token": {"type": "string"},
            "expires_at": TIME,
        }
    ),
    "Released": _object({"message": {"type": "string"}, "address": {"type": "string"}}),
    "MailboxList": _object(
        {
            "mailboxes": {
                "type": "array",
                "items": _object(
                    {
                        "address": {"type": "string"},
                        "messages": {"type": "integer", "minimum": 0},
                        "is_locked": {"type": "boolean"},
                        "created_at": TIME,
                    }
                ),
            },
            "total": {"type": "integer", "minimum": 0},
        }
    ),
    "Webhook": _object(
        {
            "id": {"type": "string", "format": "uuid"},
            "mailbox_address": {"type": "string"},
            "webhook_url": {"type": "string"},
            "events": STRINGS,
            "created_at": TIME,
            "enabled": {"type": "boolean"},
            "disabled_reason": NULLABLE_STRING,
            "consecutive_failures": {"type": "integer", "minimum": 0},
        },
        {"secret": {"type": "string", "description": "Only in the answer to its creation."}},
    ),
    "WebhookList": _object({"webhooks": {"type": "array", "items": _ref("Webhook")}}),
    "WebhookTest": _object(
        {
            "success": {"type": "boolean"},
            "status": {"type": ["integer", "null"]},
            "error": NULLABLE_STRING,
            "duration_ms": {"type": "integer", "minimum": 0},
        }
    ),
    "Deliveries": _object(
        {
            "deliveries": {
                "type": "array",
                "items": _object(
                    {
                        "delivery_id": {"type": "string"},
                        "event": {"type": "string"},
                        "attempt": {"type": "integer", "minimum": 1},
                        "time": TIME,
                        "status": {"type": ["integer", "null"]},
                        "error": NULLABLE_STRING,
                        "duration_ms": {"type": "integer", "minimum": 0},
                    }
                ),
            }
        }
    ),
    "Password": _object({"password": {"type": "string"}}),
    "NewPassword": _object({"password": {"type": "string"}, "new_password": {"type": "string"}}),
    "Release": _object({}, {"password": {"type": "string"}}),
    "SeenChange": _object({"seen": {"type": "boolean"}}),
    "EventNames": {
        "type": "array",
        "minItems": 1,
        "items": {"enum": ["arrival", "read", "deletion"]},
    },
    "NewWebhook": _object(
        {"mailbox_address": {"type": "string"}, "webhook_url": {"type": "string"}},
        {"events": _ref("EventNames"), "password": {"type": "string"}},
    ),
    "WebhookChange": _object(
        {},
        {
            "webhook_url": {"type": "string"},
            "events": _ref("EventNames"),
            "enabled": {"type": "boolean"},
            "mailbox_address": {
                "type": "string",
                "description": "Accepted only if it names the webhook's own mailbox.",
            },
            "password": {"type": "string"},
        },
    ),
}

_ERROR = {"description": "An error", "content": {JSON: {"schema": _ref("Error")}}}
_LOCKED: list[dict[str, list[str]]] = [{}, {"Bearer": []}, {"Basic": []}]
"""Open mailboxes need nothing; locked ones a token, a password, or the admin token."""


def _json(schema: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref(schema)}}}


def _bytes(media_type: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
    }


def _parameter(name: str, where: str, schema: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": schema,
        "description": text,
    }


ADDRESS = _parameter(
    "address", "path", {"type": "string"}, "A mailbox: a full address, or a bare name."
)
ID = _parameter("id", "path", {"type": "string"}, "A message id (a UUID).")
WEBHOOK_ID = _parameter("id", "path", {"type": "string"}, "A webhook id (a UUID).")
LIMIT = _parameter(
    "limit", "query", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}, "Page size."
)
OFFSET = _parameter("offset", "query", {"type": "integer", "minimum": 0}, "Entries to skip.")
PASSWORD = _parameter("password", "query", {"type": "string"}, "Deprecated: the mailbox password.")
TRUE_FALSE = {"enum": ["true", "false"]}


def _operation(
    summary: str,
    ok: dict[str, Any],
    parameters: list[dict[str, Any]] | None = None,
    body: str | None = None,
    security: list[dict[str, list[str]]] | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": parameters or [],
        "responses": {"200": ok, "default": _ERROR},
    }
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": _ref(body)}},
        }
    if security is not None:
        operation["security"] = security
    return operation


PATHS: dict[str, dict[str, Any]] = {
    "/livez": {"get": _operation("The process serves HTTP", _json("Probe"), security=[{}])},
    "/readyz": {
        "get": {
            **_operation("Storage answers and every listener is up", _json("Probe"), security=[{}]),
            "responses": {
                "200": _json("Probe"),
                "503": _json("Probe", "Not ready; error says why"),
                "default": _ERROR,
            },
        }
    },
    "/metrics": {
        "get": _operation(
            "Prometheus metrics (on METRICS_PORT instead, when that is set)",
            _bytes("text/plain", "The Prometheus text format"),
            security=[{}, {"Bearer": []}],
        )
    },
    "/api/health": {
        "get": {
            **_operation("Storage answers", _json("Health"), security=[{}]),
            "responses": {
                "200": _json("Health"),
                "503": _json("Health", "Storage does not answer"),
                "default": _ERROR,
            },
        }
    },
    "/api/openapi.json": {
        "get": _operation(
            "This document",
            {
                "description": "OpenAPI 3.1",
                "content": {
                    JSON: {"schema": _object({"openapi": {"const": "3.1.0"}, "paths": {}})}
                },
            },
        )
    },
    "/api/docs": {
        "get": _operation("This document, rendered", _bytes("text/html", "An HTML page"))
    },
    "/api/emails/{address}": {
        "get": _operation(
            "List a mailbox, newest first",
            _json("EmailPage"),
            [
                ADDRESS,
                LIMIT,
                OFFSET,
                _parameter("before", "query", {"type": "string"}, "Start after this message id."),
                _parameter("full", "query", TRUE_FALSE, "Whole messages instead of summaries."),
                PASSWORD,
            ],
            security=_LOCKED,
        ),
        "delete": _operation(
            "Delete every message", _json("Emptied"), [ADDRESS, PASSWORD], security=_LOCKED
        ),
    },
    "/api/emails/{address}/export": {
        "get": _operation(
            "The mailbox as an mbox file (mboxrd), streamed",
            _bytes("application/mbox", "Every message, newest first"),
            [ADDRESS, PASSWORD],
            security=_LOCKED,
        )
    },
    "/api/email/{id}": {
        "get": _operation(
            "One whole message; marks it seen",
            _json("Email"),
            [ID, _parameter("peek", "query", TRUE_FALSE, "Do not mark it seen."), PASSWORD],
            security=_LOCKED,
        ),
        "patch": _operation(
            "Mark read or unread", _json("Seen"), [ID, PASSWORD], "SeenChange", _LOCKED
        ),
        "delete": _operation("Delete one message", _json("Message"), [ID, PASSWORD], None, _LOCKED),
    },
    "/api/email/{id}/raw": {
        "get": _operation(
            "The message's exact bytes",
            _bytes("message/rfc822", "The raw message"),
            [ID, PASSWORD],
            security=_LOCKED,
        )
    },
    "/api/email/{id}/attachments/{index}": {
        "get": _operation(
            "Download an attachment",
            _bytes("application/octet-stream", "The attachment, with its own Content-Type"),
            [
                ID,
                _parameter("index", "path", {"type": "string"}, "The attachment's index."),
                PASSWORD,
            ],
            security=_LOCKED,
        )
    },
    "/api/email/{id}/view-ticket": {
        "post": _operation(
            "A short-lived ticket to view the HTML body in a frame",
            _json("ViewTicket"),
            [ID, PASSWORD],
            security=_LOCKED,
        )
    },
    "/api/email/{id}/html": {
        "get": _operation(
            "The HTML body, sanitised, for a sandboxed frame",
            _bytes("text/html", "An HTML page"),
            [
                ID,
                _parameter("ticket", "query", {"type": "string"}, "A view ticket."),
                _parameter("images", "query", {"enum": ["remote"]}, "Load remote images."),
                PASSWORD,
            ],
            security=_LOCKED,
        )
    },
    "/api/email/{id}/cid/{content_id}": {
        "get": _operation(
            "An inline part by its Content-ID",
            _bytes("application/octet-stream", "The part, with its own Content-Type"),
            [
                ID,
                _parameter("content_id", "path", {"type": "string"}, "The part's Content-ID."),
                _parameter("ticket", "query", {"type": "string"}, "A view ticket."),
                PASSWORD,
            ],
            security=_LOCKED,
        )
    },
    "/api/mailbox/{address}/status": {
        "get": _operation("Whether the mailbox is locked", _json("MailboxStatus"), [ADDRESS])
    },
    "/api/mailbox/{address}/claim": {
        "post": _operation(
            "Lock an unclaimed mailbox with a password", _json("Token"), [ADDRESS], "Password"
        )
    },
    "/api/mailbox/{address}/login": {
        "post": _operation(
            "Exchange the password for a token", _json("Token"), [ADDRESS], "Password"
        )
    },
    "/api/mailbox/{address}/password": {
        "post": _operation(
            "Change the password; revokes every token", _json("Token"), [ADDRESS], "NewPassword"
        )
    },
    "/api/mailbox/{address}/release": {
        "post": {
            **_operation(
                "Unlock the mailbox; revokes every token",
                _json("Released"),
                [ADDRESS, PASSWORD],
                security=[{"Basic": []}, {"Bearer": []}],
            ),
            "requestBody": {"required": False, "content": {JSON: {"schema": _ref("Release")}}},
        }
    },
    "/api/mailboxes": {
        "get": _operation(
            "Every mailbox (the admin token)",
            _json("MailboxList"),
            [LIMIT, OFFSET],
            security=[{"Bearer": []}],
        )
    },
    "/api/webhooks": {
        "post": _operation(
            "Create a webhook; the answer holds its signing secret",
            _json("Webhook"),
            body="NewWebhook",
            security=_LOCKED,
        )
    },
    "/api/webhooks/{address}": {
        "get": _operation(
            "A mailbox's webhooks", _json("WebhookList"), [ADDRESS, PASSWORD], security=_LOCKED
        )
    },
    "/api/webhook/{id}": {
        "get": _operation(
            "One webhook", _json("Webhook"), [WEBHOOK_ID, PASSWORD], security=_LOCKED
        ),
        "put": _operation(
            "Change a webhook", _json("Webhook"), [WEBHOOK_ID, PASSWORD], "WebhookChange", _LOCKED
        ),
        "delete": _operation(
            "Delete a webhook", _json("Message"), [WEBHOOK_ID, PASSWORD], None, _LOCKED
        ),
    },
    "/api/webhook/{id}/test": {
        "post": _operation(
            "Send a signed test event now",
            _json("WebhookTest"),
            [WEBHOOK_ID, PASSWORD],
            None,
            _LOCKED,
        )
    },
    "/api/webhook/{id}/deliveries": {
        "get": _operation(
            "Delivery attempts, newest first",
            _json("Deliveries"),
            [WEBHOOK_ID, LIMIT, PASSWORD],
            security=_LOCKED,
        )
    },
}


def document() -> dict[str, Any]:
    """
    The whole OpenAPI 3.1 document.
    """
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tempmail",
            "version": __version__,
            "description": (
                "The REST API of tempmail, a self-hosted temporary mail server. Every error is "
                'JSON: {"error": "..."}. A claimed mailbox needs its token (Bearer), its '
                "password (Basic, user = the address) or the admin token; when the server has "
                "an API_KEY, every /api route but /api/health also needs X-API-Key. The "
                "WebSocket (/api/ws/{address}) and MCP (/mcp) have pages of their own."
            ),
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "Bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A mailbox token, or the ADMIN_TOKEN.",
                },
                "Basic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "The mailbox address and its password.",
                },
                "ApiKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-API-Key",
                    "description": "The server's API_KEY, when it has one (on top of the above).",
                },
            },
        },
    }


app = route_group_app()


class OpenApiRoutes:
    """
    C{GET /api/openapi.json} and C{GET /api/docs} (a page of the web UI
    that renders the document in the browser, with no outside resources).
    """

    app = app

    def __init__(self, web_root: Path | None) -> None:
        self.page = None if web_root is None else web_root / "api-docs" / "index.html"

    @app.route("/api/openapi.json", methods=["GET"])
    def openapi(self, request: IRequest) -> bytes:
        return json_response(request, document())

    @app.route("/api/docs", methods=["GET"])
    def docs(self, request: IRequest) -> bytes:
        if self.page is None or not self.page.is_file():
            raise ApiError(404, "the API reference page is not installed")
        request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
        request.setHeader(b"X-Content-Type-Options", b"nosniff")
        request.setHeader(b"Content-Security-Policy", CONTENT_SECURITY_POLICY.encode("ascii"))
        request.setHeader(b"Cache-Control", b"no-cache")
        return self.page.read_bytes()
