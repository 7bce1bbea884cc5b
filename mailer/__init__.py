"""mailer: circular letters to mailing lists, from the command line."""

__version__ = "0.1.0"
