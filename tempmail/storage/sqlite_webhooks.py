"""
The SQL for webhooks, their stored deliveries (the outbox the message writes
fill, and the leases dispatchers take on it) and the attempt log, run by
L{SQLiteMailStore} in its pool thread inside a transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from tempmail.events import MailEvent
from tempmail.models import (
    AttemptOutcome,
    DeliveryAttempt,
    DueDelivery,
    MailboxGrant,
    Webhook,
    WebhookChange,
)
from tempmail.outbox import deliveries_for
from tempmail.storage.sqlite_mailboxes import ensure_mailbox, granted_mailbox
from tempmail.storage.timestamps import from_micros, to_micros

_COLUMNS = """
    w.id, mb.address, w.url, w.events, w.secret, w.enabled, w.created_at,
    w.disabled_reason, w.consecutive_failures
"""
_FROM = "FROM webhooks w JOIN mailboxes mb ON mb.id = w.mailbox_id"


def _webhook(row: Sequence[Any]) -> Webhook:
    return Webhook(
        id=row[0],
        mailbox=row[1],
        url=row[2],
        events=tuple(json.loads(row[3])),
        secret=row[4],
        enabled=bool(row[5]),
        created_at=from_micros(row[6]),
        disabled_reason=row[7],
        consecutive_failures=row[8],
    )


def get_webhook(cursor: Any, id: str) -> Webhook | None:
    cursor.execute(f"SELECT {_COLUMNS} {_FROM} WHERE w.id = ?", (id,))
    row = cursor.fetchone()
    return None if row is None else _webhook(row)


def create_webhook(
    cursor: Any,
    grant: MailboxGrant,
    url: str,
    events: tuple[str, ...],
    secret: str,
    limit: int,
    now_us: int,
) -> Webhook | None:
    granted_mailbox(cursor, grant)
    mailbox_id = ensure_mailbox(cursor, grant.mailbox, now_us)
    cursor.execute("SELECT count(*) FROM webhooks WHERE mailbox_id = ?", (mailbox_id,))
    if cursor.fetchone()[0] >= limit:
        return None
    id = str(uuid.uuid4())
    cursor.execute(
        "INSERT INTO webhooks (id, mailbox_id, url, events, secret, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (id, mailbox_id, url, json.dumps(events), secret, now_us),
    )
    return get_webhook(cursor, id)


def list_webhooks(cursor: Any, mailbox: str) -> list[Webhook]:
    cursor.execute(
        f"SELECT {_COLUMNS} {_FROM} WHERE mb.address = ? ORDER BY w.created_at DESC, w.id",
        (mailbox,),
    )
    return [_webhook(row) for row in cursor.fetchall()]


def _granted_webhook(cursor: Any, grant: MailboxGrant, id: str) -> bool:
    mailbox_id = granted_mailbox(cursor, grant)
    cursor.execute("SELECT 1 FROM webhooks WHERE id = ? AND mailbox_id = ?", (id, mailbox_id))
    return cursor.fetchone() is not None


def update_webhook(
    cursor: Any, grant: MailboxGrant, id: str, change: WebhookChange
) -> Webhook | None:
    if not _granted_webhook(cursor, grant, id):
        return None
    if change.url is not None:
        cursor.execute("UPDATE webhooks SET url = ? WHERE id = ?", (change.url, id))
    if change.events is not None:
        cursor.execute(
            "UPDATE webhooks SET events = ? WHERE id = ?", (json.dumps(change.events), id)
        )
    if change.enabled is not None:
        # Switching on again starts the failure count afresh.
        cursor.execute(
            "UPDATE webhooks SET enabled = ?, disabled_reason = NULL, consecutive_failures = 0 "
            "WHERE id = ?",
            (int(change.enabled), id),
        )
        if not change.enabled:
            _abandon_pending(cursor, id)
    return get_webhook(cursor, id)


def delete_webhook(cursor: Any, grant: MailboxGrant, id: str) -> bool:
    if not _granted_webhook(cursor, grant, id):
        return False
    cursor.execute("DELETE FROM webhooks WHERE id = ?", (id,))
    return True


def write_outbox(cursor: Any, events: Sequence[MailEvent], now_us: int) -> None:
    """
    Store the deliveries C{events} owe the webhooks, in the caller's
    transaction: the outbox of the change that caused them.
    """
    hooks: dict[str, list[Webhook]] = {}
    now = from_micros(now_us)
    rows = []
    for event in events:
        if event.mailbox not in hooks:
            cursor.execute(
                f"SELECT {_COLUMNS} {_FROM} WHERE mb.address = ? AND w.enabled = 1",
                (event.mailbox,),
            )
            hooks[event.mailbox] = [_webhook(row) for row in cursor.fetchall()]
        for d in deliveries_for(event, hooks[event.mailbox], now):
            rows.append((d.id, d.webhook_id, d.event, d.payload, now_us, now_us))
    cursor.executemany(
        "INSERT INTO webhook_deliveries (id, webhook_id, event, payload, created_at, state, "
        "next_attempt_at) VALUES (?, ?, ?, ?, ?, 'pending', ?)",
        rows,
    )


def claim_deliveries(
    cursor: Any, owner: str, now_us: int, lease_until_us: int, limit: int, per_webhook: int
) -> list[DueDelivery]:
    # Each webhook gets at most per_webhook leases at once, counting those
    # other dispatchers hold: rank its due deliveries and add what it holds.
    cursor.execute(
        """
        SELECT id, webhook_id, url, secret, event, payload, attempts FROM (
            SELECT d.id, d.webhook_id, w.url, w.secret, d.event, d.payload, d.attempts,
                   d.next_attempt_at,
                   row_number() OVER (
                       PARTITION BY d.webhook_id ORDER BY d.next_attempt_at, d.id
                   ) + (
                       SELECT count(*) FROM webhook_deliveries held
                       WHERE held.webhook_id = d.webhook_id AND held.lease_until > ?
                   ) AS place
            FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
            WHERE d.state = 'pending' AND d.next_attempt_at <= ? AND w.enabled = 1
              AND (d.lease_until IS NULL OR d.lease_until <= ?)
        ) AS due
        WHERE place <= ?
        ORDER BY next_attempt_at, id
        LIMIT ?
        """,
        (now_us, now_us, now_us, per_webhook, limit),
    )
    candidates = [
        DueDelivery(row[0], row[1], row[2], row[3], row[4], bytes(row[5]), row[6])
        for row in cursor.fetchall()
    ]
    # The lease is taken only if nobody took it since the read: on a
    # database server, a dispatcher on another node may have leased the
    # same delivery meanwhile (the update waits for its commit, then sees
    # its lease), and each delivery goes to one dispatcher.
    due = []
    for delivery in candidates:
        cursor.execute(
            "UPDATE webhook_deliveries SET lease_owner = ?, lease_until = ? "
            "WHERE id = ? AND state = 'pending' AND (lease_until IS NULL OR lease_until <= ?)",
            (owner, lease_until_us, delivery.id, now_us),
        )
        if cursor.rowcount:
            due.append(delivery)
    return due


def release_deliveries(cursor: Any, owner: str) -> int:
    cursor.execute(
        "UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL "
        "WHERE lease_owner = ?",
        (owner,),
    )
    return int(cursor.rowcount)


def _abandon_pending(cursor: Any, webhook_id: str) -> None:
    cursor.execute(
        "UPDATE webhook_deliveries SET state = 'abandoned', next_attempt_at = NULL "
        "WHERE webhook_id = ? AND state = 'pending'",
        (webhook_id,),
    )


def record_attempt(
    cursor: Any, owner: str, outcome: AttemptOutcome, disable_after: int
) -> Webhook | None:
    attempt = outcome.attempt
    cursor.execute(
        "SELECT 1 FROM webhook_deliveries WHERE id = ? AND lease_owner = ?",
        (attempt.delivery_id, owner),
    )
    if cursor.fetchone() is None:
        # The webhook was deleted while the attempt ran, or the lease ran
        # out and another dispatcher has the delivery now.
        return None
    cursor.execute(
        "INSERT INTO webhook_attempts (delivery_id, attempt, at, status, error, duration_ms) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            attempt.delivery_id,
            attempt.attempt,
            to_micros(attempt.at),
            attempt.status,
            attempt.error,
            attempt.duration_ms,
        ),
    )
    cursor.execute("SELECT enabled FROM webhooks WHERE id = ?", (outcome.webhook_id,))
    enabled = bool(cursor.fetchone()[0])
    if outcome.delivered:
        state = "delivered"
    elif outcome.retry_at is None:
        state = "failed"
    else:
        # Switched off while this attempt ran: do not bring the delivery back.
        state = "pending" if enabled else "abandoned"
    cursor.execute(
        "UPDATE webhook_deliveries SET attempts = ?, state = ?, next_attempt_at = ?, "
        "lease_owner = NULL, lease_until = NULL WHERE id = ?",
        (
            attempt.attempt,
            state,
            None if state != "pending" or outcome.retry_at is None else to_micros(outcome.retry_at),
            attempt.delivery_id,
        ),
    )
    if outcome.delivered:
        cursor.execute(
            "UPDATE webhooks SET consecutive_failures = 0 WHERE id = ?", (outcome.webhook_id,)
        )
    else:
        cursor.execute(
            "UPDATE webhooks SET consecutive_failures = consecutive_failures + 1 WHERE id = ? "
            "RETURNING consecutive_failures",
            (outcome.webhook_id,),
        )
        row = cursor.fetchone()
        reason = outcome.disable_reason
        if reason is None and row is not None and row[0] >= disable_after:
            reason = f"disabled after {row[0]} consecutive failed attempts"
        if reason is not None:
            cursor.execute(
                "UPDATE webhooks SET enabled = 0, disabled_reason = ? WHERE id = ?",
                (reason, outcome.webhook_id),
            )
            _abandon_pending(cursor, outcome.webhook_id)
    return get_webhook(cursor, outcome.webhook_id)


def list_attempts(cursor: Any, webhook_id: str, limit: int) -> list[DeliveryAttempt]:
    cursor.execute(
        "SELECT a.delivery_id, d.event, a.attempt, a.at, a.status, a.error, a.duration_ms "
        "FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id "
        "WHERE d.webhook_id = ? ORDER BY a.at DESC, a.attempt DESC LIMIT ?",
        (webhook_id, limit),
    )
    return [
        DeliveryAttempt(row[0], row[1], row[2], from_micros(row[3]), row[4], row[5], row[6])
        for row in cursor.fetchall()
    ]


def prune_deliveries(cursor: Any, before_us: int) -> int:
    cursor.execute(
        "DELETE FROM webhook_deliveries WHERE state != 'pending' AND created_at < ?", (before_us,)
    )
    return int(cursor.rowcount)


class HookedMailboxes:
    """
    The addresses of the mailboxes that have an enabled webhook, kept in
    memory so that a delivery needs no webhook query unless its mailbox has
    one.

    Used only in the store's pool thread.  The store forgets the set at
    every write other than a delivery (L{forget}), in that write's own
    transaction order, so a delivery after a webhook change always sees it.
    A change made by another process is caught by C{PRAGMA data_version},
    which changes whenever another connection commits (and costs no read of
    any table); a server database with several nodes would use its own
    notification (PostgreSQL's C{LISTEN}/C{NOTIFY}) the same way.
    """

    def __init__(self, version_query: str | None = "PRAGMA data_version") -> None:
        """
        @param version_query: a statement whose one value changes whenever
            another connection commits; C{None} where there is none, so
            the set is read in every delivery transaction.
        """
        self._version_query = version_query
        self._addresses: frozenset[str] | None = None
        self._data_version: object = None

    def may_have(self, mailbox: str) -> bool:
        """
        Whether C{mailbox} may have an enabled webhook, from what is known
        (C{True} while the set is forgotten).  Safe from any thread: it only
        reads the reference to the current set.
        """
        addresses = self._addresses
        return addresses is None or mailbox in addresses

    def forget(self) -> None:
        """Read the set again before the next delivery."""
        self._addresses = None

    def current(self, cursor: Any) -> frozenset[str]:
        """The set, read again if it was forgotten or another process wrote."""
        version: object = object()
        if self._version_query is not None:
            cursor.execute(self._version_query)
            (version,) = cursor.fetchone()
        if self._addresses is None or version != self._data_version:
            cursor.execute(
                "SELECT DISTINCT mb.address FROM webhooks w "
                "JOIN mailboxes mb ON mb.id = w.mailbox_id WHERE w.enabled = 1"
            )
            self._addresses = frozenset(address for (address,) in cursor.fetchall())
            self._data_version = version
        return self._addresses
