# tempmail: SMTP in, REST, web UI, WebSocket, IMAP and MCP out.
# Build: docker build -t tempmail .
# Run:   docker run -d -p 2525:2525 -p 3000:3000 -v tempmail-data:/data tempmail

# Build stage: install tempmail and its dependencies into a virtualenv, and
# write Twisted's plugin cache now (the runtime user cannot write it).
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/tempmail
WORKDIR /src
COPY pyproject.toml setup.cfg README.md ./
COPY twisted ./twisted
COPY tempmail ./tempmail
# With the PostgreSQL driver (a binary wheel), so DATABASE_URL=postgresql://... works too.
RUN /opt/tempmail/bin/pip install ".[postgresql]" \
    && /opt/tempmail/bin/python -c "from twisted.plugin import IPlugin, getPlugins; list(getPlugins(IPlugin))"

# Runtime stage: the virtualenv only, run by an unprivileged user.
FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 tempmail \
    && useradd --system --uid 10001 --gid tempmail --home-dir /data --shell /usr/sbin/nologin tempmail \
    && mkdir /data \
    && chown tempmail:tempmail /data
COPY --from=build /opt/tempmail /opt/tempmail
ENV PATH=/opt/tempmail/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    BIND_ADDRESS=0.0.0.0 \
    DATABASE_URL=sqlite:/data/emails.db \
    LOG_FORMAT=json
WORKDIR /data
VOLUME ["/data"]
USER 10001:10001
# SMTP, HTTP (REST, web UI, WebSocket, /mcp), IMAP (IMAP_ENABLED), MCP (MCP_ENABLED),
# and with SMTP_SSL_ENABLED submission (STARTTLS), SMTPS and IMAPS.
EXPOSE 2525 3000 143 3001 587 465 993
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/livez' % os.environ.get('API_PORT', '3000'), timeout=4)"]
# twistd stops cleanly on SIGTERM: it finishes open SMTP sessions, then exits 0.
STOPSIGNAL SIGTERM
CMD ["twistd", "-n", "--pidfile=", "tempmail"]
