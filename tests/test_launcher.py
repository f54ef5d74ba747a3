"""
The daemon launcher: a clean environment, the ready event, the log, and
stopping, killing and restarting the daemon.
"""

from __future__ import annotations

import json
import os
import signal
import smtplib
import sys
from pathlib import Path

import pytest

from tempmail.launcher import (
    CHECKOUT,
    PASSED_ON,
    DaemonProcess,
    Launcher,
    LaunchError,
    is_problem,
)
from tests.daemon import Daemon, DaemonFactory


def _event(level: str) -> str:
    return json.dumps({"log_level": {"name": level}, "log_text": "x"}) + "\n"


def test_the_environment_is_an_allow_list_then_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [*PASSED_ON, *(name for name in os.environ if name.startswith("LC_"))]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("API_KEY", "from-the-shell")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("PYTHONPATH", "/somewhere/else")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.setenv("PATH", "/usr/bin")
    monkeypatch.setenv("HOME", "/home/someone")
    env = Launcher(tmp_path).environment({"SMTP_PORT": "2525", "DOMAIN_NAME": "x.test"})
    assert env == {
        "PATH": "/usr/bin",
        "HOME": "/home/someone",
        "LC_ALL": "C.UTF-8",
        "PYTHONPATH": str(CHECKOUT),
        "SMTP_PORT": "2525",
        "API_PORT": "0",
        "BIND_ADDRESS": "127.0.0.1",
        "DATABASE_URL": f"sqlite:{tmp_path / 'mail.db'}",
        "LOG_FORMAT": "json",
        "DOMAIN_NAME": "x.test",
    }


def test_a_relative_interpreter_is_made_absolute(tmp_path: Path) -> None:
    launcher = Launcher(tmp_path, python=os.path.join(".venv", "bin", "python"))
    assert launcher.command(["--help"]) == [
        str(Path.cwd() / ".venv" / "bin" / "python"),
        "-c",
        "from twisted.scripts.twistd import run; run()",
        "--help",
    ]
    assert Launcher(tmp_path, python="python3").python == "python3"


def test_problems_are_warnings_errors_and_text_outside_the_log() -> None:
    assert [is_problem(_event(level)) for level in ("debug", "info", "warn", "error")] == [
        False,
        False,
        True,
        True,
    ]
    assert is_problem(_event("critical"))
    assert is_problem("Traceback (most recent call last):\n")
    assert not is_problem("\n")
    assert not is_problem('["a JSON line that is not an event"]\n')


@pytest.mark.daemon
def test_the_callers_api_key_does_not_reach_the_daemon(
    daemon: DaemonFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_KEY", "from-the-shell")
    monkeypatch.setenv("ADMIN_TOKEN", "from-the-shell-too")
    server = daemon.start()
    # With an API key set, this listing would be refused without X-API-Key.
    assert server.http("GET", "/api/emails/anyone").status == 200
    # With that admin token set, it would open the operator's listing.
    shell_token = {"Authorization": "Bearer from-the-shell-too"}
    assert server.http("GET", "/api/mailboxes", headers=shell_token).status == 401


@pytest.mark.daemon
def test_ready_log_stop(tmp_path: Path) -> None:
    launcher = Launcher(tmp_path)
    started = DaemonProcess(launcher, settings={"DOMAIN_NAME": "launched.test"})
    assert launcher.started == [started]
    assert started.ports == {"smtp": started.smtp_port, "http": started.http_port}
    assert started.workdir == tmp_path
    assert "tempmail_ready" in started.wait_for_log("tempmail ready")
    with smtplib.SMTP("127.0.0.1", started.smtp_port, timeout=30) as client:
        assert client.ehlo()[1].startswith(b"launched.test")
    assert started.returncode is None
    assert launcher.stop_all() == [0]
    assert launcher.started == []
    assert started.returncode == 0
    assert started.problems == []
    with pytest.raises(LaunchError, match="output ended"):
        started.wait_for_log("never written", timeout=600)


@pytest.mark.daemon
def test_kill_then_restart_in_the_same_directory(daemon: DaemonFactory) -> None:
    server = daemon.start(DOMAIN_NAME="crash.test")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as client:
        client.sendmail("a@b.test", ["kept@crash.test"], b"Subject: before\r\n\r\nhi\r\n")
    expected = -signal.SIGKILL if sys.platform != "win32" else 1
    assert server.kill() == expected
    again = server.restart()
    assert isinstance(again, Daemon)
    assert again.process.pid != server.process.pid
    assert again.settings == {"DOMAIN_NAME": "crash.test"}
    assert again.get_json("/api/emails/kept@crash.test")["total"] == 1
    # The restarted daemon is stopped (and must exit 0) with the others.
    assert daemon.launcher.started == [server, again]


@pytest.mark.daemon
def test_restart_stops_a_running_daemon_first(daemon: DaemonFactory) -> None:
    server = daemon.start()
    # An answer proves the reactor runs, and so handles SIGTERM.
    assert server.http("GET", "/api/health").status == 200
    again = server.restart()
    assert server.returncode == 0
    assert again.returncode is None


@pytest.mark.daemon
def test_a_daemon_that_exits_during_startup(daemon: DaemonFactory) -> None:
    with pytest.raises(LaunchError, match=r"exited \(1\) during startup") as raised:
        daemon.start(SMTP_PORT="smtp")
    assert "SMTP_PORT='smtp'" in str(raised.value)
    assert daemon.launcher.started == []


@pytest.mark.daemon
def test_no_ready_event_in_time_kills_it(tmp_path: Path) -> None:
    launcher = Launcher(tmp_path)
    # twistd's own web server starts fine but never logs tempmail's event.
    web = ("-n", "--pidfile=", "web", "--listen=tcp:0:interface=127.0.0.1")
    with pytest.raises(LaunchError, match=r"no ready event from the daemon within 2 s"):
        DaemonProcess(launcher, web, timeout=2)
    assert launcher.started == []
