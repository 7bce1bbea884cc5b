"""Bounces and complaints: read them into events, and act on them."""

from mailer.bounces.model import BounceEvent, ParsedBounce
from mailer.bounces.parse import parse_message

__all__ = ["BounceEvent", "ParsedBounce", "parse_message"]
