"""
HTTP: the REST API and the static web UI.
"""

from tempmail.api.app import MailAPI

__all__ = ["MailAPI"]
