"""A stored message made safe to show an operator: text as text, HTML through nh3.

The sanitised HTML keeps no scripts, no event handlers, no styles and no remote resources: an
image keeps its `src` only when it is a data: URL, links keep only http(s) and mailto targets.
The console adds a Content-Security-Policy that would block anything that slipped through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import compat32

import nh3
from sqlalchemy import Connection, select

from optout_daemon.pipeline.parse import decode_bytes, decode_header_value

SHOWN_HEADERS = ("from", "to", "cc", "reply-to", "subject", "date", "message-id", "authentication-results")
MAX_SHOWN = 200_000

_TAGS = {"a", "abbr", "b", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
         "i", "img", "li", "ol", "p", "pre", "q", "s", "small", "span", "strong", "sub", "sup", "table", "tbody",
         "td", "tfoot", "th", "thead", "tr", "u", "ul"}
_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "width", "height"}, "td": {"colspan", "rowspan"},
               "th": {"colspan", "rowspan"}}


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
    from optout_daemon.store.tables import InboundMessage, ReviewItem  # noqa: PLC0415

    im, ri = InboundMessage.__table__, ReviewItem.__table__
    row = conn.execute(select(im.c.id, im.c.raw, im.c.mail_from, im.c.received_at, im.c.source, im.c.status)
                       .where(im.c.id == message_id)).first()
    if row is None:
        return None
    items = conn.execute(select(ri.c.id).where(ri.c.inbound_message_id == message_id).order_by(ri.c.id)).scalars()
    return StoredMessage(row.id, row.mail_from, row.received_at, row.source, row.status,
                         render_message(row.raw) if row.raw else None, list(items))
