"""
C{twistd tempmail}: the options and the service they build.

L{makeService} is the one place the daemon is assembled; the twistd plugin
and C{tempmail.tac} both call it.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from twisted.cred.portal import Portal
from twisted.internet import reactor as global_reactor
from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IProtocolFactory, IReactorTime, IStreamServerEndpoint
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python import usage

from tempmail.access import MailboxAccess
from tempmail.api.app import MailAPI, WebhookSettings
from tempmail.api.compose import compose
from tempmail.api.gate import ApiKeyGate
from tempmail.api.metrics_routes import MetricsRoutes
from tempmail.api.site import ApiSite
from tempmail.api.websocket import MailboxSocketFactory, SocketLimits
from tempmail.config import SETTINGS, ConfigError, Settings, load_from_process
from tempmail.gencert import make_self_signed
from tempmail.health import Readiness
from tempmail.hub import EventHub
from tempmail.imap.account import AccessChecker, MailRealm
from tempmail.imap.append import Appender
from tempmail.imap.factory import IMAPLimits, IMAPServerFactory
from tempmail.interfaces import (
    IEventSource,
    IMailStore,
    ISharedFailureLimits,
    StorageUnavailable,
)
from tempmail.logs import make_observer
from tempmail.mcp import McpEndpoint, McpLimits, McpServer, McpServices
from tempmail.metrics import MeasuredFailureLimiter, MeasuredMailStore, Metrics
from tempmail.parsing import parse_message
from tempmail.proxies import TrustedProxies
from tempmail.publishing import PublishingMailStore
from tempmail.ratelimit import MemoryFailureLimiter
from tempmail.retention import RetentionService
from tempmail.service import ListeningService, StoreService, TempmailService
from tempmail.smtp import MailDelivery, SMTPLimits, SMTPServerFactory
from tempmail.smtp.spool import MemoryBudget
from tempmail.storage import SchemaError, open_store
from tempmail.storage.location import StoreLocation
from tempmail.threads import ThreadedPasswordHasher, WorkerPool
from tempmail.tls import CertificateError, CertificateReloader, ReloadingContextFactory
from tempmail.webhooks import TargetChecker, WebhookDispatcher, WebhookSender, pinned_client

log = Logger()


class Options(usage.Options):
    """
    C{twistd tempmail} options: one per setting, named after its environment
    variable (C{SMTP_PORT} is C{--smtp-port}).  An option wins over the
    environment, which wins over C{.env}.
    """

    synopsis = "[options]"
    longdesc = (
        "A temporary mail server: SMTP in, REST out. Every "
        "option can also be set by its environment variable or in ./.env; "
        "see docs/CONFIGURATION.md."
    )
    optParameters: list[list[Any]] = [
        [s.option, None, None, f"{s.help} [env {s.name}, default: {s.default or 'unset'}]"]
        for s in SETTINGS
    ]


def web_root() -> Path:
    """
    The static web UI, shipped as package data in C{tempmail/web}.
    """
    return Path(str(resources.files("tempmail") / "web"))


def endpoint_description(port: int, bind_address: str) -> str:
    """
    The Twisted endpoint description for a TCP port on C{bind_address}:
    C{tcp:2525:interface=0.0.0.0}, or C{tcp6:2525:interface=\\:\\:1} with an
    IPv6 address's colons escaped, as C{serverFromString} reads them.
    """
    if ":" in bind_address:
        escaped = bind_address.replace(":", "\\:")
        return f"tcp6:{port}:interface={escaped}"
    return f"tcp:{port}:interface={bind_address}"


def listener(reactor: Any, setting: str, description: str) -> IStreamServerEndpoint:
    """
    Build a listening endpoint from its description, as Twisted's own
    C{mail/tap.py} does, so any endpoint type (later C{ssl:}) plugs in.

    @param setting: the setting the description came from, for the error.
    @raise ConfigError: if Twisted cannot read the description.
    """
    try:
        endpoint: IStreamServerEndpoint = serverFromString(reactor, description)
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{setting}={description!r}: {e}") from None
    return endpoint


def listen_endpoint(
    reactor: Any, protocol: str, configured: str | None, port: int, bind_address: str
) -> IStreamServerEndpoint:
    """
    The endpoint one listener uses: the description in C{<PROTOCOL>_ENDPOINT}
    if it is set, else C{<PROTOCOL>_PORT} on C{BIND_ADDRESS}.

    @param protocol: the settings' prefix, C{SMTP} or C{API}.
    @raise ConfigError: naming the setting whose description Twisted cannot read.
    """
    if configured is not None:
        return listener(reactor, f"{protocol}_ENDPOINT", configured)
    return listener(reactor, f"{protocol}_PORT", endpoint_description(port, bind_address))


def stop_on_listen_failure(reactor: Any) -> Callable[[], None]:
    """
    What to do when a listener fails after startup: stop, and exit with
    status 1 so a service manager sees the failure.
    """

    def exit_failed() -> None:
        # os._exit skips the interpreter's own flushing of standard streams.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)

    def stop() -> None:
        # twistd has no way for a service to set the exit status; once the
        # reactor has shut down cleanly, leave with 1 ourselves.
        reactor.addSystemEventTrigger("after", "shutdown", exit_failed)
        reactor.stop()

    return stop


def tls_context(settings: Settings, reactor: Any) -> ReloadingContextFactory | None:
    """
    The TLS context factory every TLS listener and STARTTLS shares, or
    C{None} when TLS is off.  With C{SMTP_SSL_SELF_SIGNED} and no paths, a
    self-signed pair is made (once) in the data directory.

    @raise ConfigError: with one line naming the setting, if the pair
        cannot be used.
    """
    if not settings.smtp_ssl_enabled:
        return None
    if settings.smtp_ssl_cert_path and settings.smtp_ssl_key_path:
        cert_path, key_path = Path(settings.smtp_ssl_cert_path), Path(settings.smtp_ssl_key_path)
    else:
        directory = Path(_spool_directory(settings.database_url) or ".") / "tls"
        now = datetime.fromtimestamp(reactor.seconds(), UTC)
        cert_path, key_path = make_self_signed(settings.domain_name, directory, now)
    try:
        return ReloadingContextFactory(cert_path, key_path, reactor)
    except CertificateError as e:
        raise ConfigError(str(e)) from None


def build_service(settings: Settings, reactor: Any = global_reactor) -> TempmailService:
    """
    Assemble the daemon from validated settings.

    @raise ConfigError: if the store cannot be opened.
    """
    try:
        store = open_store(settings.database_url, reactor)
    except (SchemaError, StorageUnavailable) as e:
        raise ConfigError(f"DATABASE_URL={settings.database_url}: {e}") from None

    daemon = TempmailService(make_observer(settings.log_level, settings.log_format, sys.stdout))
    tls = tls_context(settings, reactor)
    # Children stop in reverse order: HTTP and SMTP first (finishing what
    # they accepted), then retention, then webhooks (storing the deliveries
    # those last events made), and the store last.
    StoreService(store).setServiceParent(daemon)
    clock: IReactorTime = reactor
    # Slow CPU work gets pools of its own, apart from the reactor's (which
    # resolves names and runs the database).
    password_workers = WorkerPool("passwords", settings.password_threads, reactor)
    password_workers.setServiceParent(daemon)
    parse_workers = WorkerPool("parsing", settings.parse_threads, reactor)
    parse_workers.setServiceParent(daemon)
    hub = EventHub(clock)
    metrics = Metrics()
    metrics.watch(hub)
    shared_limits = ISharedFailureLimits(store, None)
    events = IEventSource(store, None)
    # Every layer above storage writes through this, timed for /metrics.
    store = MeasuredMailStore(store, metrics)
    if events is None:
        # ...and announced on the hub once each change commits.
        store = PublishingMailStore(store, hub)
    else:
        # The database announces every change, this node's and the others'.
        events.event_feed(hub, reactor).setServiceParent(daemon)

    checker = TargetChecker(allow_private=settings.webhook_allow_private)
    sender = WebhookSender(clock, checker, pinned_client(reactor), settings.webhook_timeout)
    WebhookDispatcher(
        store,
        hub,
        sender,
        clock,
        max_attempts=settings.webhook_max_attempts,
        retry_base=settings.webhook_retry_base,
        disable_after=settings.webhook_disable_after,
        concurrency=settings.webhook_concurrency,
        per_webhook=settings.webhook_concurrency_per_webhook,
        keep_log_for=timedelta(seconds=settings.webhook_log_retention),
        lease=timedelta(seconds=settings.webhook_lease),
    ).setServiceParent(daemon)

    if settings.email_retention_hours is not None or settings.max_emails_per_mailbox is not None:
        RetentionService(
            store,
            clock,
            settings.retention_interval,
            max_age=None
            if settings.email_retention_hours is None
            else timedelta(hours=settings.email_retention_hours),
            keep_per_mailbox=settings.max_emails_per_mailbox,
        ).setServiceParent(daemon)

    if tls is not None:
        reloader = CertificateReloader(tls, settings.smtp_ssl_reload_interval, reactor)
        reloader.setServiceParent(daemon)
    for service in _smtp_services(settings, store, parse_workers, tls, reactor, metrics):
        service.setServiceParent(daemon)

    # A server database keeps the limiter, so every node on it counts the
    # same guesses.
    limiter = MeasuredFailureLimiter(
        MemoryFailureLimiter(
            clock, free_failures=settings.auth_failure_limit, max_delay=settings.auth_max_delay
        )
        if shared_limits is None
        else shared_limits.failure_limiter(
            clock, settings.auth_failure_limit, settings.auth_max_delay
        ),
        metrics,
    )
    access = MailboxAccess(
        store,
        limiter,
        clock,
        settings.domain_name,
        ThreadedPasswordHasher(password_workers),
        admin_token=settings.admin_token,
        password_min_length=settings.password_min_length,
        token_ttl=settings.token_ttl,
    )
    if settings.imap_enabled:
        for service in _imap_services(
            settings, store, access, hub, parse_workers, tls, reactor, metrics
        ):
            service.setServiceParent(daemon)
    sockets = MailboxSocketFactory(
        hub,
        access,
        clock,
        settings.allowed_origins or frozenset(),
        SocketLimits(
            max_connections=settings.ws_max_connections,
            max_per_client=settings.ws_max_connections_per_ip,
            ping_interval=settings.ws_ping_interval,
            max_backlog=settings.ws_max_backlog,
        ),
        TrustedProxies(settings.trusted_proxies),
    )
    metrics.count_sessions("websocket", lambda: sockets.counts.total)
    webhooks = WebhookSettings(checker, sender, settings.webhook_max_per_mailbox)
    mcp = _mcp_server(settings, store, access, hub, webhooks, clock)
    metrics.count_sessions("mcp", lambda: len(mcp.sessions))
    scrape = MetricsRoutes(metrics, settings.metrics_token, store, clock)
    resource = MailAPI(
        store,
        access,
        settings.domain_name,
        web_root(),
        sockets,
        webhooks,
        McpEndpoint(mcp).app,
        Readiness(store, daemon),
        scrape if settings.metrics_port is None else None,
    ).resource()
    if settings.api_key is not None:
        resource = ApiKeyGate(resource, settings.api_key)
    site = ApiSite(resource, TrustedProxies(settings.trusted_proxies))
    ListeningService(
        "http",
        listen_endpoint(
            reactor, "API", settings.api_endpoint, settings.api_port, settings.bind_address
        ),
        site,
        # The MCP sessions of /mcp on this port.
        _mcp_sessions_ender(mcp),
        stop_on_listen_failure(reactor),
    ).setServiceParent(daemon)
    if settings.mcp_enabled:
        _mcp_service(settings, mcp, reactor).setServiceParent(daemon)
    if settings.metrics_port is not None:
        ListeningService(
            "metrics",
            listen_endpoint(reactor, "METRICS", None, settings.metrics_port, settings.bind_address),
            ApiSite(compose([scrape.app]), TrustedProxies(settings.trusted_proxies)),
            listen_failed=stop_on_listen_failure(reactor),
        ).setServiceParent(daemon)
    return daemon


def _mcp_server(
    settings: Settings,
    store: IMailStore,
    access: MailboxAccess,
    hub: EventHub,
    webhooks: WebhookSettings,
    clock: IReactorTime,
) -> McpServer:
    limits = McpLimits(
        max_body=settings.mcp_max_body,
        max_sessions=settings.mcp_max_sessions,
        max_subscriptions=settings.mcp_max_subscriptions,
        session_idle_timeout=settings.mcp_session_idle_timeout,
        max_wait=settings.mcp_max_wait,
        wait_lookback=settings.mcp_wait_lookback,
        max_inline_attachments=settings.mcp_max_inline_attachments,
        allowed_origins=settings.allowed_origins or frozenset(),
    )
    return McpServer(McpServices(store, access, hub, clock, settings.domain_name, webhooks, limits))


def _mcp_service(settings: Settings, mcp: McpServer, reactor: Any) -> ListeningService:
    """
    MCP on its own port, at C{/mcp} and C{/}; the sessions are shared with
    C{/mcp} on the API port, and end when either listener stops.
    """
    resource = compose([McpEndpoint(mcp, ("/mcp", "/")).app])
    if settings.api_key is not None:
        resource = ApiKeyGate(resource, settings.api_key, prefixes=None)
    site = ApiSite(resource, TrustedProxies(settings.trusted_proxies))

    return ListeningService(
        "mcp",
        listen_endpoint(reactor, "MCP", None, settings.mcp_port, settings.bind_address),
        site,
        _mcp_sessions_ender(mcp),
        stop_on_listen_failure(reactor),
    )


def _mcp_sessions_ender(mcp: McpServer) -> Callable[[], Deferred[None]]:
    """
    What ends the MCP sessions when a listener serving them stops: their
    waits answer, their subscriptions and streams end.
    """

    def end() -> Deferred[None]:
        mcp.sessions.end_all()
        return succeed(None)

    return end


def _spool_directory(location: StoreLocation) -> str | None:
    """
    Spool large SMTP messages in the data directory; when the data is not
    on this host's disk (in memory, or on a database server), in the
    system's temporary directory.
    """
    return location.data_directory


def _smtp_services(
    settings: Settings,
    store: IMailStore,
    parse_workers: WorkerPool,
    tls: ReloadingContextFactory | None,
    reactor: Any,
    metrics: Metrics,
) -> list[ListeningService]:
    """
    The SMTP listeners: C{SMTP_PORT} (STARTTLS offered when TLS is on), and
    with TLS the submission port (STARTTLS, required by default) and the
    implicit-TLS port.  They share one delivery and one memory budget.
    """
    delivery = MailDelivery(
        store,
        settings.domain_name,
        settings.reject_non_domain_emails,
        parse=lambda raw: parse_workers.run(parse_message, raw),
    )
    limits = SMTPLimits(
        max_message_size=settings.max_message_size,
        max_recipients=settings.max_recipients,
        max_line_length=settings.smtp_max_line_length,
        max_command_length=settings.smtp_max_command_length,
        timeout=settings.smtp_timeout,
        memory_budget=settings.smtp_memory_budget,
    )
    budget = MemoryBudget(limits.memory_budget)

    def factory(context_factory: Any = None, require_tls: bool = False) -> SMTPServerFactory:
        return SMTPServerFactory(
            delivery,
            limits,
            reactor,
            settings.smtp_max_connections,
            spool_directory=_spool_directory(settings.database_url),
            context_factory=context_factory,
            require_tls=require_tls,
            budget=budget,
            metrics=metrics.smtp,
        )

    plain = factory(tls)
    services = [
        _listening(
            "smtp",
            listen_endpoint(
                reactor, "SMTP", settings.smtp_endpoint, settings.smtp_port, settings.bind_address
            ),
            plain,
            plain.shutdown,
            reactor,
        )
    ]
    if tls is not None:
        submission = factory(tls, settings.smtp_require_tls)
        implicit = factory()
        services += [
            _listening(
                "submission",
                listen_endpoint(
                    reactor,
                    "SMTP_STARTTLS",
                    None,
                    settings.smtp_starttls_port,
                    settings.bind_address,
                ),
                submission,
                submission.shutdown,
                reactor,
            ),
            _listening(
                "smtps",
                listen_endpoint(
                    reactor, "SMTP_SSL", None, settings.smtp_ssl_port, settings.bind_address
                ),
                TLSMemoryBIOFactory(tls, False, implicit),
                implicit.shutdown,
                reactor,
            ),
        ]
    factories = [plain, submission, implicit] if tls is not None else [plain]
    metrics.count_sessions("smtp", lambda: sum(len(f.sessions) for f in factories))
    return services


def _listening(
    name: str,
    endpoint: IStreamServerEndpoint,
    factory: IProtocolFactory,
    shutdown: Callable[[], Deferred[Any]],
    reactor: Any,
) -> ListeningService:
    return ListeningService(name, endpoint, factory, shutdown, stop_on_listen_failure(reactor))


def _imap_services(
    settings: Settings,
    store: IMailStore,
    access: MailboxAccess,
    hub: EventHub,
    parse_workers: WorkerPool,
    tls: ReloadingContextFactory | None,
    reactor: Any,
    metrics: Metrics,
) -> list[ListeningService]:
    """
    The IMAP listeners: C{IMAP_PORT} (STARTTLS offered when TLS is on) and,
    with TLS, the implicit-TLS port.
    """
    portal = Portal(MailRealm(store, access, hub))
    portal.registerChecker(AccessChecker(access, settings.imap_allow_unclaimed))
    limits = IMAPLimits(
        max_connections=settings.imap_max_connections,
        max_connections_per_ip=settings.imap_max_connections_per_ip,
        login_timeout=settings.imap_login_timeout,
        idle_timeout=settings.imap_idle_timeout,
        max_literal=settings.imap_max_literal,
        max_line_length=settings.imap_max_line_length,
        max_append=settings.max_message_size,
    )
    appender = Appender(lambda raw: parse_workers.run(parse_message, raw), reactor)
    allow_plaintext = settings.imap_allow_plaintext_auth
    plain = IMAPServerFactory(
        portal,
        limits,
        reactor,
        appender,
        context_factory=tls,
        allow_plaintext_auth=tls is None if allow_plaintext is None else allow_plaintext,
    )
    services = [
        _listening(
            "imap",
            listen_endpoint(reactor, "IMAP", None, settings.imap_port, settings.bind_address),
            plain,
            plain.shutdown,
            reactor,
        )
    ]
    if tls is not None:
        implicit = IMAPServerFactory(portal, limits, reactor, appender)
        services.append(
            _listening(
                "imaps",
                listen_endpoint(
                    reactor, "IMAP_SSL", None, settings.imap_ssl_port, settings.bind_address
                ),
                TLSMemoryBIOFactory(tls, False, implicit),
                implicit.shutdown,
                reactor,
            )
        )
    factories = [plain, implicit] if tls is not None else [plain]
    metrics.count_sessions("imap", lambda: sum(sum(f.sessions.values()) for f in factories))
    return services


def stop_cleanly_on_sigterm(reactor: Any) -> None:
    """
    Make SIGTERM a clean stop that exits 0.

    twistd re-raises a terminating signal after shutdown, so the process
    would die "killed by SIGTERM" even after a graceful stop; service
    managers and scripts expect status 0 from a requested shutdown.
    """

    def terminate(number: int, frame: object) -> None:
        log.info("Received SIGTERM: finishing open SMTP sessions, then stopping")
        reactor.callFromThread(reactor.stop)

    signal.signal(signal.SIGTERM, terminate)


def reload_certificate_on_sighup(reactor: Any, tls: ReloadingContextFactory) -> None:
    """
    Make SIGHUP (systemd's reload, a certbot deploy hook) check the
    certificate files at once, rather than at the next
    C{SMTP_SSL_RELOAD_INTERVAL}.
    """

    def hangup(number: int, frame: object) -> None:
        log.info("Received SIGHUP: checking the TLS certificate files")
        reactor.callFromThread(tls.reload)

    signal.signal(signal.SIGHUP, hangup)


def keep_running_on_sighup(reactor: Any) -> None:
    """
    Make SIGHUP (systemd's reload) harmless: its default action would end
    the process, and no TLS certificates are in use to be read again.
    """

    def reload(number: int, frame: object) -> None:
        reactor.callFromThread(log.info, "Received SIGHUP: no TLS certificates to reload")

    signal.signal(signal.SIGHUP, reload)


def makeService(options: Options) -> TempmailService:
    """
    Build the daemon from C{twistd tempmail} options, the environment and
    C{./.env}.  A bad setting stops startup with one line naming it.
    """
    overrides = {s.name: options.get(s.option) for s in SETTINGS}
    try:
        daemon = build_service(load_from_process(overrides))
    except ConfigError as e:
        raise SystemExit(f"tempmail: {e}") from None
    # Installed once the reactor runs, replacing the reactor's own handler.
    global_reactor.callWhenRunning(stop_cleanly_on_sigterm, global_reactor)
    reloader = daemon.namedServices.get("tls-reload")
    if isinstance(reloader, CertificateReloader):
        global_reactor.callWhenRunning(
            reload_certificate_on_sighup, global_reactor, reloader.factory
        )
    else:
        global_reactor.callWhenRunning(keep_running_on_sighup, global_reactor)
    return daemon
