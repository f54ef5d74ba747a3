"""
Run the daemon in a subprocess: C{twistd -n --pidfile= tempmail} from a
checkout, for the end-to-end tests and the benches.

The daemon is asked for port 0 and, with C{LOG_FORMAT=json}, names the ports
it got in its ready event (L{tempmail.readiness}), so callers never race for
free ports and never poll: a thread reads the daemon's output as it comes
and callers wait on a condition, with a timeout, for the line they need.

The daemon's environment is built from scratch: a few essentials of the
caller's (L{PASSED_ON}, C{LC_*}), C{PYTHONPATH} naming the checkout, the
launcher's defaults (L{Launcher.environment}) and the settings the caller
gives.  Nothing else of the caller's shell, such as an C{API_KEY} or an
C{ADMIN_TOKEN}, reaches the daemon under test.

Standard library only: the bench clients import this without the daemon's
dependencies (the daemon itself runs with an interpreter that has them).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NoReturn, Self

from tempmail.readiness import ready_ports

CHECKOUT = Path(__file__).resolve().parent.parent
"""The checkout this module belongs to, put on the daemon's C{PYTHONPATH}."""

DAEMON_ARGS = ("-n", "--pidfile=", "tempmail")
"""The C{twistd} arguments that run tempmail in the foreground, no pid file."""

STARTUP_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 30.0

PASSED_ON = frozenset(
    {
        "PATH",
        "HOME",
        "LANG",
        "LANGUAGE",
        "TMPDIR",
        # What Windows processes need to start, find a temporary directory
        # and a profile.
        "SYSTEMROOT",
        "SYSTEMDRIVE",
        "WINDIR",
        "COMSPEC",
        "PATHEXT",
        "TEMP",
        "TMP",
        "USERPROFILE",
    }
)
"""The caller's environment variables a daemon gets, with every C{LC_*}."""

_TWISTD = "from twisted.scripts.twistd import run; run()"
_PROBLEM_LEVELS = frozenset({"warn", "error", "critical"})


class LaunchError(Exception):
    """
    A daemon did not start, or did not stop when told to, or its output
    ended without the line a caller waited for.  The message includes
    what the daemon wrote.
    """


def is_problem(line: str) -> bool:
    """
    Whether a line of the daemon's output reports a problem: a JSON log
    event at warn level or above, or any other non-blank text (a traceback,
    which Python writes outside the JSON log).
    """
    try:
        event = json.loads(line)
    except ValueError:
        return bool(line.strip())
    level = event.get("log_level") if isinstance(event, dict) else None
    return isinstance(level, dict) and level.get("name") in _PROBLEM_LEVELS


