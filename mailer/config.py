"""Configuration: ``mailer.toml`` plus ``MAILER_*`` environment overrides.

Read once, at the edge, into frozen dataclasses that are passed down; nothing
else in mailer reads files or the environment for settings. Every value in
every section can be overridden by ``MAILER_<SECTION>_<KEY>`` (for instance
``MAILER_SMTP_PORT``); a few common ones have short names (``MAILER_DB``).
Secrets (SMTP and IMAP passwords, the signing key, a DKIM private key given
as text) come only from the environment: a secret written into the file is
refused rather than used, so it never ends up in a repository by accident.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mailer import zones
from mailer.config_dkim import DkimConfig, check_dkim
from mailer.errors import ConfigError

DEFAULT_CONFIG = Path("mailer.toml")
DEFAULT_DB = Path("mailer.db")

#: Environment variables that hold secrets; the file may never set these.
SECRET_ENV = {
    "smtp.password": "MAILER_SMTP_PASSWORD",
    "imap.password": "MAILER_IMAP_PASSWORD",
    "web.secret_key": "MAILER_SECRET_KEY",
    "dkim.private_key": "MAILER_DKIM_PRIVATE_KEY",
    "dkim.private_key_ed25519": "MAILER_DKIM_PRIVATE_KEY_ED25519",
    "webhooks.postmark_password": "MAILER_WEBHOOKS_POSTMARK_PASSWORD",
    "webhooks.mailgun_key": "MAILER_WEBHOOKS_MAILGUN_KEY",
    "webhooks.sendgrid_public_key": "MAILER_WEBHOOKS_SENDGRID_PUBLIC_KEY",
}
#: Short names kept for convenience beside the generic ``MAILER_<SECTION>_<KEY>``.
#: Like ``--db``, a relative ``MAILER_DB`` is relative to the current folder.
SHORT_ENV = {"MAILER_DB": ("database", "path")}


@dataclass(frozen=True)
class DatabaseConfig:
    path: str = str(DEFAULT_DB)
    busy_timeout: float = 30.0


@dataclass(frozen=True)
class SenderConfig:
    from_address: str = "Newsletter <newsletter@example.org>"
    reply_to: str = ""
    organization: str = "Example Organization"
    contact_address: str = ""
    feedback_id: str = ""


@dataclass(frozen=True)
class RelayConfig:
    host: str
    port: int = 587
    tls: str = "starttls"
    username: str = ""
    password: str = ""
    weight: int = 1


@dataclass(frozen=True)
class SmtpConfig:
    host: str = ""
    port: int = 587
    tls: str = "starttls"
    username: str = ""
    password: str = ""
    timeout: float = 30.0
    connections: int = 8
    connect_attempts: int = 6
    #: Send MAIL, RCPT and DATA in one write when the server offers PIPELINING.
    pipelining: bool = True
    relays: tuple[RelayConfig, ...] = ()


@dataclass(frozen=True)
class OutboxConfig:
    path: str = "outbox"


@dataclass(frozen=True)
class SendingConfig:
    rate: float = 0.0
    domain_rate: float = 0.0
    retry_first: float = 60.0
    retry_max: float = 3600.0
    deadline: float = 259200.0
    batch_size: int = 500
    batch_seconds: float = 0.25
    #: Worker processes that share a campaign's recipients (0: one per core available).
    workers: int = 0
    #: The zone ``send --at`` reads a time in without ``--tz`` ("": the system's).
    timezone: str = ""


@dataclass(frozen=True)
class GuardsConfig:
    """When a campaign being sent pauses itself (``dispatch.guards``)."""

    #: Pause when more than this share (percent) of the recipients tried bounced hard...
    hard_bounce_percent: float = 5.0
    #: ...or more than this share (percent) of those sent complained...
    complaint_percent: float = 0.3
    #: ...once this many recipients have been tried (fewer say too little).
    min_tried: int = 500
    #: The same refusal for this many recipients, at this many domains or more, with
    #: none accepted in between, is the relay refusing us, not their servers.
    same_refusal_recipients: int = 20
    same_refusal_domains: int = 5


@dataclass(frozen=True)
class BouncesConfig:
    return_path: str = ""
    unsubscribe_address: str = ""
    soft_threshold: int = 5
    decay_days: int = 7
    match_days: int = 14


@dataclass(frozen=True)
class ImapConfig:
    host: str = ""
    port: int = 993
    username: str = ""
    password: str = ""
    folder: str = "INBOX"
    processed_folder: str = ""
    tls: str = "implicit"


@dataclass(frozen=True)
class InboundConfig:
    #: The domain of the lists' posting addresses (``<list>@<domain>``); "" for
    #: the domain of ``[sender] from``.
    domain: str = ""
    #: Megabytes: a larger message is dropped (bounces excepted), never stored.
    max_size: float = 10.0
    #: The authserv-id of the receiving MTA's ``Authentication-Results`` ("": none
    #: is trusted, so no post is accepted on its authentication alone).
    authserv_id: str = ""
    #: Days a held post waits for a decision before it is discarded.
    held_days: int = 14
    #: The DNS server DMARC policies are asked of, ``HOST:PORT`` ("": the system's).
    resolver: str = ""


@dataclass(frozen=True)
class RepliesConfig:
    #: ``replies@lists.example.org``: every letter's Reply-To becomes
    #: ``replies+<token>@lists.example.org`` ("" leaves Reply-To alone).
    address: str = ""
    #: Where attachments and the messages themselves are kept ("": ``replies/``
    #: beside the database).
    folder: str = ""
    max_attachment_mb: float = 10.0
    #: The coordinator's address each reply is forwarded to ("": not forwarded).
    forward_to: str = ""


@dataclass(frozen=True)
class WebConfig:
    base_url: str = "http://127.0.0.1:8025"
    host: str = "127.0.0.1"
    port: int = 8025
    secret_key: str = ""
    confirm_days: int = 7
    subscribe_limit: int = 5
    request_timeout: float = 10.0
    keepalive_timeout: int = 5
    max_connections: int = 200


@dataclass(frozen=True)
class WebhooksConfig:
    """The providers whose reports ``mailer serve`` takes; each is off until configured."""

    #: The SNS topic SES publishes to (``arn:aws:sns:REGION:ACCOUNT:NAME``); "": SES is off.
    ses_topic_arn: str = ""
    #: CA certificates the SNS signing certificate must chain to ("": the system's).
    ses_ca_file: str = ""
    postmark_user: str = "postmark"
    postmark_password: str = ""
    mailgun_key: str = ""
    #: SendGrid's verification key: base64 DER, as its settings page shows it.
    sendgrid_public_key: str = ""
    #: Requests per minute one client address may make to the hooks (0: no limit).
    rate_limit: int = 600

    @property
    def providers(self) -> tuple[str, ...]:
        """The providers whose reports are taken: SES by its topic, the rest by a secret."""
        configured = (
            ("ses", self.ses_topic_arn), ("postmark", self.postmark_password),
            ("mailgun", self.mailgun_key), ("sendgrid", self.sendgrid_public_key),
        )
        return tuple(name for name, setting in configured if setting)


@dataclass(frozen=True)
class TemplatesConfig:
    path: str = ""


@dataclass(frozen=True)
class LettersConfig:
    attachments_max_mb: float = 10.0
    attachments_warn_mb: float = 2.0


@dataclass(frozen=True)
class ImportConfig:
    check_deliverability: bool = False
    batch_size: int = 5000
    allow_special_use_domains: bool = False


@dataclass(frozen=True)
class Config:
    """Every setting mailer knows, with the file it came from (if any)."""

    config_path: Path | None = None
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    sender: SenderConfig = field(default_factory=SenderConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    sending: SendingConfig = field(default_factory=SendingConfig)
    guards: GuardsConfig = field(default_factory=GuardsConfig)
    bounces: BouncesConfig = field(default_factory=BouncesConfig)
    imap: ImapConfig = field(default_factory=ImapConfig)
    inbound: InboundConfig = field(default_factory=InboundConfig)
    replies: RepliesConfig = field(default_factory=RepliesConfig)
    web: WebConfig = field(default_factory=WebConfig)
    dkim: DkimConfig = field(default_factory=DkimConfig)
    webhooks: WebhooksConfig = field(default_factory=WebhooksConfig)
    templates: TemplatesConfig = field(default_factory=TemplatesConfig)
    letters: LettersConfig = field(default_factory=LettersConfig)
    import_: ImportConfig = field(default_factory=ImportConfig)

    @property
    def base_dir(self) -> Path:
        """Relative paths in the file are relative to the file's folder."""
        return self.config_path.parent if self.config_path else Path.cwd()

    def resolve(self, path: str) -> Path:
        """A configured path, made absolute against the config file's folder."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else self.base_dir / candidate

    @property
    def db_path(self) -> Path:
        return self.resolve(self.database.path)

    @property
    def outbox_path(self) -> Path:
        return self.resolve(self.outbox.path)

    @property
    def replies_path(self) -> Path:
        """The folder of the replies' messages and attachments: ``replies/`` beside the
        database unless ``[replies] folder`` says otherwise."""
        if self.replies.folder:
            return self.resolve(self.replies.folder)
        return self.db_path.parent / "replies"

    @property
    def templates_path(self) -> Path:
        """Where the user's template overrides live (may not exist)."""
        return self.resolve(self.templates.path or "templates")


