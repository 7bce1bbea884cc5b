"""``mailer doctor``: whether the setup lets big mailbox providers take the letters.

``preflight`` checks the configuration alone (``mailer send`` runs it before
asking); ``diagnose`` adds what DNS publishes (SPF, DKIM, DMARC, MX), whether
the web side answers, and a summary against the bulk-sender rules of Gmail and
Yahoo.
"""
