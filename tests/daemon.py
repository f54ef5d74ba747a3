"""
Driving the real daemon: C{twistd -n tempmail} in a subprocess, with a
plain HTTP client for its API.

The daemon is asked for port 0 and reports the ports it got in its
C{tempmail ready} log event, so tests never race for free ports and never
sleep: they wait for that event with a timeout.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tempmail.readiness import ready_ports

STARTUP_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 30.0


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


@dataclass
class Daemon:
    """
    One running daemon process.
    """

    process: subprocess.Popen[bytes]
    smtp_port: int
    http_port: int
    workdir: Path
    log_lines: list[str] = field(default_factory=list)
    logged: threading.Condition = field(default_factory=threading.Condition)

    def wait_for_log(self, text: str, timeout: float = 30) -> str:
        """
        Block until a log line containing C{text} appears; return it.
        """

        def found() -> str | None:
            return next((line for line in self.log_lines if text in line), None)

        with self.logged:
            if not self.logged.wait_for(lambda: found() is not None, timeout):
                raise AssertionError(f"no log line with {text!r}")
        line = found()
        assert line is not None
        return line

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
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError("the daemon did not exit after SIGTERM") from None


class DaemonFactory:
    """
    Starts daemons in one working directory (so they share C{.env} and the
    default SQLite file) and stops them all at the end.
    """

    def __init__(self, workdir: Path, root: Path) -> None:
        self.workdir = workdir
        self.root = root
        self.running: list[Daemon] = []

    def command(self, *args: str) -> list[str]:
        """
        The argv that runs C{twistd} with this interpreter.
        """
        return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", *args]

    def environment(self, **settings: str) -> dict[str, str]:
        """
        The environment for a daemon: this checkout on the path, the given
        settings, and no stray tempmail settings from the caller's shell.
        """
        env = {k: v for k, v in os.environ.items() if k not in ("LOG_LEVEL", "RUST_LOG")}
        env["PYTHONPATH"] = str(self.root)
        env.update({"SMTP_PORT": "0", "API_PORT": "0", "BIND_ADDRESS": "127.0.0.1"})
        env.update({"DATABASE_URL": f"sqlite:{self.workdir / 'mail.db'}", "LOG_FORMAT": "json"})
        env.update(settings)
        return env

    def run(self, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
        """
        Run twistd to completion (for --help and startup errors).
        """
        return subprocess.run(
            self.command(*args),
            cwd=self.workdir,
            env=self.environment(**settings),
            capture_output=True,
            text=True,
            timeout=STARTUP_TIMEOUT,
        )

    def start(self, *args: str, **settings: str) -> Daemon:
        """
        Start C{twistd -n tempmail} (or C{args} instead) and wait until it
        reports its ports.
        """
        argv = self.command(*(args or ("-n", "--pidfile=", "tempmail")))
        process = subprocess.Popen(
            argv,
            cwd=self.workdir,
            env=self.environment(**settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        lines: queue.Queue[str | None] = queue.Queue()
        log_lines: list[str] = []
        logged = threading.Condition()

        def read() -> None:
            assert process.stdout is not None
            for raw in process.stdout:
                line = raw.decode("utf-8", "replace")
                with logged:
                    log_lines.append(line)
                    logged.notify_all()
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        while True:
            try:
                line = lines.get(timeout=STARTUP_TIMEOUT)
            except queue.Empty:
                process.kill()
                raise AssertionError("no ready event:\n" + "".join(log_lines)) from None
            if line is None:
                process.wait()
                raise AssertionError("the daemon exited during startup:\n" + "".join(log_lines))
            ports = ready_ports(line)
            if ports is not None:
                break
        daemon = Daemon(process, ports["smtp"], ports["http"], self.workdir, log_lines, logged)
        self.running.append(daemon)
        return daemon

    def stop_all(self) -> None:
        """
        Stop every daemon still running; each must exit cleanly.
        """
        codes = [d.terminate() for d in self.running if d.process.poll() is None]
        self.running.clear()
        assert all(code == 0 for code in codes), f"daemon exit codes: {codes}"
