"""DKIM keys: read from the configuration, made new, and written as the DNS record to publish.

A private key comes from a file (``dkim.key_file``) or from the environment
(``MAILER_DKIM_PRIVATE_KEY``, PEM). A key file that the group or others may
read is refused: whoever reads it can sign mail as the list's domain. The
key's type must be the configured algorithm's, and an RSA key must have at
least 1024 bits, as receivers ignore shorter ones (RFC 8301); 2048 is what
``mailer dkim keygen`` makes.

The public half is published as a TXT record at ``<selector>._domainkey.<domain>``:
``v=DKIM1; k=rsa; p=<SubjectPublicKeyInfo, base64>`` for RSA, and the raw
32-byte key for Ed25519 (RFC 8463). ``mailer doctor`` compares the record
it finds with the configured key through ``public_key_of_record``.
"""

from __future__ import annotations

import base64
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from mailer.config import Config
from mailer.config_dkim import is_dns_name
from mailer.errors import ConfigError, ConflictError, UsageError

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

#: What each algorithm is called in a signature (a=) and in the DNS record (k=).
KEY_TYPES = {"rsa-sha256": "rsa", "ed25519-sha256": "ed25519"}
ALGORITHMS = {kind: algorithm for algorithm, kind in KEY_TYPES.items()}
#: RFC 8301: verifiers need not check signatures made with RSA keys under 1024 bits.
MIN_RSA_BITS = 1024
DEFAULT_RSA_BITS = 2048
#: One character-string of a TXT record holds at most 255 octets (RFC 1035 3.3).
TXT_STRING = 255


class DkimKeyError(ConfigError):
    """A DKIM key cannot be used: unreadable, readable by others, of the wrong kind or size.

    Carries the setting (``dkim.key_file``), where the key is (a path or an
    environment variable) and why.
    """

    def __init__(self, setting: str, where: str, reason: str) -> None:
        self.setting = setting
        self.where = where
        self.reason = reason
        super().__init__(f"{setting} {where}: {reason}")


@dataclass(frozen=True)
class DkimKey:
    """One signing key with the domain and selector its public half is published under."""

    algorithm: str
    domain: str
    selector: str
    private_key: PrivateKey

    @property
    def rsa_bits(self) -> int:
        """The length of an RSA key (0 for an Ed25519 key, whose strength is fixed)."""
        key = self.private_key
        return key.key_size if isinstance(key, rsa.RSAPrivateKey) else 0

    @property
    def record_name(self) -> str:
        """Where receivers look the public key up: ``<selector>._domainkey.<domain>``."""
        return f"{self.selector}._domainkey.{self.domain}"

    @property
    def public_key(self) -> bytes:
        """The public key as the record's ``p=`` holds it, before base64."""
        return public_key_bytes(self.private_key)

    @property
    def record_value(self) -> str:
        """The TXT record's text: ``v=DKIM1; k=rsa; p=...``."""
        encoded = base64.b64encode(self.public_key).decode("ascii")
        return f"v=DKIM1; k={KEY_TYPES[self.algorithm]}; p={encoded}"

    def zone_line(self) -> str:
        """The record as a zone file line, its text split into strings of at most 255 octets."""
        strings = " ".join(f'"{part}"' for part in txt_strings(self.record_value))
        return f"{self.record_name}. IN TXT ( {strings} )"


def public_key_bytes(key: PrivateKey) -> bytes:
    """An RSA key's SubjectPublicKeyInfo (DER), or an Ed25519 key's raw 32 octets."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def record_tags(text: str) -> dict[str, str]:
    """A DKIM key record's tags (RFC 6376 3.6.1: ``v``, ``k``, ``p``, ``t`` ...), white
    space inside values removed, as verifiers read them."""
    tags: dict[str, str] = {}
    for part in text.split(";"):
        name, equals, value = part.partition("=")
        if equals:
            tags.setdefault(name.strip().lower(), "".join(value.split()))
    return tags


def publishes(key: DkimKey, tags: dict[str, str]) -> bool:
    """Whether a record with these tags holds ``key``'s public half (and says its kind)."""
    if tags.get("k", "rsa").lower() != KEY_TYPES[key.algorithm]:
        return False
    try:
        published = base64.b64decode(tags.get("p", ""), validate=True)
    except ValueError:
        return False
    if isinstance(key.private_key, ed25519.Ed25519PrivateKey):
        return published == key.public_key
    try:
        found = serialization.load_der_public_key(published)
    except (ValueError, UnsupportedAlgorithm):
        return False
    own = key.private_key.public_key()
    return isinstance(found, rsa.RSAPublicKey) and found.public_numbers() == own.public_numbers()


