"""
C{GET /metrics}: the Prometheus scrape target, on the API port or on
C{METRICS_PORT}, optionally behind C{METRICS_TOKEN}.
"""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web.iweb import IRequest

from tempmail.api.responses import error_response
from tempmail.api.routing import route_group_app
from tempmail.authorization import MalformedAuthorization, parse_authorization
from tempmail.interfaces import IStore, StorageUnavailable
from tempmail.metrics import CONTENT_TYPE, Metrics
from tempmail.passwords import same_secret
from tempmail.times import clock_now

log = Logger()

app = route_group_app()


class MetricsRoutes:
    """
    Serves a L{Metrics} registry.

    @ivar token: when set, scrapes must send C{Authorization: Bearer
        <token>} (Prometheus's C{authorization} or C{bearer_token_file}).
    """

    app = app

    def __init__(
        self,
        metrics: Metrics,
        token: str | None = None,
        store: IStore | None = None,
        clock: IReactorTime | None = None,
    ) -> None:
        """
        @param store: read at each scrape for the store's gauges (counts,
            size, the webhook queue); without it they stay 0.
        """
        self.metrics = metrics
        self.token = token
        self.store = store
        self.clock = clock

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
    async def scrape(self, request: IRequest) -> bytes:
        if not self._authorised(request):
            request.setHeader(b"WWW-Authenticate", b'Bearer realm="tempmail metrics"')
            return error_response(request, 401, "metrics need the METRICS_TOKEN as a Bearer token")
        if self.store is not None and self.clock is not None:
            try:
                statistics = await self.store.statistics()
            except StorageUnavailable as e:
                # The rest is still worth having; the store's gauges keep
                # their last values, and the failure is counted.
                log.warn("metrics: the store did not answer: {error}", error=e)
            else:
                self.metrics.store_holds(statistics, clock_now(self.clock))
        request.setHeader(b"Content-Type", CONTENT_TYPE.encode("ascii"))
        request.setHeader(b"Cache-Control", b"no-store")
        return self.metrics.exposition()