_SECTIONS: dict[str, type[Any]] = {
    "database": DatabaseConfig,
    "sender": SenderConfig,
    "smtp": SmtpConfig,
    "outbox": OutboxConfig,
    "sending": SendingConfig,
    "guards": GuardsConfig,
    "bounces": BouncesConfig,
    "imap": ImapConfig,
    "inbound": InboundConfig,
    "replies": RepliesConfig,
    "web": WebConfig,
    "dkim": DkimConfig,
    "webhooks": WebhooksConfig,
    "templates": TemplatesConfig,
    "letters": LettersConfig,
    "import": ImportConfig,
}
_FILE_KEY_ALIASES = {("sender", "from"): "from_address"}
#: Bounds of numeric settings; a value outside them would break mailer quietly
#: (a threshold of 0 disables everyone at their first soft bounce).
_BOUNDS: dict[tuple[str, str], tuple[float, float]] = {
    ("database", "busy_timeout"): (0, 86400),
    ("smtp", "port"): (1, 65535),
    ("smtp", "timeout"): (0.1, 3600),
    ("smtp", "connections"): (1, 256),
    ("smtp", "connect_attempts"): (1, 100),
    ("sending", "rate"): (0, 1e6),
    ("sending", "domain_rate"): (0, 1e6),
    ("sending", "retry_first"): (1, 86400),
    ("sending", "retry_max"): (1, 30 * 86400),
    ("sending", "deadline"): (1, 365 * 86400),
    ("sending", "batch_size"): (1, 100_000),
    ("sending", "batch_seconds"): (0.01, 60),
    ("sending", "workers"): (0, 256),
    ("guards", "hard_bounce_percent"): (0.01, 100),
    ("guards", "complaint_percent"): (0.001, 100),
    ("guards", "min_tried"): (1, 1e9),
    ("guards", "same_refusal_recipients"): (2, 1e6),
    ("guards", "same_refusal_domains"): (1, 1e6),
    ("bounces", "soft_threshold"): (1, 1000),
    ("bounces", "decay_days"): (1, 3650),
    ("bounces", "match_days"): (1, 365),
    ("imap", "port"): (1, 65535),
    ("inbound", "max_size"): (0.001, 1024),
    ("inbound", "held_days"): (1, 3650),
    ("replies", "max_attachment_mb"): (0.001, 1024),
    ("web", "port"): (0, 65535),
    ("web", "confirm_days"): (1, 365),
    ("web", "subscribe_limit"): (0, 1_000_000),
    ("web", "request_timeout"): (0.1, 600),
    ("web", "keepalive_timeout"): (1, 600),
    ("web", "max_connections"): (1, 100_000),
    ("letters", "attachments_max_mb"): (0, 1000),
    ("letters", "attachments_warn_mb"): (0, 1000),
    ("webhooks", "rate_limit"): (0, 1_000_000),
    ("import", "batch_size"): (1, 1_000_000),
}
#: Settings that take one of a few words.
_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("smtp", "tls"): ("starttls", "implicit", "none"),
    ("imap", "tls"): ("implicit", "starttls"),
    ("dkim", "algorithm"): ("rsa-sha256", "ed25519-sha256"),
}


