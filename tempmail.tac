"""
Run tempmail with C{twistd -ny tempmail.tac}, e.g. under systemd.

Settings come from the environment and ./.env, exactly as for
C{twistd -n tempmail}.
"""

from twisted.application.service import Application

from tempmail.tap import Options, makeService

options = Options()
options.parseOptions([])
application = Application("tempmail")
makeService(options).setServiceParent(application)
