"""The checks that need the configuration alone: cheap enough for every ``mailer send``.

They look at what mailer itself puts into a letter: whether it is signed,
where bounces and requests to leave go, and whether the unsubscribe link is
HTTPS. What DNS says about the same settings is ``mailer doctor``'s.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from mailer.config import Config
from mailer.dispatch.transports.smtp import is_loopback
from mailer.doctor.findings import Finding, Status
from mailer.letters.sender import sender_of, web_base_url
from mailer.tokens import unsubscribe_mailbox


def preflight(config: Config) -> list[Finding]:
    """DKIM set, a return path, an unsubscribe address, an HTTPS ``web.base_url``."""
    return [_dkim(config), _return_path(config), _unsubscribe(config), base_url_check(config)]


def _dkim(config: Config) -> Finding:
    dkim = config.dkim
    if dkim.enabled:
        selectors = ", ".join(s for s in (dkim.selector, dkim.selector_ed25519) if s)
        return Finding("DKIM", Status.PASS, f"mailer signs as {dkim.domain} ({selectors})")
    return Finding(
        "DKIM", Status.WARN,
        "mailer does not sign ([dkim] is not set): unless the relay signs as the From "
        "domain, Gmail and Yahoo see no DKIM signature of yours",
        "run `mailer dkim keygen`, publish its record and set [dkim]",
    )


#: What the providers whose reports mailer takes are called.
_PROVIDERS = {"ses": "Amazon SES", "postmark": "Postmark", "mailgun": "Mailgun",
              "sendgrid": "SendGrid"}


def envelope_provider(config: Config) -> str:
    """The provider whose own envelope sender carries the letters ("" when it is ours).

    With no ``[bounces] return_path`` and a provider's reports taken at
    ``/hooks/``, the provider is the relay: it sends under an envelope sender
    of its own domain and reports bounces itself (deployment.md).
    """
    if config.bounces.return_path:
        return ""
    return " or ".join(_PROVIDERS[name] for name in config.webhooks.providers)


def _return_path(config: Config) -> Finding:
    provider = envelope_provider(config)
    if provider:
        return Finding(
            "return path", Status.PASS,
            f"{provider} sends under its own envelope sender, and reports bounces and "
            "complaints to /hooks/",
        )
    return _setting(
        "return path", config.bounces.return_path,
        f"bounces go to {config.bounces.return_path} with a signed VERP address each",
        "[bounces] return_path is not set: bounces go to the From address, and only those "
        "that name the recipient can be matched",
        "set [bounces] return_path to an address at the From domain piped into mailer",
    )


def _unsubscribe(config: Config) -> Finding:
    default = unsubscribe_mailbox(config, sender_of(None, config)[1].rpartition("@")[2])
    return _setting(
        "unsubscribe address", config.bounces.unsubscribe_address,
        f"List-Unsubscribe names {default}",
        f"[bounces] unsubscribe_address is not set: List-Unsubscribe names {default}",
        "set [bounces] unsubscribe_address to an address piped into `mailer inbound`",
    )


def _setting(check: str, value: str, when_set: str, when_not: str, fix: str) -> Finding:
    """A pass when the setting has a value, else a warning with its fix."""
    if value:
        return Finding(check, Status.PASS, when_set)
    return Finding(check, Status.WARN, when_not, fix)


def base_url_check(config: Config) -> Finding:
    """Whether the one-click unsubscribe link (``web.base_url``) is HTTPS."""
    base = web_base_url(config)
    parts = urlsplit(base)
    if parts.scheme == "https":
        return Finding("web.base_url", Status.PASS, f"{base} is HTTPS")
    local = is_loopback(parts.hostname or "")
    return Finding(
        "web.base_url",
        Status.WARN if local else Status.FAIL,
        f"{base} is not HTTPS"
        + (" (a loopback address: fine for a trial, not for letters)" if local else ""),
        "set web.base_url to the public https:// address of `mailer serve`",
    )
