"""
What every route group shares: a Klein app made by L{route_group_app}, with
the one mapping of errors to JSON responses, and L{RouteBase}, the helpers
that open a mailbox under its lock.

Each group (mail, claims, webhooks, the WebSocket route, static files) has
its own Klein app, so groups can be composed per port
(L{tempmail.api.compose}); their errors are answered the same way because
every app gets the same handlers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from klein import Klein
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from tempmail.access import (
    AccessDenied,
    AlreadyClaimed,
    MailboxAccess,
    TooManyFailures,
    WeakPassword,
)
from tempmail.addresses import InvalidAddress, normalise_address
from tempmail.api.requests import credentials
from tempmail.api.responses import ApiError, error_response
from tempmail.interfaces import IMailStore, LockChanged, StorageUnavailable
from tempmail.models import MailboxGrant

log = Logger()

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
UUID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Not "Basic": a browser would pop up its own login dialog for the web UI.
_CHALLENGE = b'Bearer realm="tempmail"'


# Module functions, but Klein calls them as methods of the group: hence
# "self".  Klein's handler type is a Protocol keyed on those names, which a
# Callable alias cannot spell, so they are kept untyped here.
_HANDLERS: list[tuple[tuple[type[Exception], ...], Any]] = []


def _handles(*types: type[Exception]) -> Callable[[Any], Any]:
    def register(handler: Any) -> Any:
        _HANDLERS.append((types, handler))
        return handler

    return register


class RouteBase:
    """
    What the mailbox route groups have: the store, the lock check, and the
    domain for bare names.
    """

    def __init__(self, store: IMailStore, access: MailboxAccess, domain: str) -> None:
        self.store = store
        self.access = access
        self.domain = domain

    def _mailbox(self, address: str) -> str:
        try:
            return normalise_address(address, self.domain)
        except InvalidAddress as e:
            raise ApiError(400, f"invalid address: {e}") from None

    async def _open_mailbox(self, request: IRequest, address: str) -> MailboxGrant:
        """
        Normalise C{address} and check the client may use that mailbox;
        return the grant for the writes this check allows.
        """
        return await self.access.authorize(self._mailbox(address), credentials(request))


@_handles(ApiError)
def _api_error(self: object, request: IRequest, failure: Failure) -> bytes:
    error = failure.value
    assert isinstance(error, ApiError)
    return error_response(request, error.status, error.message)


@_handles(AccessDenied)
def _access_denied(self: object, request: IRequest, failure: Failure) -> bytes:
    request.setHeader(b"WWW-Authenticate", _CHALLENGE)
    return error_response(request, 401, str(failure.value))


@_handles(TooManyFailures)
def _too_many_failures(self: object, request: IRequest, failure: Failure) -> bytes:
    error = failure.value
    assert isinstance(error, TooManyFailures)
    seconds = math.ceil(error.retry_after)
    request.setHeader(b"Retry-After", str(seconds).encode())
    return error_response(request, 429, f"too many wrong passwords; retry in {seconds} s")


@_handles(AlreadyClaimed)
def _already_claimed(self: object, request: IRequest, failure: Failure) -> bytes:
    return error_response(request, 409, "Mailbox is already claimed and locked")


@_handles(WeakPassword)
def _weak_password(self: object, request: IRequest, failure: Failure) -> bytes:
    return error_response(request, 400, str(failure.value))


@_handles(LockChanged)
def _lock_changed(self: object, request: IRequest, failure: Failure) -> bytes:
    return error_response(
        request, 409, "the mailbox was claimed or released during the request; send it again"
    )


@_handles(StorageUnavailable)
def _storage_unavailable(self: object, request: IRequest, failure: Failure) -> bytes:
    log.warn("storage unavailable serving {uri}: {error}", uri=request.uri, error=failure.value)
    return error_response(request, 503, "storage unavailable; try again later")


@_handles(HTTPException)
def _http_error(self: object, request: IRequest, failure: Failure) -> bytes:
    error = failure.value
    assert isinstance(error, HTTPException)
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        request.setHeader(b"Allow", ", ".join(error.valid_methods).encode())
    return error_response(request, error.code or 500, error.name)


@_handles(Exception)
def _internal_error(self: object, request: IRequest, failure: Failure) -> bytes:
    log.failure("unhandled error serving {uri}", failure, uri=request.uri)
    return error_response(request, 500, "internal server error")


def route_group_app() -> Klein:
    """
    A Klein app for one route group, answering every failure as JSON:
    L{ApiError} with its status, L{AccessDenied} 401 (with
    C{WWW-Authenticate}), L{TooManyFailures} 429 (with C{Retry-After}),
    L{AlreadyClaimed} and L{LockChanged} 409, L{WeakPassword} 400,
    L{StorageUnavailable} 503, werkzeug's HTTP errors (405 with C{Allow}),
    and anything else 500, logged.
    """
    app = Klein()
    for types, handler in _HANDLERS:
        app.handle_errors(*types)(handler)
    return app
