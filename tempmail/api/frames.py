"""
The JSON text frames of the mailbox WebSocket.

Every frame is an object with a C{type} tag.  C{Connected}, C{Email},
C{EmailDeleted} and C{EmailRead} keep the shapes that existing clients
parse; C{EmailFlags} reports any change to a message's flags.  A frame is
built and encoded once per event, however many sockets send it.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from tempmail.api.serialise import summary_json
from tempmail.events import EventKind, MailEvent


def _encode(frame: dict[str, Any]) -> bytes:
    return json.dumps(frame, ensure_ascii=False).encode("utf-8")


def connected_frame(mailbox: str) -> bytes:
    """
    The first frame of a socket, sent once its lock check has passed:
    C{{"type": "Connected", "address": ...}}.  Events come only after it.
    """
    return _encode({"type": "Connected", "address": mailbox})


def event_frame(event: MailEvent) -> dict[str, Any] | None:
    """
    The frame for an event, or C{None} if clients are not told of it (lock
    changes, which the socket acts on itself).
    """
    summary = event.summary
    if summary is None:
        return None
    if event.kind is EventKind.ARRIVAL:
        return {"type": "Email", **summary_json(summary)}
    if event.kind is EventKind.DELETION:
        reason = event.reason.value if event.reason else None
        return {
            "type": "EmailDeleted",
            "id": summary.id,
            "address": event.mailbox,
            "reason": reason,
        }
    if event.kind is EventKind.READ:
        return {"type": "EmailRead", "id": summary.id, "address": event.mailbox}
    if event.kind is EventKind.FLAGS_CHANGED:
        return {
            "type": "EmailFlags",
            "id": summary.id,
            "address": event.mailbox,
            "seen": summary.seen,
            "flags": list(summary.flags),
        }
    return None


# Events are frozen values and the hub hands the same one to every socket
# of a mailbox, so a small cache turns N encodings into one.
@functools.lru_cache(maxsize=64)
def encoded_frame(event: MailEvent) -> bytes | None:
    """
    The bytes of L{event_frame}, encoded once per event however many sockets
    send it; C{None} if clients are not told of the event.
    """
    frame = event_frame(event)
    return None if frame is None else _encode(frame)
