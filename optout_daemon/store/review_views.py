"""What operators read: a stored message made safe to show, customer search, a customer's history.

Messages show text as text and HTML through nh3: the sanitised HTML keeps no scripts, no event handlers, no styles and no remote resources: an
image keeps its `src` only when it is a data: URL, links keep only http(s) and mailto targets.
The console adds a Content-Security-Policy that would block anything that slipped through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.parser import BytesParser
from email.policy import compat32
from typing import Any

import nh3
from sqlalchemy import Connection, func, select

from optout_daemon.pipeline.parse import decode_bytes, decode_header_value
from optout_daemon.pipeline.resolve import normalize_account
from optout_daemon.store import ledger
from optout_daemon.store.tables import (
    Customer, CustomerEmail, CustomerPhone, InboundMessage, ReviewItem, utcnow,
)

RI, IM, C = ReviewItem.__table__, InboundMessage.__table__, Customer.__table__
E, P = CustomerEmail.__table__, CustomerPhone.__table__

SHOWN_HEADERS = ("from", "to", "cc", "reply-to", "subject", "date", "message-id", "authentication-results")
MAX_SHOWN = 200_000

_TAGS = {"a", "abbr", "b", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
         "i", "img", "li", "ol", "p", "pre", "q", "s", "small", "span", "strong", "sub", "sup", "table", "tbody",
         "td", "tfoot", "th", "thead", "tr", "u", "ul"}
_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "width", "height"}, "td": {"colspan", "rowspan"},
               "th": {"colspan", "rowspan"}}


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes: they are UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=utcnow().tzinfo)
    return value


@dataclass
class MessageView:
    headers: list[tuple[str, str]]
    subject: str
    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)  # sanitised, safe to insert as markup
    attachments: list[str] = field(default_factory=list)  # "name (type, size)"; never served
    defects: list[str] = field(default_factory=list)


def _keep_attribute(tag: str, attribute: str, value: str) -> str | None:
    v = value.strip().lower()
    if tag == "img" and attribute == "src":
        return value if v.startswith("data:image/") else None
    if tag == "a" and attribute == "href":
        return value if v.startswith(("http://", "https://", "mailto:")) else None
    return value


def sanitize_html(markup: str) -> str:
    return nh3.clean(markup[:MAX_SHOWN], tags=_TAGS, attributes=_ATTRIBUTES, attribute_filter=_keep_attribute,
                     clean_content_tags={"script", "style", "title", "head", "noscript", "template", "svg",
                                         "math", "iframe", "object"},
                     url_schemes={"http", "https", "mailto", "data"}, link_rel="noopener noreferrer nofollow",
                     strip_comments=True)


def render_message(raw: bytes) -> MessageView:
    try:
        msg = BytesParser(policy=compat32).parsebytes(raw)
    except Exception:  # noqa: BLE001 - show the bytes as text rather than nothing
        return MessageView([], "", texts=[raw[:MAX_SHOWN].decode("utf-8", "replace")], defects=["unparseable"])
    headers = [(k, decode_header_value(v)) for k, v in msg.items() if k.lower() in SHOWN_HEADERS]
    subject = next((v for k, v in headers if k.lower() == "subject"), "")
    view = MessageView(headers, " ".join(subject.split()), defects=[type(d).__name__ for d in msg.defects])
    for count, part in enumerate(msg.walk()):
        if count > 100:
            view.defects.append("too_many_parts")
            break
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        try:
            payload = part.get_payload(decode=True) or b""
        except Exception:  # noqa: BLE001
            payload = b""
        filename = part.get_filename()
        if filename or str(part.get("content-disposition", "")).lower().startswith("attachment") \
                or ctype not in ("text/plain", "text/html"):
            view.attachments.append(f"{decode_header_value(filename or '(no name)')} ({ctype}, {len(payload)} bytes)")
            continue
        try:
            charset = part.get_content_charset()
        except Exception:  # noqa: BLE001
            charset = None
        text = decode_bytes(payload, charset)[:MAX_SHOWN]
        if ctype == "text/html":
            view.htmls.append(sanitize_html(text))
        else:
            view.texts.append(text)
    return view


@dataclass
class StoredMessage:
    id: int
    mail_from: str
    received_at: object
    source: str
    status: str
    view: MessageView | None  # None when the raw message was purged (retention)
    review_items: list[int]


def get_message(conn: Connection, message_id: int) -> StoredMessage | None:
    im, ri = IM, RI
    row = conn.execute(select(im.c.id, im.c.raw, im.c.mail_from, im.c.received_at, im.c.source, im.c.status)
                       .where(im.c.id == message_id)).first()
    if row is None:
        return None
    items = conn.execute(select(ri.c.id).where(ri.c.inbound_message_id == message_id).order_by(ri.c.id)).scalars()
    return StoredMessage(row.id, row.mail_from, row.received_at, row.source, row.status,
                         render_message(row.raw) if row.raw else None, list(items))


# --- customers ----------------------------------------------------------------------------------

@dataclass
class CustomerHit:
    id: int
    account_number: str
    name: str
    emails: list[str]
    phones: list[str]
    state: str


def search_customers(conn: Connection, query: str, default_consent: str, region: str = "US",
                     limit: int = 20) -> list[CustomerHit]:
    """By account number, phone (any format), email or part of the name."""
    q = " ".join(query.split())
    if not q:
        return []
    ids: list[int] = []
    account = normalize_account(q)
    if account:
        ids += conn.execute(select(C.c.id).where(C.c.account_number == account)).scalars().all()
    if "@" in q:
        ids += conn.execute(select(E.c.customer_id).where(E.c.email == q.lower())).scalars().all()
    phone = _e164(q, region)
    if phone:
        ids += conn.execute(select(P.c.customer_id).where(P.c.e164 == phone)).scalars().all()
    if len(q) >= 2 and "@" not in q:
        ids += conn.execute(select(C.c.id).where(func.lower(C.c.name).contains(q.lower(), autoescape=True))
                            .order_by(C.c.name)
                            .limit(limit)).scalars().all()
    unique = list(dict.fromkeys(ids))[:limit]
    return [_hit(conn, cid, default_consent) for cid in unique]


def _e164(text: str, region: str) -> str:
    import phonenumbers  # noqa: PLC0415

    if sum(ch.isdigit() for ch in text) < 7:
        return ""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) \
        if phonenumbers.is_valid_number(number) else ""


def _hit(conn: Connection, cid: int, default_consent: str) -> CustomerHit:
    row = conn.execute(select(C.c.account_number, C.c.name).where(C.c.id == cid)).one()
    emails = conn.execute(select(E.c.email).where(E.c.customer_id == cid).order_by(E.c.id)).scalars().all()
    phones = conn.execute(select(P.c.e164).where(P.c.customer_id == cid).order_by(P.c.id)).scalars().all()
    state = ledger.current_consent(conn, cid, default_consent).state.value
    return CustomerHit(cid, row.account_number, row.name, list(emails), list(phones), state)


@dataclass
class CustomerPage:
    customer: CustomerHit
    consent: ledger.CurrentConsent
    events: list[dict[str, Any]]  # each with the source message's from / subject / received_at
    open_items: list[int]


def customer_page(conn: Connection, account_number: str, default_consent: str) -> CustomerPage | None:
    """Current consent and the full event history, each event with its source message (R2, R3)."""
    cid = conn.execute(select(C.c.id).where(C.c.account_number == normalize_account(account_number))).scalar()
    if cid is None:
        return None
    events = []
    for ev in ledger.consent_history(conn, cid):
        source = None
        if ev["inbound_message_id"]:
            m = conn.execute(select(IM.c.id, IM.c.raw, IM.c.mail_from, IM.c.received_at, IM.c.source).where(
                IM.c.id == ev["inbound_message_id"])).first()
            if m is not None:
                view = render_message(m.raw) if m.raw else None
                source = {"id": m.id, "mail_from": m.mail_from, "received_at": aware(m.received_at),
                          "via": m.source, "subject": view.subject if view else "(message purged)"}
        events.append({**ev, "occurred_at": aware(ev["occurred_at"]), "source": source})
    open_items = conn.execute(select(RI.c.id).where(RI.c.status == "open", RI.c.resolution_customer_id.is_(None),
                                                    RI.c.candidates.like(f'%"customer_id": {cid},%'))
                              .order_by(RI.c.id)).scalars().all()
    return CustomerPage(_hit(conn, cid, default_consent), ledger.current_consent(conn, cid, default_consent),
                        events, list(open_items))