#: An SNS topic's ARN: partition, region, account and name.
_TOPIC_ARN = re.compile(r"arn:aws(?:-[a-z]+)*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}")

#: What ``web.base_url`` may be: it goes into headers between angle brackets, so only
#: URI characters, and no query or fragment (paths are appended to it).
_BASE_URL = re.compile(r"https?://[A-Za-z0-9._~:/@!$&'()*+,;=%\[\]-]+")


def check_base_url(value: str, path: Path | None = None) -> str:
    """``web.base_url`` without its trailing slash; ``ConfigError`` if links cannot use it."""
    base = value.rstrip("/")
    if not _BASE_URL.fullmatch(base) or len(base) > 800 or not urlsplit(base).hostname:
        raise ConfigError(
            f"web.base_url {value!r} must be an http:// or https:// address in ASCII, "
            "without spaces, query or fragment, at most 800 characters (the links in "
            "letters point there, e.g. https://lists.example.org)",
            path=path,
        )
    return base


def _check(section: str, values: Any, path: Path | None) -> None:
    """Refuse numbers out of range and unknown words, naming the setting."""
    for name in (f.name for f in dataclasses.fields(values)):
        value = getattr(values, name)
        if (section, name) in _BOUNDS:
            low, high = _BOUNDS[(section, name)]
            if not low <= value <= high:
                raise ConfigError(
                    f"{section}.{name} must be between {low:g} and {high:g}, not {value!r}",
                    path=path,
                )
        if (section, name) in _CHOICES and value not in _CHOICES[(section, name)]:
            words = ", ".join(_CHOICES[(section, name)])
            raise ConfigError(f"{section}.{name} must be one of {words}, not {value!r}", path=path)


