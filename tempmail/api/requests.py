"""
Reading what a request carries: query parameters, JSON bodies and
credentials.  Bad input becomes an L{ApiError}, never a traceback.
"""

from __future__ import annotations

import json
import re
from typing import Any

from twisted.web.iweb import IRequest

from tempmail.access import Credentials
from tempmail.api.responses import ApiError
from tempmail.authorization import MalformedAuthorization, parse_authorization
from tempmail.values import parse_bool

MAX_JSON_BODY = 64 * 1024
# ASCII digits only (str.isdigit also takes "²", which int() refuses), and
# few enough that the number fits the stores' 64-bit integers.
_WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")


def query(request: IRequest, name: str) -> str | None:
    """
    The last value of a query parameter, or C{None}.
    """
    values = request.args.get(name.encode())
    if not values:
        return None
    return str(values[-1].decode("utf-8", "replace"))


def whole_number(text: str) -> int | None:
    """
    C{text} as a whole number, or C{None} if it is not one (or has more
    than 18 digits).
    """
    return int(text) if _WHOLE_NUMBER.fullmatch(text) else None


def int_query(request: IRequest, name: str, default: int, low: int, high: int) -> int:
    """
    A whole-number query parameter within C{[low, high]}.
    """
    text = query(request, name)
    if text is None:
        return default
    number = whole_number(text)
    if number is None or not low <= number <= high:
        raise ApiError(400, f"{name} must be a whole number from {low} to {high}")
    return number


def bool_query(request: IRequest, name: str) -> bool:
    """
    A boolean query parameter; absent means false.
    """
    text = query(request, name)
    if text is None:
        return False
    try:
        return parse_bool(text)
    except ValueError:
        raise ApiError(400, f"{name} must be true or false") from None


def json_body(request: IRequest) -> dict[str, Any]:
    """
    The request body as a JSON object (an empty body is C{{}}).
    """
    assert request.content is not None
    raw = request.content.read(MAX_JSON_BODY + 1)
    if len(raw) > MAX_JSON_BODY:
        raise ApiError(413, f"the body is larger than {MAX_JSON_BODY} bytes")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        # RecursionError: nesting deeper than the decoder will follow.
        raise ApiError(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


def string_field(body: dict[str, Any], name: str) -> str:
    """
    A required string field of a JSON body.
    """
    value = body.get(name)
    if not isinstance(value, str):
        raise ApiError(400, f"{name} is required and must be a string")
    return value


def credentials(request: IRequest, body: dict[str, Any] | None = None) -> Credentials:
    """
    What the client presented: a Bearer token or Basic user and password in
    C{Authorization}, or a deprecated C{password} in the query or body.
    """
    header = request.getHeader(b"authorization")
    try:
        presented = parse_authorization(None if header is None else header.decode("latin-1"))
    except MalformedAuthorization as e:
        raise ApiError(400, str(e)) from None
    password = query(request, "password")
    if body is not None and isinstance(body.get("password"), str):
        password = body["password"]
    address = request.getClientAddress()
    return Credentials(
        presented.bearer, presented.basic, password, str(getattr(address, "host", address))
    )
