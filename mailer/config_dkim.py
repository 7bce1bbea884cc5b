"""The ``[dkim]`` section: who signs, with which keys, and the rules its settings keep.

Apart from ``config.py`` only for size; ``config`` reads the section like any
other and calls ``check_dkim`` with the rest of its checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mailer.errors import ConfigError


@dataclass(frozen=True)
class DkimConfig:
    """Who signs: the d= domain, and one key (RSA or Ed25519), optionally with a second,
    Ed25519 key beside an RSA one (RFC 8463: two signatures on every message)."""

    domain: str = ""
    selector: str = ""
    key_file: str = ""
    #: The key as PEM text, from ``MAILER_DKIM_PRIVATE_KEY`` only (instead of ``key_file``).
    private_key: str = ""
    #: What ``selector``'s key signs with: ``rsa-sha256`` or ``ed25519-sha256``.
    algorithm: str = "rsa-sha256"
    selector_ed25519: str = ""
    key_file_ed25519: str = ""
    private_key_ed25519: str = ""

    @property
    def enabled(self) -> bool:
        """Whether mailer signs its messages (``domain`` set; the rest is then required)."""
        return bool(self.domain)

    @property
    def dual(self) -> bool:
        """Whether an Ed25519 signature goes beside the RSA one."""
        return bool(self.selector_ed25519)


#: A DKIM domain or selector: dot-separated LDH labels, in ASCII (RFC 6376 3.1, 3.5).
_DNS_NAME = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9_-]{1,63}(?<!-))*")


def is_dns_name(value: str) -> bool:
    """Whether ``value`` can stand as a DKIM domain or selector (ASCII labels, 253 at most)."""
    return bool(_DNS_NAME.fullmatch(value)) and len(value) <= 253


def check_dkim(dkim: DkimConfig, found: Path | None) -> None:
    """The ``[dkim]`` settings that belong together are set together; names are DNS names.

    The keys themselves are read where they are used (``dispatch.dkim_keys``):
    reading key files is no job of the configuration.
    """
    if not dkim.enabled:
        if dkim.selector or dkim.key_file or dkim.private_key or dkim.selector_ed25519:
            raise ConfigError("dkim: set dkim.domain (the d= of the signature) too", path=found)
        return
    for name in ("domain", "selector", "selector_ed25519"):
        value = getattr(dkim, name)
        if value and not is_dns_name(value):
            raise ConfigError(
                f"dkim.{name} {value!r} must be a DNS name in ASCII (an international "
                "domain in its xn-- form)",
                path=found,
            )
    _check_dkim_key(dkim.selector, dkim.key_file, dkim.private_key, "", found)
    if dkim.dual or dkim.key_file_ed25519 or dkim.private_key_ed25519:
        if dkim.algorithm != "rsa-sha256":
            raise ConfigError(
                "dkim.selector_ed25519 adds an Ed25519 signature beside the RSA one; with "
                'algorithm = "ed25519-sha256" set selector and key_file only',
                path=found,
            )
        _check_dkim_key(
            dkim.selector_ed25519, dkim.key_file_ed25519, dkim.private_key_ed25519,
            "_ed25519", found,
        )


def _check_dkim_key(
    selector: str, key_file: str, private_key: str, suffix: str, found: Path | None
) -> None:
    """A selector with exactly one source for its key: a file or the environment."""
    env = f"MAILER_DKIM_PRIVATE_KEY{suffix.upper()}"
    if not selector:
        raise ConfigError(f"dkim: set dkim.selector{suffix}", path=found)
    if not key_file and not private_key:
        raise ConfigError(f"dkim: set dkim.key_file{suffix} or {env}", path=found)
    if key_file and private_key:
        raise ConfigError(
            f"dkim: both dkim.key_file{suffix} and {env} are set; keep one", path=found
        )
