"""
The shared frame of the HTTP application: one Klein app that every route
module registers on, the helpers they share, and the mapping of errors to
JSON responses.

Each group of routes is a class deriving from L{RouteBase} (mail, claims,
webhooks); L{tempmail.api.app.MailAPI} combines them.  Because they all
register on the one L{app}, a request is routed, and its errors answered,
the same way whichever module holds its route.
"""

from __future__ import annotations

import math
import re

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

app = Klein()

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
UUID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Not "Basic": a browser would pop up its own login dialog for the web UI.
_CHALLENGE = b'Bearer realm="tempmail"'


class RouteBase:
    """
    What every route group has: the store, the lock check, the domain for
    bare names, and the shared error handling.
    """

    app = app
    store: IMailStore
    access: MailboxAccess
    domain: str

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

    @app.handle_errors(ApiError)
    def api_error(self, request: IRequest, failure: Failure) -> bytes:
        error = failure.value
        assert isinstance(error, ApiError)
        return error_response(request, error.status, error.message)

    @app.handle_errors(AccessDenied)
    def access_denied(self, request: IRequest, failure: Failure) -> bytes:
        request.setHeader(b"WWW-Authenticate", _CHALLENGE)
        return error_response(request, 401, str(failure.value))

    @app.handle_errors(TooManyFailures)
    def too_many_failures(self, request: IRequest, failure: Failure) -> bytes:
        error = failure.value
        assert isinstance(error, TooManyFailures)
        seconds = math.ceil(error.retry_after)
        request.setHeader(b"Retry-After", str(seconds).encode())
        return error_response(request, 429, f"too many wrong passwords; retry in {seconds} s")

    @app.handle_errors(AlreadyClaimed)
    def already_claimed(self, request: IRequest, failure: Failure) -> bytes:
        return error_response(request, 409, "Mailbox is already claimed and locked")

    @app.handle_errors(WeakPassword)
    def weak_password(self, request: IRequest, failure: Failure) -> bytes:
        return error_response(request, 400, str(failure.value))

    @app.handle_errors(LockChanged)
    def lock_changed(self, request: IRequest, failure: Failure) -> bytes:
        return error_response(
            request, 409, "the mailbox was claimed or released during the request; send it again"
        )

    @app.handle_errors(StorageUnavailable)
    def storage_unavailable(self, request: IRequest, failure: Failure) -> bytes:
        log.warn("storage unavailable serving {uri}: {error}", uri=request.uri, error=failure.value)
        return error_response(request, 503, "storage unavailable; try again later")

    @app.handle_errors(HTTPException)
    def http_error(self, request: IRequest, failure: Failure) -> bytes:
        error = failure.value
        assert isinstance(error, HTTPException)
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            request.setHeader(b"Allow", ", ".join(error.valid_methods).encode())
        return error_response(request, error.code or 500, error.name)

    @app.handle_errors(Exception)
    def internal_error(self, request: IRequest, failure: Failure) -> bytes:
        log.failure("unhandled error serving {uri}", failure, uri=request.uri)
        return error_response(request, 500, "internal server error")
