"""Whether a poster's domain asks receivers to refuse the post as the list sends it.

A post sent on by the list from the poster's own address fails the poster's
DMARC at every receiver: the list's server signs for the list's domain, not
theirs. Where the poster's domain publishes ``p=quarantine`` or
``p=reject`` (``mailer.dmarc.find_policy``, asked of ``[inbound]
resolver`` or the system's resolver), the list's ``--dmarc`` setting
applies: ``munge`` (From the list) or ``wrap`` (the post attached to a
message from the list). Where DNS gives no answer, the same is done: a
post sent as it came might be lost, a munged one never is.
"""

from __future__ import annotations

from mailer.config import Config
from mailer.dmarc import find_policy
from mailer.dns import DnsError, Resolver, parse_nameserver
from mailer.store.models import DmarcAction

#: The policies that make receivers refuse or file away mail that fails DMARC.
STRICT = ("quarantine", "reject")


def resolver_for(config: Config) -> Resolver:
    """The resolver ``[inbound] resolver`` names, else the system's."""
    server = config.inbound.resolver
    return Resolver(parse_nameserver(server) if server else None)


def action_for(config: Config, action: DmarcAction, from_domain: str) -> str:
    """What is done to a post from ``from_domain``: ``munge``, ``wrap`` or "" (nothing)."""
    if action is DmarcAction.NONE or not from_domain:
        return ""
    try:
        found = find_policy(resolver_for(config), from_domain)
    except DnsError:
        return str(action)
    if found is None or found.applies(from_domain.lower()) not in STRICT:
        return ""
    return str(action)
