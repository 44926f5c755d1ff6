"""One typed settings object, loaded once from a TOML file and OPTOUT_* environment variables.

Every key `[section] key` can be overridden by the environment variable `OPTOUT_SECTION_KEY`
(upper case); lists are comma-separated there. Relative paths are taken from the working directory.
A bad value raises SettingsError, whose message is the one line printed at start-up.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping


class SettingsError(Exception):
    """A configuration value that cannot be used; str() is one line naming key, value and fix."""


@dataclass
class DatabaseSettings:
    url: str = "sqlite:///var/optout.db"
    """SQLAlchemy URL. sqlite:///relative/path or postgresql+psycopg://user@host:5432/db."""
    pool_size: int = 5
    busy_timeout_seconds: float = 10.0
    """SQLite: how long a write waits for the lock before the store counts as unavailable (SMTP 451)."""


@dataclass
class SmtpSettings:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8025
    hostname: str = "optout-daemon.localdomain"
    """Name used in the SMTP greeting (set it: looking it up costs time on every connection)."""
    max_message_size: int = 10_485_760
    tls_cert: str = ""
    tls_key: str = ""
    require_starttls: bool = False
    lmtp_socket: str = ""
    """Path of a Unix socket on which to also accept LMTP from the carrier's own MTA."""
    commit_batch_max: int = 64


@dataclass
class MailboxSettings:
    addresses: list[str] = field(default_factory=lambda: ["marketing@example.com"])
    """The addresses the mailbox answers to; mail to any other recipient is refused with 550."""


@dataclass
class WorkerSettings:
    enabled: bool = True
    processes: int = 1
    """Worker processes beside the one that answers SMTP; 0 runs the worker on a thread inside it."""
    batch_size: int = 50
    max_attempts: int = 3
    lease_seconds: int = 60
    idle_poll_seconds: float = 0.5
    yield_to_intake: bool = True
    """Worker processes run under Linux's SCHED_IDLE policy (else at nice 5): intake comes first."""
    starved_after_seconds: float = 10.0
    """A SCHED_IDLE worker whose heartbeat is this old (other work keeps every core busy) is replaced
    by one at nice 5, so that no message waits on the host's other work for long."""


@dataclass
class NoticeSettings:
    from_address: str = "marketing@example.com"
    from_name: str = "Customer Privacy"
    carrier_name: str = "Example Communications"
    maildir: str = "var/notices"
    """Where notices are written when no relay is configured."""
    relay_host: str = ""
    relay_port: int = 587
    relay_starttls: bool = True
    relay_tls_implicit: bool = False
    relay_username: str = ""
    relay_password: str = ""
    relay_timeout_seconds: float = 30.0
    max_attempts: int = 8
    backoff_base_seconds: float = 30.0
    backoff_max_seconds: float = 3600.0
    reconfirm_interval_hours: float = 24.0
    loop_header: str = "X-Optout-Daemon-Notice"
    batch_size: int = 50


@dataclass
class PolicySettings:
    opt_out_threshold: float = 0.7
    """An opt-out with one customer and at least this confidence is applied; below, it is reviewed."""
    opt_in_threshold: float = 0.8
    """An authenticated opt-in from an address of record is applied at this confidence or more; below,
    it is reviewed. 0.8: below 0.9 the classifier already holds back an opt-in that a clause doubts or
    that says only "yes"; below 0.8 dev folds apply opt-out requests as opt-ins (docs/MODEL.md)."""
    opt_out_floor: float = 0.2
    """A message whose opt-out score reaches this is never ignored or applied as anything else:
    it goes to review when it is not applied as an opt-out."""
    ignore_unrelated_threshold: float = 0.6
    """Unrelated mail is ignored only at this confidence or more; below, a person looks."""
    opt_in_floor: float = 0.2
    """Unrelated mail whose opt-in score reaches this goes to a person instead of being ignored
    ("Can you explain this fee? Opt my mother back in")."""
    default_region: str = "US"
    account_pattern: str = r"\b\d{4}[- ]?\d{4}[- ]?\d{2}\b|\b\d{9,12}\b"
    """Regular expression that finds the carrier's account numbers in text."""
    trusted_authserv_ids: list[str] = field(default_factory=list)
    """authserv-id of the Authentication-Results headers to trust (your own inbound MTA)."""
    address_of_record_days: int = 30
    default_consent: str = "opted_in"
    """Consent of a customer who has never written: opted_in (opt-out approval) or opted_out."""
    review_deadline_hours: float = 48.0
    support_forward_address: str = ""


