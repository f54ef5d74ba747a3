"""
Makes C{twistd tempmail} available; the work is in L{tempmail.tap}.
"""

from twisted.application.service import ServiceMaker

tempmail = ServiceMaker(
    "tempmail",
    "tempmail.tap",
    "A temporary mail server: SMTP in, REST out.",
    "tempmail",
)
