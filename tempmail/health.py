"""
Whether the daemon can serve: what C{/readyz} reports.
"""

from __future__ import annotations

from collections.abc import Iterable

from twisted.application.service import IService
from twisted.logger import Logger

from tempmail.interfaces import IMailStore
from tempmail.service import ListeningService

log = Logger()


class Readiness:
    """
    Checks the store and the listeners of a running daemon.

    @ivar services: the daemon's services; its L{ListeningService}s are
        looked up at each check, so listeners added after this is made count.
    """

    def __init__(self, store: IMailStore, services: Iterable[IService]) -> None:
        self.store = store
        self.services = services

    async def problems(self) -> list[str]:
        """
        What keeps the daemon from serving, one short reason each; empty
        when it is ready.
        """
        found = [
            f"{service.name} is not listening"
            for service in self.services
            if isinstance(service, ListeningService)
            and (service.port is None or not service.running)
        ]
        try:
            await self.store.check_health()
        except Exception as e:
            log.warn("readiness: storage failed: {error}", error=e)
            found.append("storage unavailable")
        return found
