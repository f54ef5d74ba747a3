"""
Probes for orchestrators and load balancers: C{/livez} and C{/readyz}.

They live outside C{/api}, so C{API_KEY} never hides them from a health
check, and they say nothing about any mailbox.
"""

from __future__ import annotations

from twisted.web.iweb import IRequest

from tempmail.api.responses import json_response
from tempmail.api.routing import route_group_app
from tempmail.health import Readiness

app = route_group_app()


class HealthRoutes:
    """
    C{GET /livez}: 200 while the process serves HTTP at all.
    C{GET /readyz}: 200 when the store answers and every listener listens,
    else 503 with the reasons.
    """

    app = app

    def __init__(self, readiness: Readiness | None) -> None:
        self.readiness = readiness

    @app.route("/livez", methods=["GET"])
    def livez(self, request: IRequest) -> bytes:
        return json_response(request, {"status": "ok"})

    @app.route("/readyz", methods=["GET"])
    async def readyz(self, request: IRequest) -> bytes:
        problems = [] if self.readiness is None else await self.readiness.problems()
        if problems:
            return json_response(
                request, {"status": "unavailable", "error": "; ".join(problems)}, 503
            )
        return json_response(request, {"status": "ok"})