class Launcher:
    """
    How to run daemons: the interpreter, the checkout, the working
    directory.  Daemons started with it share that directory, so a restart
    finds the same C{.env} and the same default SQLite file.

    @ivar started: every L{DaemonProcess} started with this launcher and
        not yet stopped by L{stop_all}.
    """

    def __init__(
        self, workdir: Path, *, python: str = sys.executable, root: Path = CHECKOUT
    ) -> None:
        """
        @param workdir: the daemons' working directory.
        @param python: the interpreter to run C{twistd} with; it needs
            tempmail's dependencies (the project's virtualenv).
        @param root: the checkout to run tempmail from.
        """
        self.workdir = workdir
        # The daemon runs in workdir, so a relative interpreter path would
        # name the wrong file there; a bare name is looked up on PATH.
        self.python = str(Path(python).absolute()) if os.sep in python else python
        self.root = root
        self.started: list[DaemonProcess] = []

    def command(self, args: Sequence[str] = DAEMON_ARGS) -> list[str]:
        """
        The argv that runs C{twistd} with C{args}.
        """
        return [self.python, "-c", _TWISTD, *args]

    def environment(self, settings: Mapping[str, str] | None = None) -> dict[str, str]:
        """
        The whole environment of a daemon: the caller's L{PASSED_ON}
        variables and C{LC_*}, C{PYTHONPATH} naming the checkout, then the
        settings this launcher depends on (port 0 everywhere on 127.0.0.1, a
        SQLite file in the working directory, JSON logs, which carry the
        ready event), then C{settings}, which win over all of them.
        """
        env = {
            name: value
            for name, value in os.environ.items()
            if name in PASSED_ON or name.startswith("LC_")
        }
        env.update(
            PYTHONPATH=str(self.root),
            SMTP_PORT="0",
            API_PORT="0",
            BIND_ADDRESS="127.0.0.1",
            DATABASE_URL=f"sqlite:{self.workdir / 'mail.db'}",
            LOG_FORMAT="json",
        )
        env.update(settings or {})
        return env

    def run(
        self,
        args: Sequence[str],
        settings: Mapping[str, str] | None = None,
        timeout: float = STARTUP_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        """
        Run C{twistd} with C{args} to completion (C{--help}, a startup
        error) and capture its output as text.

        @raise subprocess.TimeoutExpired: if it runs longer than C{timeout}.
        """
        return subprocess.run(
            self.command(args),
            cwd=self.workdir,
            env=self.environment(settings),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def stop_all(self) -> list[int]:
        """
        Stop (L{DaemonProcess.stop}) every started daemon still running and
        forget them all.

        @return: the exit status of each daemon stopped here, in start order.
        @raise LaunchError: if one had to be killed; the others are stopped
            first.
        """
        running = [daemon for daemon in self.started if daemon.returncode is None]
        self.started.clear()
        codes: list[int] = []
        errors: list[LaunchError] = []
        for daemon in running:
            try:
                codes.append(daemon.stop())
            except LaunchError as e:
                errors.append(e)
        if errors:
            raise errors[0]
        return codes


class DaemonProcess:
    """
    A daemon started with a L{Launcher}: constructing one starts the process
    and returns once it has logged its ready event.  Its output (stdout and
    stderr) is read for its whole life, so a chatty log can never fill the
    pipe and stall it, and kept in L{lines}.

    @ivar launcher: what started it (and will start it again on L{restart}).
    @ivar args: its C{twistd} arguments.
    @ivar settings: the settings it was given on top of the launcher's.
    @ivar process: the subprocess.
    @ivar ports: the ports named by the ready event, by listener name.
    @ivar smtp_port: the SMTP port.
    @ivar http_port: the HTTP API port.
    """

    def __init__(
        self,
        launcher: Launcher,
        args: Sequence[str] = DAEMON_ARGS,
        settings: Mapping[str, str] | None = None,
        timeout: float = STARTUP_TIMEOUT,
    ) -> None:
        """
        Start C{twistd} with C{args} in the launcher's working directory and
        wait up to C{timeout} seconds for the ready event.

        @raise LaunchError: if the process cannot be run, exits first, or
            stays silent for C{timeout} (it is then killed).
        """
        self.launcher = launcher
        self.args = tuple(args)
        self.settings = dict(settings or {})
        self._changed = threading.Condition()
        self._lines: list[str] = []
        self._ready: dict[str, int] | None = None
        self._ended = False
        try:
            self.process = subprocess.Popen(
                launcher.command(self.args),
                cwd=launcher.workdir,
                env=launcher.environment(self.settings),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        except OSError as e:
            raise LaunchError(f"cannot run {launcher.python}: {e}") from None
        self._reader = threading.Thread(
            target=self._read, name=f"daemon-{self.process.pid}-output", daemon=True
        )
        self._reader.start()
        with self._changed:
            self._changed.wait_for(lambda: self._ready is not None or self._ended, timeout)
            ready = self._ready
        if ready is None:
            self._fail_startup(timeout)
        self.ports: dict[str, int] = ready
        self.smtp_port: int = ready["smtp"]
        self.http_port: int = ready["http"]
        launcher.started.append(self)

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout:
            for raw in self.process.stdout:
                line = raw.decode("utf-8", "replace")
                with self._changed:
                    self._lines.append(line)
                    if self._ready is None:
                        self._ready = ready_ports(line)
                    self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def _fail_startup(self, timeout: float) -> NoReturn:
        if self._ended:
            code = self.process.wait(timeout=SHUTDOWN_TIMEOUT)
            why = f"the daemon exited ({code}) during startup"
        else:
            self.kill()
            why = f"no ready event from the daemon within {timeout:g} s (killed it)"
        output = "".join(self.lines)
        if "ModuleNotFoundError" in output:
            why += (
                f"; {self.launcher.python} lacks tempmail's dependencies: use the"
                " project's virtualenv interpreter (.venv/bin/python)"
            )
        raise LaunchError(f"{why}:\n{output}")

    @property
    def workdir(self) -> Path:
        """
        The daemon's working directory.
        """
        return self.launcher.workdir

    @property
    def lines(self) -> list[str]:
        """
        Every line the daemon has written so far, in order, with its line
        ending.
        """
        with self._changed:
            return list(self._lines)

    @property
    def problems(self) -> list[str]:
        """
        The lines of L{lines} that report a problem (L{is_problem}).
        """
        return [line for line in self.lines if is_problem(line)]

    @property
    def returncode(self) -> int | None:
        """
        The exit status, or C{None} while the process runs.
        """
        return self.process.poll()

    def wait_for_log(self, text: str, timeout: float = 30.0) -> str:
        """
        Block until the daemon has written a line containing C{text}.

        @return: the first such line.
        @raise LaunchError: after C{timeout} seconds, or as soon as the
            daemon's output ends without one.
        """

        def found() -> str | None:
            return next((line for line in self._lines if text in line), None)

        with self._changed:
            self._changed.wait_for(lambda: found() is not None or self._ended, timeout)
            line = found()
        if line is None:
            why = "the daemon's output ended" if self._ended else f"waited {timeout:g} s"
            raise LaunchError(f"no log line with {text!r}: {why}")
        return line

    def stop(self, timeout: float = SHUTDOWN_TIMEOUT) -> int:
        """
        Send SIGTERM (unless it has exited already) and wait for the exit.

        @return: the exit status.
        @raise LaunchError: if it had not exited after C{timeout} seconds;
            it is then killed.
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise LaunchError(
                f"the daemon did not exit within {timeout:g} s of SIGTERM (killed it)"
            ) from None
        self._drain()
        return code

    def kill(self) -> int:
        """
        Kill the daemon with SIGKILL, as a crash would, and wait for it.

        @return: the exit status (C{-9} on POSIX).
        """
        if self.process.poll() is None:
            self.process.kill()
        code = self.process.wait(timeout=SHUTDOWN_TIMEOUT)
        self._drain()
        return code

    def _drain(self) -> None:
        # Once the process has exited its end of the pipe is closed and the
        # reader finishes, so lines holds everything it wrote.
        self._reader.join(SHUTDOWN_TIMEOUT)

    def restart(self, timeout: float = STARTUP_TIMEOUT) -> Self:
        """
        Start the same daemon again (same launcher, so the same directory,
        arguments and settings), after stopping this one with L{stop} if it
        still runs; its exit status is then L{returncode}.

        @return: the new daemon, of this daemon's class.
        @raise LaunchError: as L{stop} and the constructor do.
        """
        if self.process.poll() is None:
            self.stop()
        return type(self)(self.launcher, self.args, self.settings, timeout)

    def cpu_seconds(self) -> float | None:
        """
        User plus system CPU time the process has used so far, from
        C{/proc/<pid>/stat}; C{None} where that cannot be read (not Linux,
        or the process is gone).
        """
        try:
            stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        except OSError:
            return None
        # The fields after the parenthesised command name; utime and stime
        # are the 14th and 15th fields of the whole line.
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