@dataclass
class ClassifierSettings:
    kind: str = "model"
    """model (the trained spaCy pipeline) or keywords (the documented baseline)."""
    model_path: str = ""
    """Directory of the trained model; empty means the one shipped in models/intent."""


@dataclass
class LoggingSettings:
    level: str = "info"
    format: str = "auto"
    """auto (JSON unless stdout is a terminal), json or console."""
    debug_unredacted: bool = False
    """Show addresses, subjects and bodies in logs. Never in production."""


@dataclass
class ImapAccountSettings:
    name: str = "default"
    host: str = ""
    port: int = 993
    tls: str = "implicit"
    """implicit, starttls or none."""
    verify_certificate: bool = True
    ca_file: str = ""
    username: str = ""
    password: str = ""
    password_file: str = ""
    password_env: str = ""
    oauth2_token_file: str = ""
    oauth2_token_command: str = ""
    mailboxes: list[str] = field(default_factory=lambda: ["INBOX"])
    processed_folder: str = "Processed"
    poll_interval_seconds: float = 60.0
    idle_timeout_seconds: float = 600.0


@dataclass
class ImapSettings:
    enabled: bool = False
    accounts: list[ImapAccountSettings] = field(default_factory=list)
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 300.0
    auth_failure_retry_seconds: float = 600.0


@dataclass
class ConsoleSettings:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    secret_key_file: str = "var/console.key"
    """Key that signs session cookies; created (0600, random) when missing. Delete it to sign everyone out."""
    behind_tls_proxy: bool = False
    """The console is reached through a TLS-terminating proxy on 127.0.0.1: cookies get Secure."""
    session_hours: float = 12.0
    claim_minutes: float = 10.0
    """Opening a review item holds it for this long, so that two operators never decide it both."""
    login_attempts_per_minute: int = 5
    """Failed sign-ins allowed per client address and per operator name in a minute; then 429."""


@dataclass
class ServiceSettings:
    max_backlog_age_seconds: float = 900.0
    """/readyz turns red and an error is logged when the oldest unprocessed message is older."""
    shutdown_grace_seconds: float = 20.0
    watchdog_interval_seconds: float = 0.0
    """0 means half of systemd's WatchdogSec when it is set."""


@dataclass
class RetentionSettings:
    raw_message_days: int = 90
    consent_event_years: float = 2.0


