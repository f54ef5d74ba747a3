"""
Driving the real daemon: C{twistd -n tempmail} in a subprocess, started by
L{tempmail.launcher} (port 0, a clean environment, no sleeping), with a
plain HTTP client for its API.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tempmail.launcher import DAEMON_ARGS, DaemonProcess, Launcher


@dataclass
class Response:
    """
    An HTTP response, read whole.
    """

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Daemon(DaemonProcess):
    """
    One running daemon, with helpers for its HTTP API.
    """

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def http(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """
        Send one request to the API and read the whole response.
        """
        request = urllib.request.Request(
            self.base_url + path, data=body, method=method, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return Response(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, dict(error.headers), error.read())

    def send_json(
        self, method: str, path: str, body: Any, headers: dict[str, str] | None = None
    ) -> Response:
        """
        Send a JSON body.
        """
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        return self.http(method, path, json.dumps(body).encode(), all_headers)

    def get_json(self, path: str) -> Any:
        response = self.http("GET", path)
        assert response.status == 200, (response.status, response.body)
        return response.json()

    def terminate(self) -> int:
        """
        Send SIGTERM and wait for the process to exit; return its code.
        """
        return self.stop()


class DaemonFactory:
    """
    Starts daemons in one working directory (so they share C{.env} and the
    default SQLite file) and stops them all at the end.
    """

    def __init__(self, workdir: Path, root: Path) -> None:
        self.workdir = workdir
        self.root = root
        self.launcher = Launcher(workdir, root=root)

    def command(self, *args: str) -> list[str]:
        """
        The argv that runs C{twistd} with this interpreter.
        """
        return self.launcher.command(args)

    def environment(self, **settings: str) -> dict[str, str]:
        """
        The whole environment a daemon gets (L{Launcher.environment}): none
        of the caller's settings, only the launcher's and C{settings}.
        """
        return self.launcher.environment(settings)

    def run(self, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
        """
        Run twistd to completion (for --help and startup errors).
        """
        return self.launcher.run(args, settings)

    def start(self, *args: str, **settings: str) -> Daemon:
        """
        Start C{twistd -n tempmail} (or C{args} instead) and wait until it
        reports its ports.
        """
        return Daemon(self.launcher, args or DAEMON_ARGS, settings)

    def stop_all(self) -> None:
        """
        Stop every daemon still running, restarted ones included; each must
        exit cleanly.
        """
        codes = self.launcher.stop_all()
        assert all(code == 0 for code in codes), f"daemon exit codes: {codes}"
