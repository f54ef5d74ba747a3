"""
Settings: value parsers, the three sources and their order, and errors.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tempmail import values
from tempmail.config import SETTINGS, ConfigError, load_settings, read_dotenv
from tempmail.storage.location import MEMORY, parse_database_url


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("Yes", True),
        ("1", True),
        ("on", True),
        ("false", False),
        ("No", False),
        ("0", False),
        (" off ", False),
    ],
)
def test_booleans_accept_the_usual_spellings(text: str, expected: bool) -> None:
    assert values.parse_bool(text) is expected


@pytest.mark.parametrize("text", ["", "maybe", "2", "tru"])
def test_other_booleans_are_errors(text: str) -> None:
    with pytest.raises(ValueError, match="expected a boolean"):
        values.parse_bool(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1024", 1024),
        ("25M", 25 * 1024**2),
        ("25MiB", 25 * 1024**2),
        ("10k", 10240),
        ("1G", 1024**3),
        ("1.5K", 1536),
    ],
)
def test_sizes_take_binary_suffixes(text: str, expected: int) -> None:
    assert values.parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "0", "-5", "12 parsecs", "M"])
def test_bad_sizes_are_errors(text: str) -> None:
    with pytest.raises(ValueError):
        values.parse_size(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30", 30.0), ("5m", 300.0), ("2h", 7200.0), ("1d", 86400.0), ("0.5s", 0.5)],
)
def test_durations_take_suffixes(text: str, expected: float) -> None:
    assert values.parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "0", "soon", "5 weeks"])
def test_bad_durations_are_errors(text: str) -> None:
    with pytest.raises(ValueError):
        values.parse_duration(text)


@pytest.mark.parametrize("text", ["-1", "65536", "http", "25.5"])
def test_bad_ports_are_errors(text: str) -> None:
    with pytest.raises(ValueError, match="port number"):
        values.parse_port(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("info", "info"),
        ("DEBUG", "debug"),
        ("trace", "debug"),
        ("warning", "warn"),
        ("info,dynip_email::smtp=debug", "info"),
    ],
)
def test_log_levels_accept_rust_log_filters(text: str, expected: str) -> None:
    assert values.parse_log_level(text) == expected


def test_database_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_database_url("sqlite:emails.db").target == str(tmp_path / "emails.db")
    assert parse_database_url("sqlite://data/mail.db").target == str(tmp_path / "data/mail.db")
    assert parse_database_url("sqlite:/abs/mail.db").target == "/abs/mail.db"
    assert parse_database_url("sqlite::memory:").target == MEMORY
    assert parse_database_url("sqlite:emails.db?mode=rwc").target == str(tmp_path / "emails.db")
    with pytest.raises(ValueError, match="only mode=rwc"):
        parse_database_url("sqlite:emails.db?mode=ro")
    for bad in ["postgres://h/db", "mysql:x", "sqlite:", "emails.db"]:
        with pytest.raises(ValueError, match="sqlite:"):
            parse_database_url(bad)


def test_defaults_match_the_original_readme() -> None:
    settings = load_settings({}, {}, {})
    assert (settings.smtp_port, settings.api_port) == (2525, 3000)
    assert (settings.smtp_starttls_port, settings.smtp_ssl_port) == (587, 465)
    assert (settings.imap_port, settings.mcp_port) == (143, 3001)
    assert settings.domain_name == "tempmail.local"
    assert str(settings.database_url).endswith("/emails.db")
    assert settings.email_retention_hours is None
    assert settings.reject_non_domain_emails is False
    assert settings.max_message_size == 25 * 1024 * 1024
    assert settings.max_recipients == 100
    assert settings.bind_address == "0.0.0.0"


def test_options_beat_environment_beat_dotenv() -> None:
    dotenv = {"SMTP_PORT": "1", "API_PORT": "2", "IMAP_PORT": "3"}
    environ = {"SMTP_PORT": "10", "API_PORT": "20"}
    settings = load_settings(environ, dotenv, {"SMTP_PORT": "100", "API_PORT": None})
    assert (settings.smtp_port, settings.api_port, settings.imap_port) == (100, 20, 3)


def test_rust_log_is_an_alias_and_log_level_wins() -> None:
    assert load_settings({"RUST_LOG": "debug"}, {}, {}).log_level == "debug"
    assert load_settings({"RUST_LOG": "debug", "LOG_LEVEL": "error"}, {}, {}).log_level == "error"


def test_errors_name_the_setting_and_the_source_name() -> None:
    with pytest.raises(ConfigError, match=r"^RUST_LOG='loud': expected one of"):
        load_settings({"RUST_LOG": "loud"}, {}, {})
    with pytest.raises(ConfigError, match=r"^REJECT_NON_DOMAIN_EMAILS='sure': expected a boolean"):
        load_settings({}, {"REJECT_NON_DOMAIN_EMAILS": "sure"}, {})
    with pytest.raises(ConfigError, match=r"^EMAIL_RETENTION_HOURS='-3'"):
        load_settings({"EMAIL_RETENTION_HOURS": "-3"}, {}, {})


def test_ssl_needs_both_paths(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SMTP_SSL_CERT_PATH and SMTP_SSL_KEY_PATH must be set"):
        load_settings({"SMTP_SSL_ENABLED": "yes"}, {}, {})
    with pytest.raises(ConfigError, match=r"SMTP_SSL_CERT_PATH=.*readable PEM file"):
        load_settings({"SMTP_SSL_CERT_PATH": str(tmp_path / "missing.pem")}, {}, {})
    pem = tmp_path / "cert.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n")
    settings = load_settings(
        {"SMTP_SSL_ENABLED": "1", "SMTP_SSL_CERT_PATH": str(pem), "SMTP_SSL_KEY_PATH": str(pem)},
        {},
        {},
    )
    assert settings.smtp_ssl_enabled and settings.smtp_ssl_key_path == str(pem)


def test_dotenv_syntax(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(
        "# comment\n\nexport SMTP_PORT=2526\nDOMAIN_NAME = 'quoted.test'\n"
        'API_PORT="3001"\nIMAP_PORT=144 # trailing comment\n'
    )
    assert read_dotenv(path) == {
        "SMTP_PORT": "2526",
        "DOMAIN_NAME": "quoted.test",
        "API_PORT": "3001",
        "IMAP_PORT": "144",
    }
    assert read_dotenv(tmp_path / "absent") == {}
    path.write_text("JUST A LINE\n")
    with pytest.raises(ConfigError, match=r"\.env:1: expected KEY=VALUE"):
        read_dotenv(path)


def test_every_setting_is_documented() -> None:
    root = Path(__file__).resolve().parent.parent
    documentation = (root / "docs" / "CONFIGURATION.md").read_text()
    example = (root / "env.example").read_text()
    for setting in SETTINGS:
        assert f"`{setting.name}`" in documentation, setting.name
        assert f"{setting.name}=" in example, setting.name


def test_a_webhook_lease_must_outlast_an_attempt() -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_LEASE must be longer than WEBHOOK_TIMEOUT"):
        load_settings({"WEBHOOK_LEASE": "10s", "WEBHOOK_TIMEOUT": "10s"}, {}, {})
    assert load_settings({"WEBHOOK_LEASE": "11s"}, {}, {}).webhook_lease == 11
