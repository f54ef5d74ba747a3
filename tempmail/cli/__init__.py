"""
Console scripts for getting mail in: C{tempmail-sendmail} and
C{tempmail-import}.
"""
