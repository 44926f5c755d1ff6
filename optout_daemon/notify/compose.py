"""compose: a Notice row -> the confirmation email (bytes).

The text comes from notify/templates/<kind>.<language>.txt (first line `Subject: ...`). A notice
reveals no CPNI: it names no service, usage or account detail. It carries Auto-Submitted so that
well-behaved responders do not answer it, our loop header so that our own screen drops it if it
comes back, and In-Reply-To/References so that it threads with the customer's request.
"""

from __future__ import annotations

import hashlib
import email.utils
from dataclasses import dataclass
from email.charset import QP, Charset
from email.header import Header
from email.mime.text import MIMEText
from email.policy import compat32
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES = Path(__file__).parent / "templates"
_CRLF = compat32.clone(linesep="\r\n")  # SMTP wants CRLF line ends; smtplib sends bytes as they are
LANGUAGES = ("en", "es")


@dataclass(frozen=True)
class NoticeContent:
    key: str
    kind: str
    language: str
    recipient: str
    in_reply_to: str = ""
    references: str = ""


@dataclass(frozen=True)
class ComposeSettings:
    from_address: str
    from_name: str
    carrier_name: str
    loop_header: str = "X-Optout-Daemon-Notice"
    template_dir: str = ""


@lru_cache(maxsize=8)
def _environment(template_dir: str) -> Environment:
    return Environment(loader=FileSystemLoader([template_dir] if template_dir else [str(TEMPLATES)]),
                       undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def render(kind: str, language: str, carrier: str, template_dir: str = "") -> tuple[str, str]:
    """(subject, body) of a notice in the language asked for, English when there is no template."""
    env = _environment(template_dir)
    language = language if language in LANGUAGES else "en"
    name = f"{kind}.{language}.txt"
    if name not in env.list_templates():
        name = f"{kind}.en.txt"
    text = env.get_template(name).render(carrier=carrier)
    first, _, body = text.partition("\n")
    if not first.lower().startswith("subject:"):
        raise ValueError(f"template {name} must start with a 'Subject:' line")
    return first.split(":", 1)[1].strip(), body.lstrip("\n")


def message_id_for(key: str, domain: str) -> str:
    """A Message-ID derived from the notice key: the same notice always has the same id."""
    return f"<notice.{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def compose(notice: NoticeContent, settings: ComposeSettings) -> bytes:
    """The notice as CRLF bytes: the headers of this one notice, then the part shared by every notice
    of its kind and language (built once by the email package, see _fixed_part)."""
    domain = settings.from_address.rsplit("@", 1)[-1]
    head = [("To", notice.recipient), ("Date", email.utils.formatdate(usegmt=True)),
            ("Message-ID", message_id_for(notice.key, domain))]
    if notice.in_reply_to:
        head.append(("In-Reply-To", notice.in_reply_to))
    refs = " ".join(notice.references.split())
    if refs:
        head.append(("References", refs))
    lines = "".join(_header_line(name, value) for name, value in head)
    return lines.encode("utf-8") + _fixed_part(notice.kind, notice.language, settings)


def _header_line(name: str, value: str) -> str:
    """`Name: value` folded at spaces below 78 columns where it can be (RFC 5322 2.2.3). A value
    that came from the request (In-Reply-To, References) can never start a header of its own."""
    words = " ".join(value.replace("\r", " ").replace("\n", " ").split()).split(" ")
    lines, line = [], f"{name}:"
    for word in words:
        if len(line) + 1 + len(word) > 78 and line not in ("", f"{name}:"):
            lines.append(line)
            line = ""
        line += " " + word
    lines.append(line)
    return "\r\n".join(lines) + "\r\n"


@lru_cache(maxsize=64)
def _fixed_part(kind: str, language: str, settings: ComposeSettings) -> bytes:
    """Everything but the per-notice headers: From, Subject, the auto-reply and loop headers, the MIME
    headers and the quoted-printable body, rendered from the template once per kind and language."""
    subject, body = render(kind, language, settings.carrier_name, settings.template_dir)
    charset = Charset("utf-8")
    charset.body_encoding = QP  # readable in any mail client's source view
    msg = MIMEText(body, "plain", charset)
    msg["From"] = _from(settings)
    msg["Subject"] = _subject(subject)
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["Content-Language"] = language if language in LANGUAGES else "en"
    msg[settings.loop_header] = kind
    return msg.as_bytes(policy=_CRLF)


def _from(settings: ComposeSettings) -> str:
    return email.utils.formataddr((str(Header(settings.from_name, "utf-8")), settings.from_address))


def _subject(text: str) -> str | Header:
    return text if text.isascii() else Header(text, "utf-8")


def clear_caches() -> None:
    """After the templates changed (SIGHUP)."""
    _environment.cache_clear()
    _fixed_part.cache_clear()


FORWARD_KIND = "support_forward"
_FORWARD_TEXT = (
    "This message came to the marketing mailbox and was read as unrelated to the use of customer\n"
    "information for marketing, so no consent was changed and the sender got no reply. {where}\n")
_ATTACHED = "It is\nattached unchanged (original.eml) for the support team."
_PURGED = "Its text was\npurged (retention) before it could be attached."


def compose_forward(key: str, recipient: str, subject: str, original: bytes | None,
                    settings: ComposeSettings) -> bytes:
    """Unrelated mail passed on to the support address: a short note with the request attached byte
    for byte (an .eml file, so that even malformed mail arrives exactly as it came)."""
    from email.mime.application import MIMEApplication  # noqa: PLC0415
    from email.mime.multipart import MIMEMultipart  # noqa: PLC0415

    msg = MIMEMultipart()
    msg["From"] = _from(settings)
    msg["To"] = recipient
    msg["Subject"] = _subject(" ".join(f"Fwd: {subject}".split())[:200])
    msg["Date"] = email.utils.formatdate(usegmt=True)
    msg["Message-ID"] = message_id_for(key, settings.from_address.rsplit("@", 1)[-1])
    msg["Auto-Submitted"] = "auto-generated"
    msg[settings.loop_header] = FORWARD_KIND
    msg.attach(MIMEText(_FORWARD_TEXT.format(where=_ATTACHED if original is not None else _PURGED), "plain", "utf-8"))
    if original is not None:
        attachment = MIMEApplication(original, "octet-stream")
        attachment.add_header("Content-Disposition", "attachment", filename="original.eml")
        msg.attach(attachment)
    return msg.as_bytes(policy=_CRLF)

