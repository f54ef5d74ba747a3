"""
What a TLS handshake costs: SMTP connections per second without TLS, with
implicit TLS (SMTPS) and with STARTTLS, against a daemon of its own.

Each connection reads the greeting and says QUIT (STARTTLS: EHLO, STARTTLS,
the handshake, EHLO again, QUIT), so the difference between the modes is
the handshake.  The daemon gets a self-signed ECDSA P-256 certificate
(C{SMTP_SSL_SELF_SIGNED}); the client trusts exactly that certificate.
Client and server share the machine, so the figures are for the pair.

    .venv/bin/python bench/tls_handshake.py -n 2000 -c 4
"""

from __future__ import annotations

import argparse
import socket
import ssl
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# Run as a script, this file's directory is on sys.path, not the checkout.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._daemon import own_daemon

DOMAIN = "bench.test"


def _reply(stream: socket.socket | ssl.SSLSocket, buffer: bytearray) -> bytes:
    """
    Read one whole SMTP reply; return its last line.
    """
    while True:
        end = buffer.find(b"\r\n")
        if end < 0:
            chunk = stream.recv(4096)
            if not chunk:
                raise ConnectionError("closed")
            buffer += chunk
            continue
        line = bytes(buffer[:end])
        del buffer[: end + 2]
        if line[3:4] == b" ":
            return line


def plain(port: int, context: ssl.SSLContext) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        buffer = bytearray()
        _reply(sock, buffer)
        sock.sendall(b"QUIT\r\n")
        _reply(sock, buffer)


def smtps(port: int, context: ssl.SSLContext) -> None:
    raw = socket.create_connection(("127.0.0.1", port))
    with context.wrap_socket(raw, server_hostname=DOMAIN) as sock:
        buffer = bytearray()
        _reply(sock, buffer)
        sock.sendall(b"QUIT\r\n")
        _reply(sock, buffer)


def starttls(port: int, context: ssl.SSLContext) -> None:
    raw = socket.create_connection(("127.0.0.1", port))
    buffer = bytearray()
    _reply(raw, buffer)
    raw.sendall(b"EHLO bench.client\r\n")
    _reply(raw, buffer)
    raw.sendall(b"STARTTLS\r\n")
    if not _reply(raw, buffer).startswith(b"220"):
        raise ConnectionError("STARTTLS refused")
    with context.wrap_socket(raw, server_hostname=DOMAIN) as sock:
        sock.sendall(b"EHLO bench.client\r\n")
        _reply(sock, buffer)
        sock.sendall(b"QUIT\r\n")
        _reply(sock, buffer)


def measure(
    connect: Callable[[int, ssl.SSLContext], None],
    port: int,
    context: ssl.SSLContext,
    count: int,
    concurrency: int,
) -> float:
    """
    Open C{count} connections, C{concurrency} at a time; return per second.
    """
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for _ in pool.map(lambda _: connect(port, context), range(count)):
            pass
    return count / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=2000, help="connections per mode")
    parser.add_argument("-c", type=int, default=4, help="connections at once")
    parser.add_argument("--python", default=sys.executable, help="the daemon's interpreter")
    arguments = parser.parse_args()
    settings = {
        "DOMAIN_NAME": DOMAIN,
        "SMTP_SSL_ENABLED": "true",
        "SMTP_SSL_SELF_SIGNED": "true",
        "SMTP_STARTTLS_PORT": "0",
        "SMTP_SSL_PORT": "0",
    }
    with own_daemon(None, arguments.c, arguments.python, settings=settings) as daemon:
        context = ssl.create_default_context(cafile=str(daemon.workdir / "tls" / "selfsigned.crt"))
        modes = [
            ("plain", plain, daemon.ports["smtp"]),
            ("smtps", smtps, daemon.ports["smtps"]),
            ("starttls", starttls, daemon.ports["smtp"]),
        ]
        # One short round first, so imports and caches are warm.
        for _, connect, port in modes:
            measure(connect, port, context, 50, arguments.c)
        print(f"connections:     {arguments.n} per mode, {arguments.c} at once")
        rates = {}
        for name, connect, port in modes:
            rates[name] = measure(connect, port, context, arguments.n, arguments.c)
            print(f"{name + ':':<17}{rates[name]:8.0f} connections/s")
        cost = 1000 / rates["smtps"] - 1000 / rates["plain"]
        print(f"handshake cost:  {cost:.2f} ms of wall time per connection (smtps - plain)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
