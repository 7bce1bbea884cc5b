"""How a message leaves: the channel interface, SMTP relays, the Maildir outbox."""
