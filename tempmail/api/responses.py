"""
Writing JSON and byte responses, and turning every failure into a JSON
C{{"error": "..."}} body with the right status.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.web.iweb import IRequest

# Reason phrases twisted.web does not know.
_PHRASES = {429: b"Too Many Requests"}


class ApiError(Exception):
    """
    A request that cannot be served; becomes C{{"error": message}}.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message


def json_response(request: IRequest, body: Any, status: int = 200) -> bytes:
    """
    Set the status and headers for a JSON body and return its bytes.
    """
    request.setResponseCode(status, _PHRASES.get(status))
    request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
    request.setHeader(b"X-Content-Type-Options", b"nosniff")
    request.setHeader(b"Cache-Control", b"no-store")
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def error_response(request: IRequest, status: int, message: str) -> bytes:
    """
    A JSON error body.
    """
    return json_response(request, {"error": message}, status)


def mail_content_response(
    request: IRequest, content: bytes, content_type: str, disposition: str | None = None
) -> bytes:
    """
    Serve bytes that came from mail.

    They are sandboxed by CSP and never sniffed, so an HTML part or an SVG
    attachment cannot run script in the API's origin even if a browser is
    sent straight to it.
    """
    request.setResponseCode(200)
    request.setHeader(b"Content-Type", content_type.encode("ascii", "replace"))
    request.setHeader(b"Content-Length", str(len(content)).encode())
    request.setHeader(b"X-Content-Type-Options", b"nosniff")
    request.setHeader(b"Content-Security-Policy", b"sandbox; default-src 'none'")
    request.setHeader(b"Cache-Control", b"private, no-store")
    if disposition is not None:
        request.setHeader(b"Content-Disposition", disposition.encode("ascii"))
    return content
