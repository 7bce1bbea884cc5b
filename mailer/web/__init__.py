"""The small HTTP app subscribers touch: unsubscribe, subscribe, confirm, archive."""

from mailer.web.app import create_app

__all__ = ["create_app"]
