"""Channel adapters, one module per provider: verify and parse what arrives into an
IncomingMessage, render Replies into the provider's form, and send them.

May import ``bot`` and ``rewards``; must not import ``web`` or ``scheduler``.
"""
