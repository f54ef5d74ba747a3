"""
The IMAP4rev1 door: one C{INBOX} per mailbox, on Twisted's C{IMAP4Server}.

  - L{tempmail.imap.message}: a stored message as Twisted's C{IMessage}.
  - L{tempmail.imap.mailbox}: a session's view of a mailbox (C{IMailbox}).
  - L{tempmail.imap.account}: the account, realm and credentials checker.
  - L{tempmail.imap.server}: the protocol, with Twisted's bugs fixed.
  - L{tempmail.imap.factory}: the listener's factory and its limits.
"""
