"""Where a message goes, decided by the address it was delivered to.

One alias can take every address mailer answers to, because the address
itself says what the message is:

1. the bounce return path (``[bounces] return_path``, with or without a VERP
   token; without one configured, ``[sender] from``, which is then the
   envelope sender of every letter) and the List-Unsubscribe address (with
   or without a token) → the bounce code, exactly as ``bounces ingest``;
2. the replies address, ``replies+<token>@...`` (or without a token) → a
   reply to a circular;
3. ``<list>@<posting domain>`` for a list that exists → a post to that list;
4. anything else → nowhere (dropped as an unknown recipient).

The rules are tried in that order, so a list named like one of the other
addresses never takes their mail. A new kind of address (a list's
``-request`` or ``-owner`` address, a moderator's approval address) is one
more ``Rule`` in ``rules_for`` and one more ``RouteKind``, with a handler
for it in ``intake``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from mailer import tokens
from mailer.config import Config
from mailer.letters.sender import sender_of


class RouteKind(StrEnum):
    """What an address is for (as logged in the ``inbound`` table's ``route``)."""

    BOUNCE = "bounce"
    REPLY = "reply"
    POST = "post"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Destination:
    """Where one message goes: the route, the address, and what the address carries."""

    kind: RouteKind
    address: str
    #: The token after the ``+`` of a replies address ("" when there is none).
    token: str = ""
    #: The list a post is for.
    list_name: str = ""


#: One rule: a destination for the address, or None when the rule does not apply.
Rule = Callable[[str], Destination | None]


def posting_domain(config: Config) -> str:
    """The domain of the lists' posting addresses: ``[inbound] domain``, else the
    domain of ``[sender] from``."""
    domain = config.inbound.domain or sender_of(None, config)[1].rpartition("@")[2]
    return domain.lower()


def bounce_address(config: Config) -> str:
    """The envelope sender of our letters, where bounces come back to: the return
    path, else the configured From."""
    return config.bounces.return_path or sender_of(None, config)[1]


def _is(address: str, base: str) -> bool:
    """Whether ``address`` is ``base`` itself or ``base`` with a ``+token``."""
    return bool(base) and (
        address.lower() == base.lower() or tokens.verp_token(address, base) is not None
    )


def _bounces(config: Config) -> Rule:
    returns = bounce_address(config)
    unsubscribe = tokens.unsubscribe_mailbox(config, posting_domain(config))

    def rule(address: str) -> Destination | None:
        if (
            _is(address, returns)
            or _is(address, unsubscribe)
            or tokens.unsubscribe_token(address, config) is not None
        ):
            return Destination(RouteKind.BOUNCE, address)
        return None

    return rule


def _replies(config: Config) -> Rule:
    base = config.replies.address

    def rule(address: str) -> Destination | None:
        if not _is(address, base):
            return None
        token = tokens.verp_token(address, base) or ""
        return Destination(RouteKind.REPLY, address, token=token)

    return rule


def _posts(config: Config, list_names: Sequence[str]) -> Rule:
    domain = posting_domain(config)
    names = {name.lower() for name in list_names}

    def rule(address: str) -> Destination | None:
        local, _, host = address.rpartition("@")
        if host.lower() == domain and local.lower() in names:
            return Destination(RouteKind.POST, address, list_name=local.lower())
        return None

    return rule


def rules_for(config: Config, list_names: Sequence[str]) -> tuple[Rule, ...]:
    """The rules, in the order they are tried (the module's docstring says why)."""
    return (_bounces(config), _replies(config), _posts(config, list_names))


@dataclass(frozen=True)
class Router:
    """The rules for one run of the intake (the lists are read once, when it starts)."""

    rules: tuple[Rule, ...]

    def route(self, address: str) -> Destination:
        """The destination of a message delivered to ``address``."""
        address = address.strip().strip("<>").strip()
        if "@" in address:
            for rule in self.rules:
                found = rule(address)
                if found is not None:
                    return found
        return Destination(RouteKind.UNKNOWN, address)


def router_for(config: Config, list_names: Sequence[str]) -> Router:
    """The router for this configuration and these lists."""
    return Router(rules_for(config, list_names))
