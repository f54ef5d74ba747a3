"""
The daemon's settings: one table, three sources.

Every setting is a field of L{Settings} whose metadata holds its raw default,
its parser, a help line and any older names; L{SETTINGS} lists them in that
order, named after their environment variables.  Values come from, weakest
first: the defaults, a C{.env} file in the working directory, the process
environment, and C{twistd tempmail} options.  The table drives the option
list; C{env.example} and C{docs/CONFIGURATION.md} follow its order, and a
test keeps them in step with it.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from tempmail import values
from tempmail.proxies import Network, parse_networks
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


def _setting(
    default: str | None,
    parse: Callable[[str], Any],
    help: str,
    aliases: tuple[str, ...] = (),
) -> Any:
    """
    Declare a L{Settings} field and what its L{Setting} needs but the name,
    which is the field's in upper case.

    The field has no dataclass default: L{load_settings} passes every value,
    parsing the raw C{default} when no source gives one.  The return type is
    C{Any}, as for L{dataclasses.field}, so that type checkers take the
    field's type from its annotation.

    @param default: the raw default text, or C{None} for "unset".
    @param parse: the parser of the raw text (see L{tempmail.values}).
    @param help: the text for C{--help}, C{env.example} and the docs.
    @param aliases: older names accepted for the same setting.
    """
    return field(metadata={"default": default, "parse": parse, "help": help, "aliases": aliases})


@dataclass(frozen=True)
class Settings:
    """
    The parsed, validated configuration of one daemon.  Each attribute is
    the setting of the same name in upper case (C{smtp_port} is
    C{SMTP_PORT}); C{None} means an optional setting is unset.
    """

    domain_name: str = _setting(
        "tempmail.local",
        values.parse_domain,
        "Domain for the SMTP greeting and for bare mailbox names.",
    )
    bind_address: str = _setting(
        "0.0.0.0", values.parse_ip_address, "Address every listener binds to."
    )
    smtp_port: int = _setting("2525", values.parse_port, "Plain SMTP port.")
    smtp_endpoint: str | None = _setting(
        None,
        values.parse_endpoint,
        (
            "Listen for SMTP on this Twisted endpoint description (for example "
            "`tcp:25:interface=192.0.2.1` or `systemd:domain=INET:index=0`) instead of "
            "SMTP_PORT on BIND_ADDRESS."
        ),
    )
    api_port: int = _setting("3000", values.parse_port, "HTTP port for the REST API and web UI.")
    api_endpoint: str | None = _setting(
        None,
        values.parse_endpoint,
        (
            "Listen for HTTP on this Twisted endpoint description (for example "
            "`tcp:80:interface=192.0.2.1` or `systemd:domain=INET:index=1`) instead of "
            "API_PORT on BIND_ADDRESS."
        ),
    )
    # ruff reads _setting(...) as a shared mutable default; it returns a field.
    database_url: StoreLocation = _setting(  # noqa: RUF009
        "sqlite:emails.db",
        parse_database_url,
        (
            "Storage: sqlite:PATH (relative to the working directory), sqlite::memory:, "
            "or postgresql://user:password@host:port/database (several nodes may share one)."
        ),
    )
    max_message_size: int = _setting(
        "25M", values.parse_size, "Largest message SMTP accepts, in bytes (suffixes K, M, G)."
    )
    max_recipients: int = _setting(
        "100", values.parse_positive_int, "Most RCPT TO commands accepted in one SMTP transaction."
    )
    smtp_timeout: float = _setting(
        "5m",
        values.parse_duration,
        "Idle time after which an SMTP session is closed (suffixes s, m, h).",
    )
    smtp_max_line_length: int = _setting(
        "16384", values.parse_positive_int, "Longest SMTP line accepted, in bytes, without CRLF."
    )
    smtp_max_command_length: int = _setting(
        "512",
        values.parse_positive_int,
        "Longest SMTP command line, in bytes with CRLF (MAIL may add 40 for its parameters).",
    )
    smtp_memory_budget: int = _setting(
        "128M",
        values.parse_size,
        "Bytes of message data all SMTP sessions may hold in memory; larger "
        "messages are spooled to a file, and mail that does not fit is answered 452.",
    )
    smtp_max_connections: int = _setting(
        "200", values.parse_positive_int, "Simultaneous SMTP sessions; more are answered 421."
    )
    parse_threads: int = _setting(
        "2",
        values.parse_positive_int,
        "Threads that parse incoming messages over 32 KiB "
        "(smaller ones are parsed on the reactor thread).",
    )
    reject_non_domain_emails: bool = _setting(
        "false", values.parse_bool, "Refuse recipients outside DOMAIN_NAME with 550 at RCPT time."
    )
    email_retention_hours: float | None = _setting(
        None,
        values.parse_positive_number,
        ("Delete mail older than this many hours, fractions allowed (unset keeps mail forever)."),
    )
    retention_interval: float = _setting(
        "5m", values.parse_duration, "Time between retention sweeps (suffixes s, m, h)."
    )
    max_emails_per_mailbox: int | None = _setting(
        None,
        values.parse_positive_int,
        "Keep only the newest N messages of each mailbox (unset: no limit).",
    )
    allowed_origins: frozenset[str] | None = _setting(
        None, values.parse_origins, "Other web origins allowed to open WebSockets, comma-separated."
    )
    ws_max_connections: int = _setting(
        "1000",
        values.parse_positive_int,
        "WebSockets open at once; more are refused with HTTP 503.",
    )
    ws_max_connections_per_ip: int = _setting(
        "250", values.parse_positive_int, "WebSockets open at once from one client address."
    )
    ws_ping_interval: float = _setting(
        "30s",
        values.parse_duration,
        "Seconds between WebSocket pings; a peer silent as long again is dropped.",
    )
    ws_max_backlog: int = _setting(
        "1000",
        values.parse_positive_int,
        "Frames queued for a client that stopped reading before it is closed (code 4000).",
    )
    webhook_allow_private: bool = _setting(
        "false",
        values.parse_bool,
        "Let webhooks post to loopback, private and link-local addresses.",
    )
    webhook_timeout: float = _setting(
        "10s",
        values.parse_duration,
        "Time allowed for one webhook attempt, response body included.",
    )
    webhook_lease: float = _setting(
        "60s",
        values.parse_duration,
        (
            "How long a daemon holds a due webhook delivery while it attempts it; if it "
            "crashes, another daemon (or this one after a restart) takes the delivery "
            "over after this. Must be longer than WEBHOOK_TIMEOUT."
        ),
    )
    webhook_max_attempts: int = _setting(
        "6",
        values.parse_positive_int,
        "Attempts per delivery before it is given up (six span about an hour).",
    )
    webhook_retry_base: float = _setting(
        "10s",
        values.parse_duration,
        "First retry delay; later ones are 6, 30, 90 and 240 times it, with jitter.",
    )
    webhook_disable_after: int = _setting(
        "50",
        values.parse_positive_int,
        "Consecutive failed attempts after which a webhook is disabled.",
    )
    webhook_concurrency: int = _setting(
        "10", values.parse_positive_int, "Webhook attempts in flight at once, in all."
    )
    webhook_concurrency_per_webhook: int = _setting(
        "2", values.parse_positive_int, "Webhook attempts in flight at once to one webhook."
    )
    webhook_max_per_mailbox: int = _setting(
        "20", values.parse_positive_int, "Webhooks one mailbox may have."
    )
    webhook_log_retention: float = _setting(
        "7d",
        values.parse_duration,
        "How long finished webhook deliveries and their attempt log are kept.",
    )
    smtp_ssl_enabled: bool = _setting(
        "false",
        values.parse_bool,
        "Also listen for STARTTLS and implicit-TLS SMTP (needs the two paths below).",
    )
    smtp_starttls_port: int = _setting("587", values.parse_port, "STARTTLS SMTP port.")
    smtp_ssl_port: int = _setting("465", values.parse_port, "Implicit-TLS SMTP port.")
    smtp_ssl_cert_path: str | None = _setting(
        None, values.parse_pem_file, "PEM certificate chain (fullchain.pem)."
    )
    smtp_ssl_key_path: str | None = _setting(
        None, values.parse_pem_file, "PEM private key (privkey.pem)."
    )
    smtp_ssl_self_signed: bool = _setting(
        "false",
        values.parse_bool,
        "With SMTP_SSL_ENABLED and no paths: make a self-signed certificate for DOMAIN_NAME.",
    )
    smtp_require_tls: bool = _setting(
        "true", values.parse_bool, "Refuse MAIL before STARTTLS on SMTP_STARTTLS_PORT (530)."
    )
    smtp_ssl_reload_interval: float = _setting(
        "5m",
        values.parse_duration,
        "How often the certificate files are checked for a renewal (SIGHUP checks at once).",
    )
    imap_enabled: bool = _setting("false", values.parse_bool, "Start the IMAP server.")
    imap_port: int = _setting("143", values.parse_port, "IMAP port (STARTTLS with TLS enabled).")
    imap_ssl_port: int = _setting(
        "993", values.parse_port, "Implicit-TLS IMAP port, with SMTP_SSL_ENABLED."
    )
    imap_allow_plaintext_auth: bool | None = _setting(
        None,
        values.parse_bool,
        "Allow LOGIN before STARTTLS on IMAP_PORT (unset: only when TLS is off).",
    )
    imap_allow_unclaimed: bool = _setting(
        "true",
        values.parse_bool,
        "Let an unclaimed mailbox open over IMAP with any password, as it is open over REST.",
    )
    imap_max_connections: int = _setting(
        "500", values.parse_positive_int, "IMAP sessions at once, from all clients."
    )
    imap_max_connections_per_ip: int = _setting(
        "20", values.parse_positive_int, "IMAP sessions at once from one client address."
    )
    imap_login_timeout: float = _setting(
        "60s", values.parse_duration, "How long an IMAP client has to log in."
    )
    imap_idle_timeout: float = _setting(
        "30m",
        values.parse_duration,
        "How long a logged-in IMAP session may be silent (RFC 3501 asks for 30 minutes).",
    )
    imap_max_literal: int = _setting(
        "10M", values.parse_size, "Largest IMAP literal (a command's string) accepted."
    )
    imap_max_line_length: int = _setting(
        "64K", values.parse_size, "Longest IMAP command line accepted (literals not counted)."
    )
    mcp_enabled: bool = _setting("false", values.parse_bool, "Serve MCP for AI assistants.")
    mcp_port: int = _setting("3001", values.parse_port, "MCP port.")
    mcp_max_body: int = _setting(
        "1M", values.parse_size, "Largest JSON-RPC message an MCP client may POST."
    )
    mcp_max_sessions: int = _setting(
        "1000", values.parse_positive_int, "MCP sessions open at once; more get HTTP 503."
    )
    mcp_max_subscriptions: int = _setting(
        "100",
        values.parse_positive_int,
        "Mailboxes one MCP session (or one subscriptions/listen call) may watch at once.",
    )
    mcp_session_idle_timeout: float = _setting(
        "30m",
        values.parse_duration,
        "How long an MCP session may go without a request (or an open stream) before it ends.",
    )
    mcp_max_wait: float = _setting(
        "5m", values.parse_duration, "Longest timeout a wait_for_email call may ask for."
    )
    mcp_wait_lookback: float = _setting(
        "5m",
        values.parse_duration,
        "How far back wait_for_email looks for mail that arrived just before the call.",
    )
    mcp_max_inline_attachments: int = _setting(
        "5M",
        values.parse_size,
        "Most attachment bytes read_email returns as base64 in one answer, when asked.",
    )
    password_min_length: int = _setting(
        "8",
        values.parse_positive_int,
        "Shortest password accepted when claiming a mailbox or changing its password.",
    )
    password_threads: int = _setting(
        "2",
        values.parse_positive_int,
        (
            "Threads that hash and check mailbox passwords (scrypt), apart from those "
            "used by parsing and the database, so that a flood of password guesses "
            "cannot slow mail intake."
        ),
    )
    token_ttl: float = _setting(
        "24h", values.parse_duration, "Lifetime of a mailbox bearer token (suffixes s, m, h, d)."
    )
    auth_failure_limit: int = _setting(
        "5",
        values.parse_positive_int,
        "Wrong passwords allowed per mailbox and per client before checks are delayed.",
    )
    auth_max_delay: float = _setting(
        "15m",
        values.parse_duration,
        "Longest delay imposed after repeated wrong passwords (it doubles up to this).",
    )
    admin_token: str | None = _setting(
        None,
        values.parse_secret,
        "Operator bearer token: opens every mailbox and GET /api/mailboxes (16+ characters).",
    )
    api_key: str | None = _setting(
        None,
        values.parse_secret,
        (
            "Makes the API private: every /api route but /api/health needs X-API-Key "
            "(16+ characters)."
        ),
    )
    trusted_proxies: tuple[Network, ...] = _setting(
        "",
        parse_networks,
        (
            "Reverse proxies (addresses and CIDR ranges, comma-separated) whose Forwarded "
            "and X-Forwarded-For headers name the client; empty trusts none."
        ),
    )
    metrics_token: str | None = _setting(
        None,
        values.parse_secret,
        "Bearer token GET /metrics needs (16+ characters); unset, /metrics is open.",
    )
    metrics_port: int | None = _setting(
        None,
        values.parse_port,
        "Serve /metrics on this port only, instead of on the API port.",
    )
    log_level: str = _setting(
        "info", values.parse_log_level, "debug, info, warn or error.", aliases=("RUST_LOG",)
    )
    log_format: str = _setting(
        "text",
        values.parse_log_format,
        "text, or json for one JSON object per line (journald, log shippers).",
    )


SETTINGS: tuple[Setting, ...] = tuple(
    Setting(f.name.upper(), **f.metadata) for f in fields(Settings)
)
"""
Every setting, in the order of L{Settings}, which is also the order of
C{env.example}, C{docs/CONFIGURATION.md} and C{--help}.
"""

SETTINGS_BY_NAME: Mapping[str, Setting] = {s.name: s for s in SETTINGS}
"""
L{SETTINGS} keyed by environment variable name.
"""


def read_dotenv(path: Path) -> dict[str, str]:
    """
    Read a C{.env} file with python-dotenv.

    The syntax is python-dotenv's: C{KEY=VALUE} lines, blank lines and C{#}
    comments, an optional C{export } prefix, single- or double-quoted values
    (double quotes allow escapes such as C{\\n}), and C{#} comments after an
    unquoted value.  C{${VAR}} is kept as written rather than expanded, so a
    secret means the same here as in the environment.  A key without C{=} is
    treated as not set, like one that is absent, so the next weaker source
    (the default) applies.

    @param path: the file; a missing file is the same as an empty one.
    @return: the values set, by key.
    @raise ConfigError: if the file cannot be read or a line is not
        C{KEY=VALUE}; the message names the file (and the line).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read ({e.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: cannot be read (not UTF-8)") from None
    # python-dotenv only logs lines it cannot parse and skips them; a typo in
    # .env should stop startup like any other bad setting.
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            raise ConfigError(f"{path}:{binding.original.line}: expected KEY=VALUE")
    parsed = dotenv_values(stream=io.StringIO(text), interpolate=False)
    return {key: value for key, value in parsed.items() if value is not None}


def _raw_value(setting: Setting, *sources: Mapping[str, str]) -> tuple[str, str | None]:
    """
    Find the strongest raw value for C{setting}; return (where, text).
    """
    for source in sources:
        for name in (setting.name, *setting.aliases):
            if name in source:
                return name, source[name]
    return setting.name, setting.default


def _check_together(settings: Settings) -> None:
    """
    Check the rules that join several settings.

    @raise ConfigError: naming the settings that disagree.
    """
    if (
        settings.smtp_ssl_enabled
        and not settings.smtp_ssl_self_signed
        and not (settings.smtp_ssl_cert_path and settings.smtp_ssl_key_path)
    ):
        raise ConfigError(
            "SMTP_SSL_ENABLED=true: SMTP_SSL_CERT_PATH and SMTP_SSL_KEY_PATH must be set "
            "(or SMTP_SSL_SELF_SIGNED=true)"
        )
    if settings.webhook_lease <= settings.webhook_timeout:
        raise ConfigError(
            f"WEBHOOK_LEASE ({settings.webhook_lease:g}s) must be longer than "
            f"WEBHOOK_TIMEOUT ({settings.webhook_timeout:g}s): a lease that ends during "
            "an attempt would let another daemon send the same delivery"
        )


def load_settings(
    environ: Mapping[str, str],
    dotenv: Mapping[str, str],
    overrides: Mapping[str, str | None],
) -> Settings:
    """
    Build L{Settings} from options, the environment and a C{.env} file.

    An optional setting (default unset) given as empty text stays unset.

    @param environ: the process environment.
    @param dotenv: values read from a C{.env} file (see L{read_dotenv}).
    @param overrides: option values keyed by setting name; C{None} means
        the option was not given.
    @raise ConfigError: naming the first setting with a bad value, or the
        settings that disagree.
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
    _check_together(settings)
    return settings


def load_from_process(overrides: Mapping[str, str | None]) -> Settings:
    """
    Load settings from this process's environment and C{./.env}.

    @param overrides: option values keyed by setting name, as for
        L{load_settings}.
    @raise ConfigError: as L{load_settings} and L{read_dotenv} do.
    """
    return load_settings(os.environ, read_dotenv(Path(".env")), overrides)
