"""
A real local HTTP receiver for webhook tests: it records every request and
answers with the statuses it is told to, in order.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    """
    One request the receiver got.
    """

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def signature_valid(self, secret: str) -> bool:
        """
        Verify C{X-Tempmail-Signature} the way docs/WEBHOOKS.md tells users to.
        """
        fields = dict(
            part.split("=", 1) for part in self.headers["X-Tempmail-Signature"].split(",")
        )
        signed = fields["t"].encode() + b"." + self.body
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, fields["v1"])


class Receiver:
    """
    The recorded requests and the statuses still to answer.
    """

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.statuses: list[int] = []
        self.default_status = 200
        self.changed = threading.Condition()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def next_status(self) -> int:
        with self.changed:
            return self.statuses.pop(0) if self.statuses else self.default_status

    def record(self, received: Received) -> None:
        with self.changed:
            self.requests.append(received)
            self.changed.notify_all()

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 30) -> None:
        """
        Block until C{predicate(requests)} holds, or fail after C{timeout}.
        """
        with self.changed:
            if not self.changed.wait_for(lambda: predicate(self.requests), timeout):
                raise AssertionError(f"receiver waited in vain; got {len(self.requests)} requests")


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    """
    Serve a L{Receiver} on a free loopback port for the duration.
    """
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            receiver.record(Received(self.path, dict(self.headers.items()), body))
            self.send_response(receiver.next_status())
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
