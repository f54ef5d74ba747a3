"""
The daemon's settings: one table, three sources.

Every setting has a name (its environment variable), a default, a parser and
a help line.  Values come from, weakest first: the defaults, a C{.env} file in
the working directory, the process environment, and C{twistd tempmail}
options.  The same table drives the option list, C{env.example} and
C{docs/CONFIGURATION.md}, so they cannot drift apart.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tempmail import values
from tempmail.storage.location import StoreLocation, parse_database_url


class ConfigError(Exception):
    """
    A setting has a bad value.  The message is one line that names the
    setting and says what is expected.
    """


@dataclass(frozen=True)
class Setting:
    """
    One configurable value.

    @ivar name: the environment variable, e.g. C{SMTP_PORT}.
    @ivar default: the raw default text, or C{None} for "unset".
    @ivar parse: turns raw text into the typed value or raises L{ValueError}.
    @ivar help: one line for C{--help} and the docs.
    @ivar aliases: older names accepted for the same setting.
    """

    name: str
    default: str | None
    parse: Callable[[str], Any]
    help: str
    aliases: tuple[str, ...] = ()

    @property
    def option(self) -> str:
        """
        The C{twistd tempmail} long option for this setting.
        """
        return self.name.lower().replace("_", "-")

    @property
    def attribute(self) -> str:
        """
        The L{Settings} attribute that holds the parsed value.
        """
        return self.name.lower()


def _domain(text: str) -> str:
    domain = text.strip().lower().rstrip(".")
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*", domain):
        raise ValueError("expected a domain name such as mail.example.com")
    return domain


def _ip_address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise ValueError("expected an IP address such as 0.0.0.0 or ::") from None


def _pem_file(text: str) -> str:
    path = Path(text.strip())
    try:
        head = path.read_bytes()[:65536]
    except OSError as e:
        raise ValueError(f"expected a readable PEM file ({e.strerror})") from None
    if b"-----BEGIN " not in head:
        raise ValueError("expected a PEM file")
    return str(path)


def _secret(text: str) -> str:
    secret = text.strip()
    if len(secret) < 16:
        raise ValueError("expected a secret of at least 16 characters")
    return secret


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "DOMAIN_NAME",
        "tempmail.local",
        _domain,
        "Domain for the SMTP greeting and for bare mailbox names.",
    ),
    Setting("BIND_ADDRESS", "0.0.0.0", _ip_address, "Address every listener binds to."),
    Setting("SMTP_PORT", "2525", values.parse_port, "Plain SMTP port."),
    Setting("API_PORT", "3000", values.parse_port, "HTTP port for the REST API and web UI."),
    Setting(
        "DATABASE_URL",
        "sqlite:emails.db",
        parse_database_url,
        "Storage: sqlite:PATH (relative to the working directory) or sqlite::memory:.",
    ),
    Setting(
        "MAX_MESSAGE_SIZE",
        "25M",
        values.parse_size,
        "Largest message SMTP accepts, in bytes (suffixes K, M, G).",
    ),
    Setting(
        "MAX_RECIPIENTS",
        "100",
        values.parse_positive_int,
        "Most RCPT TO commands accepted in one SMTP transaction.",
    ),
    Setting(
        "SMTP_TIMEOUT",
        "5m",
        values.parse_duration,
        "Idle time after which an SMTP session is closed (suffixes s, m, h).",
    ),
    Setting(
        "SMTP_MAX_LINE_LENGTH",
        "16384",
        values.parse_positive_int,
        "Longest SMTP line accepted, in bytes, without CRLF.",
    ),
    Setting(
        "SMTP_MAX_CONNECTIONS",
        "200",
        values.parse_positive_int,
        "Simultaneous SMTP sessions; more are answered 421.",
    ),
    Setting(
        "REJECT_NON_DOMAIN_EMAILS",
        "false",
        values.parse_bool,
        "Refuse recipients outside DOMAIN_NAME with 550 at RCPT time.",
    ),
    Setting(
        "EMAIL_RETENTION_HOURS",
        None,
        values.parse_positive_number,
        "Delete mail older than this many hours, fractions allowed (unset keeps mail forever).",
    ),
    Setting(
        "RETENTION_INTERVAL",
        "5m",
        values.parse_duration,
        "Time between retention sweeps (suffixes s, m, h).",
    ),
    Setting(
        "MAX_EMAILS_PER_MAILBOX",
        None,
        values.parse_positive_int,
        "Keep only the newest N messages of each mailbox (unset: no limit).",
    ),
    Setting(
        "ALLOWED_ORIGINS",
        None,
        values.parse_origins,
        "Other web origins allowed to open WebSockets, comma-separated.",
    ),
    Setting(
        "WS_MAX_CONNECTIONS",
        "1000",
        values.parse_positive_int,
        "WebSockets open at once; more are refused with HTTP 503.",
    ),
    Setting(
        "WS_MAX_CONNECTIONS_PER_IP",
        "250",
        values.parse_positive_int,
        "WebSockets open at once from one client address.",
    ),
    Setting(
        "WS_PING_INTERVAL",
        "30s",
        values.parse_duration,
        "Seconds between WebSocket pings; a peer silent as long again is dropped.",
    ),
    Setting(
        "WS_MAX_BACKLOG",
        "1000",
        values.parse_positive_int,
        "Frames queued for a client that stopped reading before it is closed (code 4000).",
    ),
    Setting(
        "WEBHOOK_ALLOW_PRIVATE",
        "false",
        values.parse_bool,
        "Let webhooks post to loopback, private and link-local addresses.",
    ),
    Setting(
        "WEBHOOK_TIMEOUT",
        "10s",
        values.parse_duration,
        "Time allowed for one webhook attempt, response body included.",
    ),
    Setting(
        "WEBHOOK_MAX_ATTEMPTS",
        "6",
        values.parse_positive_int,
        "Attempts per delivery before it is given up (six span about an hour).",
    ),
    Setting(
        "WEBHOOK_RETRY_BASE",
        "10s",
        values.parse_duration,
        "First retry delay; later ones are 6, 30, 90 and 240 times it, with jitter.",
    ),
    Setting(
        "WEBHOOK_DISABLE_AFTER",
        "50",
        values.parse_positive_int,
        "Consecutive failed attempts after which a webhook is disabled.",
    ),
    Setting(
        "WEBHOOK_CONCURRENCY",
        "10",
        values.parse_positive_int,
        "Webhook attempts in flight at once, in all.",
    ),
    Setting(
        "WEBHOOK_CONCURRENCY_PER_WEBHOOK",
        "2",
        values.parse_positive_int,
        "Webhook attempts in flight at once to one webhook.",
    ),
    Setting(
        "WEBHOOK_MAX_PER_MAILBOX",
        "20",
        values.parse_positive_int,
        "Webhooks one mailbox may have.",
    ),
    Setting(
        "WEBHOOK_LEASE",
        "60s",
        values.parse_duration,
        "How long a daemon holds a due webhook delivery while it attempts it (> WEBHOOK_TIMEOUT).",
    ),
    Setting(
        "WEBHOOK_LOG_RETENTION",
        "7d",
        values.parse_duration,
        "How long finished webhook deliveries and their attempt log are kept.",
    ),
    Setting(
        "SMTP_SSL_ENABLED",
        "false",
        values.parse_bool,
        "Also listen for STARTTLS and implicit-TLS SMTP (needs the two paths below).",
    ),
    Setting("SMTP_STARTTLS_PORT", "587", values.parse_port, "STARTTLS SMTP port."),
    Setting("SMTP_SSL_PORT", "465", values.parse_port, "Implicit-TLS SMTP port."),
    Setting("SMTP_SSL_CERT_PATH", None, _pem_file, "PEM certificate chain (fullchain.pem)."),
    Setting("SMTP_SSL_KEY_PATH", None, _pem_file, "PEM private key (privkey.pem)."),
    Setting("IMAP_ENABLED", "false", values.parse_bool, "Start the IMAP server."),
    Setting("IMAP_PORT", "143", values.parse_port, "IMAP port."),
    Setting("MCP_ENABLED", "false", values.parse_bool, "Serve MCP for AI assistants."),
    Setting("MCP_PORT", "3001", values.parse_port, "MCP port."),
    Setting(
        "PASSWORD_THREADS",
        "2",
        values.parse_positive_int,
        "Threads that hash and check mailbox passwords (scrypt).",
    ),
    Setting("PARSE_THREADS", "2", values.parse_positive_int, "Threads that parse incoming mail."),
    Setting(
        "PASSWORD_MIN_LENGTH",
        "8",
        values.parse_positive_int,
        "Shortest password accepted when claiming a mailbox or changing its password.",
    ),
    Setting(
        "TOKEN_TTL",
        "24h",
        values.parse_duration,
        "Lifetime of a mailbox bearer token (suffixes s, m, h, d).",
    ),
    Setting(
        "AUTH_FAILURE_LIMIT",
        "5",
        values.parse_positive_int,
        "Wrong passwords allowed per mailbox and per client before checks are delayed.",
    ),
    Setting(
        "AUTH_MAX_DELAY",
        "15m",
        values.parse_duration,
        "Longest delay imposed after repeated wrong passwords (it doubles up to this).",
    ),
    Setting(
        "ADMIN_TOKEN",
        None,
        _secret,
        "Operator bearer token: opens every mailbox and GET /api/mailboxes (16+ characters).",
    ),
    Setting(
        "API_KEY",
        None,
        _secret,
        "Makes the API private: every /api route but /api/health needs X-API-Key (16+ characters).",
    ),
    Setting(
        "LOG_LEVEL",
        "info",
        values.parse_log_level,
        "debug, info, warn or error.",
        aliases=("RUST_LOG",),
    ),
    Setting(
        "LOG_FORMAT",
        "text",
        values.parse_log_format,
        "text, or json for one JSON object per line (journald, log shippers).",
    ),
)

SETTINGS_BY_NAME: Mapping[str, Setting] = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    """
    The parsed, validated configuration of one daemon.
    """

    domain_name: str
    bind_address: str
    smtp_port: int
    api_port: int
    database_url: StoreLocation
    max_message_size: int
    max_recipients: int
    smtp_timeout: float
    smtp_max_line_length: int
    smtp_max_connections: int
    reject_non_domain_emails: bool
    email_retention_hours: float | None
    retention_interval: float
    max_emails_per_mailbox: int | None
    allowed_origins: frozenset[str] | None
    ws_max_connections: int
    ws_max_connections_per_ip: int
    ws_ping_interval: float
    ws_max_backlog: int
    webhook_allow_private: bool
    webhook_timeout: float
    webhook_max_attempts: int
    webhook_retry_base: float
    webhook_disable_after: int
    webhook_concurrency: int
    webhook_concurrency_per_webhook: int
    webhook_max_per_mailbox: int
    webhook_lease: float
    webhook_log_retention: float
    smtp_ssl_enabled: bool
    smtp_starttls_port: int
    smtp_ssl_port: int
    smtp_ssl_cert_path: str | None
    smtp_ssl_key_path: str | None
    imap_enabled: bool
    imap_port: int
    mcp_enabled: bool
    mcp_port: int
    password_threads: int
    parse_threads: int
    password_min_length: int
    token_ttl: float
    auth_failure_limit: int
    auth_max_delay: float
    admin_token: str | None
    api_key: str | None
    log_level: str
    log_format: str


def read_dotenv(path: Path) -> dict[str, str]:
    """
    Read C{KEY=VALUE} lines from a C{.env} file.

    Blank lines and C{#} comments are skipped, an C{export } prefix is
    allowed, and values may be wrapped in single or double quotes.  A missing
    file is the same as an empty one.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read ({e.strerror})") from None
    result: dict[str, str] = {}
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        result[key] = value
    return result


def _raw_value(setting: Setting, *sources: Mapping[str, str]) -> tuple[str, str | None]:
    """
    Find the strongest raw value for C{setting}; return (where, text).
    """
    for source in sources:
        for name in (setting.name, *setting.aliases):
            if name in source:
                return name, source[name]
    return setting.name, setting.default


def load_settings(
    environ: Mapping[str, str],
    dotenv: Mapping[str, str],
    overrides: Mapping[str, str | None],
) -> Settings:
    """
    Build L{Settings} from options, the environment and a C{.env} file.

    @param environ: the process environment.
    @param dotenv: values read from a C{.env} file (see L{read_dotenv}).
    @param overrides: option values keyed by setting name; C{None} means
        the option was not given.
    @raise ConfigError: naming the first setting with a bad value.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    parsed: dict[str, Any] = {}
    for setting in SETTINGS:
        where, text = _raw_value(setting, given, environ, dotenv)
        if text is None or (text.strip() == "" and setting.default is None):
            parsed[setting.attribute] = None
            continue
        try:
            parsed[setting.attribute] = setting.parse(text)
        except ValueError as e:
            raise ConfigError(f"{where}={text!r}: {e}") from None
    settings = Settings(**parsed)
    if settings.smtp_ssl_enabled and not (
        settings.smtp_ssl_cert_path and settings.smtp_ssl_key_path
    ):
        raise ConfigError(
            "SMTP_SSL_ENABLED=true: SMTP_SSL_CERT_PATH and SMTP_SSL_KEY_PATH must be set"
        )
    if settings.webhook_lease <= settings.webhook_timeout:
        raise ConfigError(
            "WEBHOOK_LEASE must be longer than WEBHOOK_TIMEOUT: a lease that ends during an "
            "attempt would let another daemon send the same delivery"
        )
    return settings


def load_from_process(overrides: Mapping[str, str | None]) -> Settings:
    """
    Load settings from this process's environment and C{./.env}.
    """
    return load_settings(os.environ, read_dotenv(Path(".env")), overrides)
