"""
C{GET /metrics}: the Prometheus scrape target, on the API port or on
C{METRICS_PORT}, optionally behind C{METRICS_TOKEN}.
"""

from __future__ import annotations

from twisted.web.iweb import IRequest

from tempmail.api.responses import error_response
from tempmail.api.routing import route_group_app
from tempmail.authorization import MalformedAuthorization, parse_authorization
from tempmail.metrics import CONTENT_TYPE, Metrics
from tempmail.passwords import same_secret

app = route_group_app()


class MetricsRoutes:
    """
    Serves a L{Metrics} registry.

    @ivar token: when set, scrapes must send C{Authorization: Bearer
        <token>} (Prometheus's C{authorization} or C{bearer_token_file}).
    """

    app = app

    def __init__(self, metrics: Metrics, token: str | None = None) -> None:
        self.metrics = metrics
        self.token = token

    def _authorised(self, request: IRequest) -> bool:
        if self.token is None:
            return True
        header = request.getHeader(b"authorization")
        try:
            bearer = parse_authorization(None if header is None else header.decode("latin-1"))
        except MalformedAuthorization:
            return False
        return bearer.bearer is not None and same_secret(bearer.bearer, self.token)

    @app.route("/metrics", methods=["GET"])
    def scrape(self, request: IRequest) -> bytes:
        if not self._authorised(request):
            request.setHeader(b"WWW-Authenticate", b'Bearer realm="tempmail metrics"')
            return error_response(request, 401, "metrics need the METRICS_TOKEN as a Bearer token")
        request.setHeader(b"Content-Type", CONTENT_TYPE.encode("ascii"))
        request.setHeader(b"Cache-Control", b"no-store")
        return self.metrics.exposition()