def txt_strings(value: str) -> list[str]:
    """A TXT record's text cut into strings of at most 255 octets, as zone files need."""
    return [value[i : i + TXT_STRING] for i in range(0, len(value), TXT_STRING)] or [""]


def load_keys(config: Config) -> tuple[DkimKey, ...]:
    """The configured signing keys, read and checked; none when ``[dkim]`` is not set.

    With ``selector_ed25519`` there are two: the RSA key first, then the
    Ed25519 one (RFC 8463 asks signers to keep an RSA signature beside it).
    """
    dkim = config.dkim
    if not dkim.enabled:
        return ()
    keys = [
        _key(config, dkim.algorithm, dkim.selector, dkim.key_file, dkim.private_key, "")
    ]
    if dkim.dual:
        keys.append(
            _key(
                config, "ed25519-sha256", dkim.selector_ed25519,
                dkim.key_file_ed25519, dkim.private_key_ed25519, "_ed25519",
            )
        )
    return tuple(keys)


def _key(
    config: Config, algorithm: str, selector: str, key_file: str, text: str, suffix: str
) -> DkimKey:
    if key_file:
        setting, where = f"dkim.key_file{suffix}", str(config.resolve(key_file))
        pem = read_key_file(config.resolve(key_file), setting)
    else:
        setting = where = f"MAILER_DKIM_PRIVATE_KEY{suffix.upper()}"
        # An environment file holds one line per variable: allow "\n" for the line breaks.
        pem = text.replace("\\n", "\n").encode("utf-8")
    key = parse_key(pem, setting, where)
    check_key(key, algorithm, setting, where)
    return DkimKey(algorithm, config.dkim.domain.lower(), selector, key)


def read_key_file(path: Path, setting: str) -> bytes:
    """The file's bytes, if only its owner may read it (mode 0600 or 0400)."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise DkimKeyError(
                setting, str(path),
                f"readable by {'others' if mode & stat.S_IRWXO else 'its group'} "
                f"(mode {stat.S_IMODE(mode):04o}); a private key must be its owner's alone: "
                f"chmod 600 {path}",
            )
        return path.read_bytes()
    except OSError as exc:
        raise DkimKeyError(setting, str(path), f"cannot read: {exc.strerror or exc}") from None


def parse_key(pem: bytes, setting: str, where: str) -> PrivateKey:
    """An unencrypted PEM private key (PKCS#8, or PKCS#1 as opendkim-genkey writes RSA keys)."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise DkimKeyError(
            setting, where, "the key is encrypted; mailer needs it without a passphrase"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise DkimKeyError(setting, where, "not a PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise DkimKeyError(
            setting, where, "neither an RSA nor an Ed25519 key, what DKIM signs with"
        )
    return key


def check_key(key: PrivateKey, algorithm: str, setting: str, where: str) -> None:
    """The key is of the algorithm's kind, and an RSA key is long enough."""
    kind = "ed25519" if isinstance(key, ed25519.Ed25519PrivateKey) else "rsa"
    if kind != KEY_TYPES[algorithm]:
        names = {"rsa": "an RSA", "ed25519": "an Ed25519"}
        raise DkimKeyError(
            setting, where,
            f"{names[kind]} key, but {algorithm} signs with {names[KEY_TYPES[algorithm]]} key",
        )
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < MIN_RSA_BITS:
        raise DkimKeyError(
            setting, where,
            f"an RSA key of {key.key_size} bits; receivers ignore signatures made with "
            f"fewer than {MIN_RSA_BITS} (RFC 8301): make one of {DEFAULT_RSA_BITS}",
        )


def new_key_file(domain: str, selector: str, kind: str, path: Path) -> DkimKey:
    """A new key of ``kind`` (``rsa``, ``ed25519``) for ``<selector>._domainkey.<domain>``,
    written to ``path`` (a new file of mode 0600)."""
    for option, value in (("--domain", domain), ("--selector", selector)):
        if not is_dns_name(value):
            raise UsageError(
                f"{option} {value!r} must be a DNS name in ASCII (an international domain "
                "in its xn-- form)"
            )
    key = DkimKey(ALGORITHMS[kind], domain.lower(), selector, generate(kind))
    write_key(path, key.private_key)
    return key


def generate(kind: str, *, bits: int = DEFAULT_RSA_BITS) -> PrivateKey:
    """A new private key: ``rsa`` (``bits`` long) or ``ed25519``."""
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def write_key(path: Path, key: PrivateKey) -> None:
    """Write the key as PKCS#8 PEM into a new file of mode 0600; an existing file is kept.

    The file is created with its mode (never widened by the umask, never
    briefly readable by others), and not at all if a file of that name exists.
    """
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConflictError(f"{path}: exists already; a key is never overwritten") from None
    with os.fdopen(handle, "wb") as out:
        out.write(pem)
