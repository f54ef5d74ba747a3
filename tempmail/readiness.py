"""
How the daemon says it is ready: one log event carrying its ports.

The daemon logs it (L{tempmail.service}) once every listener is bound.
With C{LOG_FORMAT=json}, tools that start the daemon (L{tempmail.launcher}
for the tests and the benches, a supervisor) read the listening ports from
that line, so port 0 works and nobody has to poll.  Standard library only,
so such tools need none of the daemon's dependencies to import it.
"""

from __future__ import annotations

import json

READY_KEY = "tempmail_ready"


def ready_ports(line: str) -> dict[str, int] | None:
    """
    The ports (C{{"smtp": ..., "http": ...}}) from a JSON log line of the
    ready event, or C{None} for any other line.
    """
    try:
        event = json.loads(line)
    except ValueError:
        return None
    ports = event.get(READY_KEY) if isinstance(event, dict) else None
    if isinstance(ports, dict) and all(isinstance(p, int) for p in ports.values()):
        return ports
    return None
