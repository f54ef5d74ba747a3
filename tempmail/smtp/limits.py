"""
The limits an SMTP session enforces, from the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SMTPLimits:
    """
    The limits one SMTP session enforces.

    @ivar max_message_size: bytes of message data accepted after DATA.
    @ivar max_recipients: RCPT TO commands accepted per transaction.
    @ivar max_line_length: bytes in one line, without CRLF.
    @ivar timeout: seconds of silence before the session is closed.
    @ivar memory_budget: bytes of message data all sessions together may
        hold in memory (L{tempmail.smtp.spool.MemoryBudget}).
    """

    max_message_size: int = 25 * 1024 * 1024
    max_recipients: int = 100
    max_line_length: int = 16384
    timeout: float = 300.0
    memory_budget: int = 128 * 1024 * 1024
