"""
Settings: value parsers, the three sources and their order, and errors.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from tempmail import values
from tempmail.config import (
    SETTINGS,
    SETTINGS_BY_NAME,
    ConfigError,
    Settings,
    load_settings,
    read_dotenv,
)
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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail.example.com", "mail.example.com"),
        (" Mail.Example.COM. ", "mail.example.com"),
        ("localhost", "localhost"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ],
)
def test_domains_are_lower_cased_without_the_trailing_dot(text: str, expected: str) -> None:
    assert values.parse_domain(text) == expected


@pytest.mark.parametrize("text", ["", "-bad.example", "a..b", "under_score.example", "bücher.de"])
def test_bad_domains_are_errors(text: str) -> None:
    with pytest.raises(ValueError, match="expected a domain name"):
        values.parse_domain(text)


def test_ip_addresses_are_compressed() -> None:
    assert values.parse_ip_address(" 127.0.0.1 ") == "127.0.0.1"
    assert values.parse_ip_address("0:0:0:0:0:0:0:0") == "::"
    with pytest.raises(ValueError, match="expected an IP address"):
        values.parse_ip_address("localhost")


def test_pem_files_must_be_readable_pem(tmp_path: Path) -> None:
    pem = tmp_path / "cert.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n")
    assert values.parse_pem_file(f" {pem} ") == str(pem)
    der = tmp_path / "cert.der"
    der.write_bytes(b"\x30\x82\x01\x0a")
    with pytest.raises(ValueError, match=r"^expected a PEM file$"):
        values.parse_pem_file(str(der))
    with pytest.raises(ValueError, match="readable PEM file"):
        values.parse_pem_file(str(tmp_path / "missing.pem"))


def test_secrets_need_sixteen_characters() -> None:
    assert values.parse_secret(" " + "s" * 16 + "\n") == "s" * 16
    with pytest.raises(ValueError, match="at least 16 characters"):
        values.parse_secret("s" * 15 + "   ")


@pytest.mark.parametrize(
    "text", ["tcp:25", " tcp:25:interface=192.0.2.1 ", "systemd:domain=INET:index=0"]
)
def test_endpoints_are_kept_as_written(text: str) -> None:
    assert values.parse_endpoint(text) == text.strip()


@pytest.mark.parametrize("text", ["", "   ", "tcp:25\nunix:/x", "tcp:25\rtcp:26"])
def test_empty_or_multiline_endpoints_are_errors(text: str) -> None:
    with pytest.raises(ValueError, match="endpoint description"):
        values.parse_endpoint(text)


def test_database_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_database_url("sqlite:emails.db").target == str(tmp_path / "emails.db")
    assert parse_database_url("sqlite://data/mail.db").target == str(tmp_path / "data/mail.db")
    assert parse_database_url("sqlite:/abs/mail.db").target == "/abs/mail.db"
    assert parse_database_url("sqlite::memory:").target == MEMORY
    assert parse_database_url("sqlite:emails.db?mode=rwc").target == str(tmp_path / "emails.db")
    with pytest.raises(ValueError, match="only mode=rwc"):
        parse_database_url("sqlite:emails.db?mode=ro")
    for bad in ["mysql:x", "sqlite:", "emails.db"]:
        with pytest.raises(ValueError, match="sqlite:"):
            parse_database_url(bad)
    server = parse_database_url("Postgres://u:secret@db:5433/mail")
    assert (server.scheme, server.target) == ("postgresql", "postgres://u:secret@db:5433/mail")
    assert str(server) == "postgres://u:***@db:5433/mail"
    assert server.data_directory is None
    assert parse_database_url("postgresql:///mail").target == "postgresql:///mail"
    with pytest.raises(ValueError, match="postgresql://"):
        parse_database_url("postgresql:mail")


def test_defaults() -> None:
    settings = load_settings({}, {}, {})
    assert (settings.smtp_port, settings.api_port) == (2525, 3000)
    assert (settings.smtp_endpoint, settings.api_endpoint) == (None, None)
    assert (settings.smtp_starttls_port, settings.smtp_ssl_port) == (587, 465)
    assert (settings.imap_port, settings.mcp_port) == (143, 3001)
    assert settings.domain_name == "tempmail.local"
    assert str(settings.database_url).endswith("/emails.db")
    assert settings.email_retention_hours is None
    assert settings.reject_non_domain_emails is False
    assert settings.max_message_size == 25 * 1024 * 1024
    assert settings.max_recipients == 100
    assert settings.bind_address == "0.0.0.0"
    assert (settings.webhook_timeout, settings.webhook_lease) == (10.0, 60.0)
    assert (settings.password_threads, settings.parse_threads) == (2, 2)


def test_the_table_is_the_settings_fields_in_order() -> None:
    assert [s.attribute for s in SETTINGS] == [f.name for f in dataclasses.fields(Settings)]
    assert [s.name for s in SETTINGS][:4] == [
        "DOMAIN_NAME",
        "BIND_ADDRESS",
        "SMTP_PORT",
        "SMTP_ENDPOINT",
    ]
    lease = SETTINGS_BY_NAME["WEBHOOK_LEASE"]
    assert (lease.option, lease.attribute, lease.default) == (
        "webhook-lease",
        "webhook_lease",
        "60s",
    )
    assert lease.parse is values.parse_duration
    assert "WEBHOOK_TIMEOUT" in lease.help
    assert SETTINGS_BY_NAME["LOG_LEVEL"].aliases == ("RUST_LOG",)


def test_new_settings_parse() -> None:
    settings = load_settings(
        {
            "WEBHOOK_LEASE": "2m",
            "PASSWORD_THREADS": "4",
            "PARSE_THREADS": "3",
            "SMTP_ENDPOINT": "systemd:domain=INET:index=0",
        },
        {"API_ENDPOINT": "tcp:8080:interface=127.0.0.1"},
        {},
    )
    assert settings.webhook_lease == 120.0
    assert (settings.password_threads, settings.parse_threads) == (4, 3)
    assert settings.smtp_endpoint == "systemd:domain=INET:index=0"
    assert settings.api_endpoint == "tcp:8080:interface=127.0.0.1"
    assert load_settings({"SMTP_ENDPOINT": "  "}, {}, {}).smtp_endpoint is None


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("PASSWORD_THREADS", "0", "at least 1"),
        ("PARSE_THREADS", "many", "whole number"),
        ("WEBHOOK_LEASE", "0", "greater than zero"),
        ("API_ENDPOINT", "tcp:80\ntcp:81", "endpoint description"),
    ],
)
def test_bad_new_settings_name_themselves(name: str, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{name}=.*{message}") as caught:
        load_settings({name: text}, {}, {})
    assert "\n" not in str(caught.value)


def test_the_lease_must_outlast_an_attempt() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^WEBHOOK_LEASE \(10s\) must be longer than WEBHOOK_TIMEOUT \(10s\): [^\n]+$",
    ):
        load_settings({"WEBHOOK_LEASE": "10s"}, {}, {})
    with pytest.raises(ConfigError, match=r"WEBHOOK_LEASE \(60s\).*WEBHOOK_TIMEOUT \(90s\)"):
        load_settings({}, {"WEBHOOK_TIMEOUT": "90s"}, {})
    assert load_settings({"WEBHOOK_LEASE": "11s"}, {}, {}).webhook_lease == 11.0
    settings = load_settings({"WEBHOOK_TIMEOUT": "90s", "WEBHOOK_LEASE": "2m"}, {}, {})
    assert (settings.webhook_timeout, settings.webhook_lease) == (90.0, 120.0)


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
        "ADMIN_TOKEN='${HOME}-not-expanded'\nAPI_KEY=\"has # inside, kept\"\n"
    )
    assert read_dotenv(path) == {
        "SMTP_PORT": "2526",
        "DOMAIN_NAME": "quoted.test",
        "API_PORT": "3001",
        "IMAP_PORT": "144",
        "ADMIN_TOKEN": "${HOME}-not-expanded",
        "API_KEY": "has # inside, kept",
    }


def test_dotenv_unquoted_variables_are_not_expanded(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("ADMIN_TOKEN=${HOME}${HOME}${HOME}\n")
    assert read_dotenv(path) == {"ADMIN_TOKEN": "${HOME}${HOME}${HOME}"}


def test_dotenv_name_without_equals_is_not_set(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("SMTP_PORT\nAPI_PORT=\n")
    assert read_dotenv(path) == {"API_PORT": ""}
    path.write_text("SMTP_PORT\n")
    assert load_settings({}, read_dotenv(path), {}).smtp_port == 2525


def test_dotenv_missing_file_is_empty(tmp_path: Path) -> None:
    assert read_dotenv(tmp_path / "absent") == {}


def test_dotenv_that_cannot_be_read_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=rf"^{re.escape(str(tmp_path))}: cannot be read \(Is a directory\)$"
    ):
        read_dotenv(tmp_path)
    latin1 = tmp_path / ".env"
    latin1.write_bytes(b"DOMAIN_NAME=caf\xe9.test\n")
    with pytest.raises(ConfigError, match=r"\.env: cannot be read \(not UTF-8\)$"):
        read_dotenv(latin1)


def test_dotenv_bad_line_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("SMTP_PORT=2526\nSMTP_PORT 2527\n")
    with pytest.raises(ConfigError, match=r"\.env:2: expected KEY=VALUE$"):
        read_dotenv(path)


def test_dotenv_is_weaker_than_the_environment_and_options(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("export SMTP_PORT=1\nAPI_PORT='2'\nIMAP_PORT=\"3\" # comment\n")
    settings = load_settings({"SMTP_PORT": "10"}, read_dotenv(path), {"API_PORT": "20"})
    assert (settings.smtp_port, settings.api_port, settings.imap_port) == (10, 20, 3)


def test_every_setting_is_documented() -> None:
    root = Path(__file__).resolve().parent.parent
    documentation = (root / "docs" / "CONFIGURATION.md").read_text()
    example = (root / "env.example").read_text()
    for setting in SETTINGS:
        assert f"`{setting.name}`" in documentation, setting.name
        assert f"{setting.name}=" in example, setting.name


def test_documented_defaults_match_the_code() -> None:
    """
    CONFIGURATION.md's default column and env.example's lines give each
    setting's real default: a value, or unset (commented out).
    """
    root = Path(__file__).resolve().parent.parent
    rows = {}
    for line in (root / "docs" / "CONFIGURATION.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) > 4 and cells[1].startswith("`"):
            rows[cells[1].strip("`")] = cells[3]
    example = (root / "env.example").read_text().splitlines()
    for setting in SETTINGS:
        if setting.default:
            assert rows[setting.name] == f"`{setting.default}`", setting.name
            assert f"{setting.name}={setting.default}" in example, setting.name
        else:
            assert rows[setting.name] in ("unset", "empty"), setting.name
            assert f"# {setting.name}=" in example, setting.name