@dataclass
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    mailbox: MailboxSettings = field(default_factory=MailboxSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    notices: NoticeSettings = field(default_factory=NoticeSettings)
    policy: PolicySettings = field(default_factory=PolicySettings)
    classifier: ClassifierSettings = field(default_factory=ClassifierSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    imap: ImapSettings = field(default_factory=ImapSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    service: ServiceSettings = field(default_factory=ServiceSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    source: str = "defaults"
    """Where the settings came from (a file path or 'defaults'); not a key."""

    @property
    def relay_configured(self) -> bool:
        return bool(self.notices.relay_host)


def load_settings(path: str | os.PathLike[str] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Read the TOML file (argument, else OPTOUT_CONFIG, else none) and the environment."""
    environ = os.environ if environ is None else environ
    path = path or environ.get("OPTOUT_CONFIG") or None
    data: dict[str, Any] = {}
    source = "defaults"
    if path:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SettingsError(f"config file {p} does not exist: pass an existing file to --config "
                                f"or OPTOUT_CONFIG (see config/optout.example.toml)") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {p} is not valid TOML ({exc}): fix the syntax") from None
        source = str(p)
    settings = _build(Settings, data, "", environ)
    settings.source = source
    _validate(settings)
    return settings


def _build(cls: type, data: Mapping[str, Any], prefix: str, environ: Mapping[str, str]) -> Any:
    if not isinstance(data, Mapping):
        raise SettingsError(f"{prefix.rstrip('.') or 'config'} must be a table: write it as [{prefix.rstrip('.')}]")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.name != "source"}
    for key in data:
        if key not in known:
            raise SettingsError(f"{prefix}{key} is not a known setting: remove it or check the spelling "
                                f"against config/optout.example.toml")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name == "source":
            continue
        key = f"{prefix}{f.name}"
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            kwargs[f.name] = _build(hint, data.get(f.name, {}), key + ".", environ)
            continue
        env_name = "OPTOUT_" + key.replace(".", "_").upper()
        if _is_list_of_dataclass(hint):
            item_cls = typing.get_args(hint)[0]
            items = data.get(f.name, [])
            if not isinstance(items, list):
                raise SettingsError(f"{key} must be a list of tables: write each as [[{key}]]")
            kwargs[f.name] = [_build(item_cls, item, f"{key}.{i}.", environ) for i, item in enumerate(items)]
            continue
        if env_name in environ:
            kwargs[f.name] = _coerce(key, environ[env_name], hint, from_env=env_name)
        elif f.name in data:
            kwargs[f.name] = _coerce(key, data[f.name], hint, from_env=None)
    return cls(**kwargs)


def _is_list_of_dataclass(hint: Any) -> bool:
    return typing.get_origin(hint) is list and dataclasses.is_dataclass(typing.get_args(hint)[0])


def _coerce(key: str, value: Any, hint: Any, from_env: str | None) -> Any:
    where = f" (from {from_env})" if from_env else ""
    if isinstance(hint, types.UnionType):
        hint = typing.get_args(hint)[0]
    try:
        if hint is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "on"}:
                return True
            if isinstance(value, str) and value.strip().lower() in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError
        if hint is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(str(value).strip()) if isinstance(value, str) else int(value)
        if hint is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if hint is str:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise ValueError
            return str(value)
        if typing.get_origin(hint) is list:
            if isinstance(value, str):
                items = [v.strip() for v in value.split(",") if v.strip()]
            elif isinstance(value, list):
                items = value
            else:
                raise ValueError
            if not all(isinstance(i, str) for i in items):
                raise ValueError
            return [str(i) for i in items]
    except (TypeError, ValueError):
        allowed = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}.get(
            hint, "a list of strings (comma-separated in the environment)")
        raise SettingsError(f"{key} = {value!r}{where} is not {allowed}: fix it in the config file "
                            f"or the environment") from None
    raise SettingsError(f"{key}: unsupported type {hint}")


def _is_address(value: str) -> bool:
    return bool(re.fullmatch(r"[^@\s]+@[^@\s]+", value))


def _validate(s: Settings) -> None:
    def bad(key: str, value: Any, allowed: str) -> SettingsError:
        return SettingsError(f"{key} = {value!r} is not allowed: {allowed}")

    for key, port in (("smtp.port", s.smtp.port), ("console.port", s.console.port),
                      ("notices.relay_port", s.notices.relay_port)):
        if not 0 <= port <= 65535:
            raise bad(key, port, "use a port number from 1 to 65535 (0 picks a free one)")
    url = s.database.url
    if not (url.startswith("sqlite:") or url.startswith("postgresql")):
        raise bad("database.url", url, "use sqlite:///path/to/optout.db or postgresql+psycopg://user@host/db")
    if not s.mailbox.addresses:
        raise bad("mailbox.addresses", s.mailbox.addresses, "list at least one address the mailbox answers to")
    for addr in s.mailbox.addresses:
        if not _is_address(addr):
            raise bad("mailbox.addresses", addr, "each entry must be an email address like marketing@carrier.com")
    if not _is_address(s.notices.from_address):
        raise bad("notices.from_address", s.notices.from_address, "use an email address")
    forward = s.policy.support_forward_address
    if forward and not _is_address(forward):
        raise bad("policy.support_forward_address", forward, "use one email address, or \"\" to forward nothing")
    if forward.lower() in (a.lower() for a in s.mailbox.addresses):
        raise bad("policy.support_forward_address", forward, "not one of mailbox.addresses: that would loop")
    if bool(s.smtp.tls_cert) != bool(s.smtp.tls_key):
        raise bad("smtp.tls_cert", s.smtp.tls_cert, "set both smtp.tls_cert and smtp.tls_key, or neither")
    if s.smtp.require_starttls and not s.smtp.tls_cert:
        raise bad("smtp.require_starttls", True, "requires smtp.tls_cert and smtp.tls_key")
    for key, value in (("policy.opt_out_threshold", s.policy.opt_out_threshold),
                       ("policy.opt_in_threshold", s.policy.opt_in_threshold),
                       ("policy.opt_out_floor", s.policy.opt_out_floor),
                       ("policy.ignore_unrelated_threshold", s.policy.ignore_unrelated_threshold),
                       ("policy.opt_in_floor", s.policy.opt_in_floor)):
        if not 0.0 <= value <= 1.0:
            raise bad(key, value, "use a number from 0.0 to 1.0")
    if s.policy.default_consent not in ("opted_in", "opted_out"):
        raise bad("policy.default_consent", s.policy.default_consent, "use opted_in or opted_out")
    try:
        re.compile(s.policy.account_pattern)
    except re.error as exc:
        raise bad("policy.account_pattern", s.policy.account_pattern, f"must be a valid regular expression ({exc})")
    import phonenumbers  # noqa: PLC0415 - only for the region check

    if s.policy.default_region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise bad("policy.default_region", s.policy.default_region, "use a two-letter region code like US or CA")
    if s.classifier.kind not in ("model", "keywords"):
        raise bad("classifier.kind", s.classifier.kind, "use model or keywords")
    if s.logging.level.lower() not in ("debug", "info", "warning", "error"):
        raise bad("logging.level", s.logging.level, "use debug, info, warning or error")
    if s.logging.format not in ("auto", "json", "console"):
        raise bad("logging.format", s.logging.format, "use auto, json or console")
    if s.retention.consent_event_years < 1.0:
        raise bad("retention.consent_event_years", s.retention.consent_event_years,
                  "consent records must be kept at least 1 year (47 CFR 64.2007(a)(3)); use 1 or more")
    if s.retention.raw_message_days < 1:
        raise bad("retention.raw_message_days", s.retention.raw_message_days, "use 1 or more days")
    if not 0 <= s.worker.processes <= 64:
        raise bad("worker.processes", s.worker.processes, "use 0 (a thread in the daemon) to 64")
    for key, value in (("console.claim_minutes", s.console.claim_minutes),
                       ("console.session_hours", s.console.session_hours),
                       ("console.login_attempts_per_minute", s.console.login_attempts_per_minute)):
        if value <= 0:
            raise bad(key, value, "use a number above 0")
    if s.worker.starved_after_seconds <= 0 or s.worker.starved_after_seconds >= 30:
        raise bad("worker.starved_after_seconds", s.worker.starved_after_seconds,
                  "use a number of seconds above 0 and below 30 (the watchdog's limit)")
    if s.worker.max_attempts < 1:
        raise bad("worker.max_attempts", s.worker.max_attempts, "use 1 or more")
    if s.imap.enabled and not s.imap.accounts:
        raise bad("imap.enabled", True, "add at least one [[imap.accounts]] table with host and username")
    for i, acc in enumerate(s.imap.accounts):
        if acc.tls not in ("implicit", "starttls", "none"):
            raise bad(f"imap.accounts.{i}.tls", acc.tls, "use implicit, starttls or none")
        if s.imap.enabled and not acc.host:
            raise bad(f"imap.accounts.{i}.host", acc.host, "set the IMAP server's host name")
        if s.imap.enabled and not acc.username:
            raise bad(f"imap.accounts.{i}.username", acc.username, "set the user name to log in with")
        if not acc.mailboxes:
            raise bad(f"imap.accounts.{i}.mailboxes", acc.mailboxes, "list at least one mailbox, e.g. [\"INBOX\"]")
        if acc.processed_folder in acc.mailboxes or not acc.processed_folder:
            raise bad(f"imap.accounts.{i}.processed_folder", acc.processed_folder,
                      "use a folder that is not one of the watched mailboxes")
        if not 0 < acc.idle_timeout_seconds <= 1500:
            raise bad(f"imap.accounts.{i}.idle_timeout_seconds", acc.idle_timeout_seconds,
                      "use 1 to 1500 seconds (servers may end an IDLE after 29 minutes)")
        if acc.poll_interval_seconds <= 0:
            raise bad(f"imap.accounts.{i}.poll_interval_seconds", acc.poll_interval_seconds, "use more than 0")
    if len({acc.name for acc in s.imap.accounts}) != len(s.imap.accounts):
        raise bad("imap.accounts.name", [a.name for a in s.imap.accounts], "give every account its own name")
