"""
SMTP reception, built on Twisted's ESMTP.
"""

from tempmail.smtp.delivery import MailDelivery, RecipientRefused
from tempmail.smtp.factory import SMTPServerFactory
from tempmail.smtp.limits import SMTPLimits
from tempmail.smtp.protocol import TempmailESMTP

__all__ = ["MailDelivery", "RecipientRefused", "SMTPLimits", "SMTPServerFactory", "TempmailESMTP"]
