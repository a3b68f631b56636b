"""The conversational core: IncomingMessage -> intents -> flows -> list[Reply].

Channel-agnostic: it returns replies and never sends. Texts and translations live here.
Must not import a provider SDK (telegram, twilio), Flask, APScheduler, nor the packages
``channels``, ``web`` or ``scheduler``.
"""
