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
    subject, body = render(notice.kind, notice.language, settings.carrier_name, settings.template_dir)
    charset = Charset("utf-8")
    charset.body_encoding = QP  # readable in any mail client's source view
    msg = MIMEText(body, "plain", charset)
    msg["From"] = email.utils.formataddr((str(Header(settings.from_name, "utf-8")), settings.from_address))
    msg["To"] = notice.recipient
    msg["Subject"] = Header(subject, "utf-8") if not subject.isascii() else subject
    msg["Date"] = email.utils.formatdate(usegmt=True)
    domain = settings.from_address.rsplit("@", 1)[-1]
    msg["Message-ID"] = message_id_for(notice.key, domain)
    if notice.in_reply_to:
        msg["In-Reply-To"] = notice.in_reply_to
    refs = " ".join(notice.references.split())
    if refs:
        msg["References"] = refs
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["Content-Language"] = notice.language if notice.language in LANGUAGES else "en"
    msg[settings.loop_header] = notice.kind
    return msg.as_bytes(policy=_CRLF)