#: A plain ``local@domain`` as the settings that name one of our mailboxes take it.
_MAILBOX = re.compile(r"[^\s@<>()\[\],;:\"]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+")
_DOMAIN = re.compile(r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+")


def _check_addresses(sections: dict[str, Any], found: Path | None) -> None:
    """The mailbox and domain settings of the intake: plain, and a replies address
    without ``+`` (its token is added after one)."""
    replies, inbound = sections["replies"], sections["inbound"]
    for name in ("address", "forward_to"):
        value = getattr(replies, name)
        if value and not _MAILBOX.fullmatch(value):
            raise ConfigError(
                f"replies.{name} {value!r} must be a plain address such as "
                "replies@lists.example.org (no name, no angle brackets)",
                path=found,
            )
    if "+" in replies.address.rpartition("@")[0]:
        raise ConfigError(
            f"replies.address {replies.address!r} may not hold '+': each letter's "
            "Reply-To adds '+<token>' to it",
            path=found,
        )
    if inbound.domain and not _DOMAIN.fullmatch(inbound.domain):
        raise ConfigError(
            f"inbound.domain {inbound.domain!r} must be a domain such as lists.example.org",
            path=found,
        )
    if inbound.resolver:
        from mailer.dns import BadResolver, parse_nameserver  # dnspython only when asked

        try:
            parse_nameserver(inbound.resolver)
        except BadResolver:
            raise ConfigError(
                f"inbound.resolver {inbound.resolver!r} must name a DNS server by its address, "
                "ADDRESS[:PORT] (e.g. 127.0.0.1:5353)",
                path=found,
            ) from None
    if any(ch.isspace() or ch in ";\\\"" for ch in inbound.authserv_id):
        raise ConfigError(
            f"inbound.authserv_id {inbound.authserv_id!r} must be one word, the name the "
            "receiving mail server writes first in its Authentication-Results (mx.example.org)",
            path=found,
        )


def _coerce(value: Any, kind: Any, where: str, path: Path | None) -> Any:
    """Turn a TOML or environment value into the field's type, or say why not."""
    kind_name = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    try:
        if kind_name == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(value)
        if kind_name == "int":
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if kind_name == "float":
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if kind_name == "str":
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise ValueError(value)
            return str(value)
    except ValueError:
        raise ConfigError(f"{where} must be {kind_name}, got {value!r}", path=path) from None
    return value


def _relays(raw: Any, path: Path | None, env: Mapping[str, str]) -> tuple[RelayConfig, ...]:
    if not isinstance(raw, list):
        raise ConfigError("smtp.relays must be an array of tables ([[smtp.relays]])", path=path)
    relays = []
    names = {f.name: f.type for f in dataclasses.fields(RelayConfig)}
    for index, item in enumerate(raw, start=1):
        if not isinstance(item, dict) or "host" not in item:
            raise ConfigError(f"smtp.relays[{index}] needs a host", path=path)
        values: dict[str, Any] = {}
        for key, value in item.items():
            if key not in names:
                raise ConfigError(f"unknown setting smtp.relays[{index}].{key}", path=path)
            if key == "password":
                raise ConfigError(
                    f"smtp.relays[{index}].password: secrets come only from the environment "
                    f"(MAILER_SMTP_RELAY{index}_PASSWORD)",
                    path=path,
                )
            values[key] = _coerce(value, names[key], f"smtp.relays[{index}].{key}", path)
        values["password"] = env.get(f"MAILER_SMTP_RELAY{index}_PASSWORD", "")
        relays.append(RelayConfig(**values))
    return tuple(relays)


def config_file(path: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The configuration file in use: ``--config``, else ``MAILER_CONFIG``, else ./mailer.toml."""
    env = os.environ if env is None else env
    return Path(path or env.get("MAILER_CONFIG") or DEFAULT_CONFIG)


def load_config(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    db: Path | None = None,
) -> Config:
    """Read the configuration: defaults, then the file, then the environment.

    ``path`` is the file named by ``--config``; when ``None`` the environment's
    ``MAILER_CONFIG`` or ``./mailer.toml`` is used, and a missing default file
    simply means all defaults. A file named explicitly must exist.
    """
    env = os.environ if env is None else env
    data, found = _read_file(path, env)
    unknown = set(data) - set(_SECTIONS)
    if unknown:
        raise ConfigError(f"unknown section [{sorted(unknown)[0]}]", path=found)
    sections = {
        section: _section(section, cls, data.get(section, {}), env, found)
        for section, cls in _SECTIONS.items()
    }
    for env_name, (section, name) in SHORT_ENV.items():
        if env_name in env:
            value = str(Path(env[env_name]).expanduser().absolute())
            sections[section] = dataclasses.replace(sections[section], **{name: value})
    if db is not None:
        sections["database"] = dataclasses.replace(sections["database"], path=str(db))
    _check_all(sections, found)
    import_cfg = sections.pop("import")
    return Config(config_path=found, import_=import_cfg, **sections)


def _read_file(path: Path | None, env: Mapping[str, str]) -> tuple[dict[str, Any], Path | None]:
    """The file's TOML and its resolved path; ``({}, None)`` when the default file is absent."""
    explicit = path is not None or "MAILER_CONFIG" in env
    config_path = config_file(path, env)
    if not config_path.exists():
        if explicit:
            raise ConfigError("configuration file not found", path=config_path)
        return {}, None
    try:
        data = tomllib.loads(config_path.read_text(encoding="utf-8-sig"))  # BOM: Notepad
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=config_path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", path=config_path) from None
    return data, config_path.resolve()


def _section(
    section: str, cls: type[Any], raw: Any, env: Mapping[str, str], found: Path | None
) -> Any:
    """One section: its defaults, the file's values, then ``MAILER_<SECTION>_<KEY>``."""
    if not isinstance(raw, dict):
        raise ConfigError(f"[{section}] must be a table", path=found)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = _FILE_KEY_ALIASES.get((section, key), key)
        if name not in fields:
            raise ConfigError(f"unknown setting {section}.{key}", path=found)
        if f"{section}.{name}" in SECRET_ENV:
            raise ConfigError(
                f"{section}.{key} is a secret: set {SECRET_ENV[section + '.' + name]} "
                "in the environment instead of writing it into the file",
                path=found,
            )
        if name == "relays":
            values[name] = _relays(value, found, env)
        else:
            values[name] = _coerce(value, fields[name].type, f"{section}.{key}", found)
    for name, fld in fields.items():
        if name == "relays":
            continue
        env_name = SECRET_ENV.get(f"{section}.{name}") or f"MAILER_{section}_{name}".upper()
        if env_name in env:
            values[name] = _coerce(env[env_name], fld.type, env_name, None)
    return cls(**values)


def _check_all(sections: dict[str, Any], found: Path | None) -> None:
    """Ranges and words of every section, then the rules that tie settings together."""
    for section, values in sections.items():
        _check(section, values, found)
    for index, relay in enumerate(sections["smtp"].relays, start=1):
        _check("smtp", relay, found)
        if relay.weight < 1:
            raise ConfigError(f"smtp.relays[{index}].weight must be at least 1", path=found)
    if sections["sending"].retry_max < sections["sending"].retry_first:
        raise ConfigError("sending.retry_max must not be below sending.retry_first", path=found)
    guards = sections["guards"]
    if guards.same_refusal_domains > guards.same_refusal_recipients:
        raise ConfigError(
            "guards.same_refusal_domains must not be above guards.same_refusal_recipients",
            path=found,
        )
    letters = sections["letters"]
    if letters.attachments_warn_mb > letters.attachments_max_mb:
        raise ConfigError(
            "letters.attachments_warn_mb must not be above letters.attachments_max_mb", path=found
        )
    check_base_url(sections["web"].base_url, found)
    check_dkim(sections["dkim"], found)
    topic = sections["webhooks"].ses_topic_arn
    if topic and not _TOPIC_ARN.fullmatch(topic):
        raise ConfigError(
            f"webhooks.ses_topic_arn {topic!r} is not an SNS topic's ARN "
            "(arn:aws:sns:REGION:ACCOUNT:NAME)",
            path=found,
        )
    _check_addresses(sections, found)
    if sections["sending"].timezone:
        try:
            zones.zone(sections["sending"].timezone)
        except zones.UnknownZone as exc:
            raise ConfigError(f"sending.timezone: {exc}", path=found) from None


