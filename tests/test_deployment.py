"""
The container image and the systemd unit, checked without a container
engine or systemd running: they parse, name paths that exist, and start the
daemon with the documented command.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tempmail.api.health_routes import HealthRoutes

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTED_COMMAND = ["twistd", "-n", "--pidfile=", "tempmail"]


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """
    The Dockerfile's instructions, continuation lines joined, comments out.
    """
    text = re.sub(r"\\\n\s*", " ", dockerfile.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.skip("hadolint is not installed")
    result = subprocess.run(
        [hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_runs_the_documented_command_as_a_user_with_a_volume() -> None:
    found = instructions(ROOT / "Dockerfile")
    stages = [rest for keyword, rest in found if keyword == "FROM"]
    assert len(stages) == 2, "a build stage and a runtime stage"
    assert all(re.match(r"python:3\.\d+-slim", stage) for stage in stages)
    commands = [json.loads(rest) for keyword, rest in found if keyword == "CMD"]
    assert commands == [DOCUMENTED_COMMAND]
    (user,) = [rest for keyword, rest in found if keyword == "USER"]
    assert not user.startswith(("0", "root"))
    assert ("VOLUME", '["/data"]') in found
    assert ("STOPSIGNAL", "SIGTERM") in found
    exposed = {int(p) for keyword, rest in found if keyword == "EXPOSE" for p in rest.split()}
    assert {2525, 3000} <= exposed
    (healthcheck,) = [rest for keyword, rest in found if keyword == "HEALTHCHECK"]
    assert "/livez" in healthcheck
    routes = {rule.rule for rule in HealthRoutes.app.url_map.iter_rules()}
    assert "/livez" in routes
    for doc in ("docs/DOCKER_DEPLOYMENT.md", "README.md"):
        assert "docker" in (ROOT / doc).read_text()


def test_every_path_the_image_copies_exists_and_is_not_ignored() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for keyword, rest in instructions(ROOT / "Dockerfile"):
        if keyword != "COPY" or rest.startswith("--from"):
            continue
        *sources, _ = rest.split()
        for source in sources:
            assert (ROOT / source).exists(), source
            assert source not in ignored, source
    assert (ROOT / "twisted/plugins/tempmail_plugin.py").exists()
    compose = (ROOT / "compose.yaml").read_text()
    assert "/data" in compose
    assert "tempmail-data:" in compose


def unit_settings(path: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_the_unit_is_hardened_and_runs_the_documented_command() -> None:
    unit = unit_settings(ROOT / "contrib/systemd/tempmail.service")
    assert unit["Type"] == ["simple"]
    assert unit["StateDirectory"] == ["tempmail"]
    assert unit["User"] == ["tempmail"]
    assert unit["ProtectSystem"] == ["strict"]
    assert unit["NoNewPrivileges"] == ["yes"]
    assert unit["PrivateTmp"] == ["yes"]
    assert unit["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert "EnvironmentFile" in unit
    (start,) = unit["ExecStart"]
    program, *arguments = start.split()
    assert Path(program).name == "twistd"
    assert [Path(program).name, *arguments] == DOCUMENTED_COMMAND


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # verify checks that ExecStart exists: point it at this environment's twistd.
    text = (ROOT / "contrib/systemd/tempmail.service").read_text()
    twistd = Path(sys.executable).parent / "twistd"
    unit = tmp_path / "tempmail.service"
    unit.write_text(text.replace("/opt/tempmail/bin/twistd", str(twistd)))
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tempmail.service" not in result.stderr, result.stderr
