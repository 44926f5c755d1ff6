"""parse: raw bytes -> ParsedMessage.

Never raises on bad input: defects are recorded on the result. Uses the standard library's email
parser with the compat32 policy (about four times faster than policy.default here, see
docs/BENCHMARKS.md) and decodes headers and text itself, tolerating unknown and lying charsets.
"""

from __future__ import annotations

import email.header
import email.utils
import html
import re
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from html.parser import HTMLParser

from optout_daemon.pipeline import mime
from optout_daemon.pipeline.quotes import split_message, split_reply
from optout_daemon.pipeline.types import AuthResult, ParsedMessage

__all__ = ["parse", "split_reply", "split_message", "decode_bytes", "decode_header_value", "html_to_text"]

MAX_RAW = 10_000_000  # bytes read of one message
MAX_TEXT = 200_000  # characters of text kept per message; enough for any human request
MAX_PARTS = 200
MAX_DEPTH = 20  # nesting of multiparts and attached messages
MAX_HEADERS = 500  # header fields kept per message
MAX_HEADER = 20_000  # characters kept per header field
MAX_ADDRESS_HEADER = 4_000  # the address parser recurses per address: keep hostile lists short

_header_parser = HeaderParser(policy=compat32)
_LANGUAGE_WORDS = re.compile(r"[a-záéíóúñü']+")
_COMMENTS = re.compile(r"\([^)]*\)")


def parse(raw: bytes) -> ParsedMessage:
    """Never raises: a message the email package cannot read is kept as text with a defect."""
    raw = raw[:MAX_RAW]
    raw = raw.lstrip(b"\xef\xbb\xbf")  # a UTF-8 BOM before the first header
    if raw.startswith(b"From ") and b"\n" in raw:  # an mbox separator line
        raw = raw.split(b"\n", 1)[1]
    raw = raw.lstrip(b"\r\n\t ") if raw[:1] in (b"\r", b"\n", b"\t", b" ") else raw
    if b"\r" in raw and b"\n" not in raw:  # old Mac line ends
        raw = raw.replace(b"\r", b"\n")
    try:
        return _parse(raw)
    except (Exception, RecursionError) as exc:  # the parser is lenient; this is a last resort  # noqa: BLE001
        text = decode_bytes(raw, None)[:MAX_TEXT]
        new_text, quoted, signature, forwarded = split_message(text)
        return ParsedMessage(message_id="", subject="", from_address="", from_name="", reply_to="",
                             to=[], date="", headers={}, text=text, new_text=new_text,
                             quoted_text=quoted, signature=signature, forwarded_text=forwarded,
                             defects=[f"unparseable: {type(exc).__name__}"],
                             language=detect_language(new_text))


def _parse(raw: bytes) -> ParsedMessage:
    defects: list[str] = []
    msg = mime.parsebytes(raw, compat32)
    headers = _headers(msg)
    defects.extend(type(d).__name__ for d in msg.defects)

    def first(name: str) -> str:
        values = headers.get(name)
        return values[0].strip() if values else ""

    from_name, from_address = _address(first("from"))
    _, reply_to = _address(first("reply-to"))
    to = [a.lower() for value in (headers.get("to", []) + headers.get("cc", []))[:20]
          for a in _ANY_ADDRESS.findall(value[:MAX_ADDRESS_HEADER])][:100]

    body = _Body(defects)
    body.walk(msg, 0)
    text = body.plain if body.plain.strip() else body.html
    new_text, quoted, signature, forwarded = split_message(text[:MAX_TEXT])
    if body.attached.strip():  # a message forwarded as an attachment: not what the sender wrote
        forwarded = (forwarded + "\n" + body.attached).strip()
    subject = " ".join(first("subject").split())
    return ParsedMessage(
        message_id=first("message-id"), subject=subject, from_address=from_address, from_name=from_name,
        reply_to=reply_to, to=to, date=first("date"), headers=headers, text=text[:MAX_TEXT],
        new_text=new_text, quoted_text=quoted, signature=signature, forwarded_text=forwarded[:MAX_TEXT],
        content_type=body.parts[0], in_reply_to=first("in-reply-to"),  # the root's, the first part walked
        references=" ".join(first("references").split()),
        language=detect_language(subject + "\n" + new_text),
        auth_results=parse_authentication_results(headers.get("authentication-results", [])),
        defects=defects, parts=body.parts, inner_headers=body.inner_headers,
    )


def _headers(msg: Message) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for count, (name, value) in enumerate(msg.raw_items()):
        if count >= MAX_HEADERS:
            break
        if not (isinstance(value, str) and value.isascii() and "\n" not in value and "=?" not in value):
            value = decode_header_value(value)  # (which returns such a value as it is)
        headers.setdefault(str(name).strip().lower(), []).append(value[:MAX_HEADER])
    return headers


def decode_header_value(value: object) -> str:
    """Decode RFC 2047 encoded words, tolerating unknown charsets and raw 8-bit bytes."""
    if isinstance(value, email.header.Header):
        value = str(value)
    if not isinstance(value, str):
        value = str(value)
    value = _fix_surrogates(_FOLD.sub("", value) if "\n" in value else value)  # unfold
    if "=?" not in value:
        return value
    try:
        chunks = email.header.decode_header(value)
    except Exception:  # noqa: BLE001
        return value
    out = []
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            out.append(decode_bytes(chunk, charset))
        else:
            out.append(chunk)
    return "".join(out)


_SURROGATES = re.compile("[\udc80-\udcff]")
_FOLD = re.compile(r"\r?\n(?=[ \t])")


def _fix_surrogates(value: str) -> str:
    # compat32 keeps undecodable 8-bit header bytes as surrogate escapes: turn them into text.
    if not value.isascii() and _SURROGATES.search(value):
        return decode_bytes(value.encode("utf-8", "surrogateescape"), None)
    return value


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset, then UTF-8, then Windows-1252: never raises."""
    candidates = []
    if charset and charset.strip().strip('"').lower() in _SINGLE_BYTE_LATIN and _looks_utf8(data):
        charset = "utf-8"  # declared Latin-1 / Windows-1252 but written in UTF-8: a common lie
    if charset:
        cs = charset.strip().strip('"').lower()
        cs = {"unknown-8bit": "utf-8", "x-unknown": "utf-8", "us-ascii": "utf-8", "ascii": "utf-8",
              "iso-8859-8-i": "iso-8859-8", "ks_c_5601-1987": "cp949", "gb2312": "gb18030",
              "x-user-defined": "cp1252"}.get(cs, cs)
        candidates.append(cs)
    candidates += ["utf-8", "cp1252"]
    for cs in candidates:
        try:
            return data.decode(cs)
        except (LookupError, UnicodeDecodeError, ValueError):
            continue
    return data.decode("latin-1")


_SINGLE_BYTE_LATIN = frozenset({"iso-8859-1", "latin1", "latin-1", "iso-8859-15", "windows-1252", "cp1252",
                                 "us-ascii", "ascii"})
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]")


def _looks_utf8(data: bytes) -> bool:
    """Valid UTF-8 with at least one multi-byte sequence (Latin-1 text almost never is)."""
    if not _UTF8_MULTIBYTE.search(data):
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


_SIMPLE_ADDRESS = re.compile(r'^\s*(?:"([^"\\<>]*)"|([^"<>,;:@()\\]*?))\s*<([^<>@\s"(),;:\\]+@[^<>@\s"(),;:\\]+)>\s*$'
                             r'|^\s*([^<>@\s"(),;:\\]+@[^<>@\s"(),;:\\]+)\s*$')
_ANY_ADDRESS = re.compile(r'[^\s<>(),;:"@\[\]]+@[^\s<>(),;:"@\[\]]+')


def _address(value: str) -> tuple[str, str]:
    """(display name, lower-cased addr-spec). The common forms by a regex (the email package's
    address parser costs tens of microseconds and recurses on hostile input); the rest by parseaddr."""
    simple = _SIMPLE_ADDRESS.match(value)
    if simple:
        quoted, bare, addr, alone = simple.groups()
        return (quoted if quoted is not None else bare or "").strip(), (addr or alone).lower()
    try:
        name, addr = email.utils.parseaddr(value[:MAX_ADDRESS_HEADER])
    except (Exception, RecursionError):  # noqa: BLE001
        return "", ""
    addr = addr.strip().lower()
    if "@" not in addr or " " in addr:
        addr = ""
    return name.strip(), addr


class _Body:
    """Walks the MIME tree: the sender's text, attached messages apart, report parts noted."""

    def __init__(self, defects: list[str]) -> None:
        self.defects = defects
        self._plain: list[str] = []
        self._html: list[str] = []
        self._attached: list[str] = []
        self.parts: list[str] = []
        self.inner_headers: dict[str, list[str]] = {}

    plain = property(lambda self: "\n".join(self._plain))
    html = property(lambda self: "\n".join(self._html))
    attached = property(lambda self: "\n".join(self._attached))

    def walk(self, part: Message, depth: int, attached: bool = False) -> None:
        if len(self.parts) >= MAX_PARTS or depth > MAX_DEPTH:
            if "too_many_parts" not in self.defects:
                self.defects.append("too_many_parts")
            return
        ctype = part.get_content_type()
        self.parts.append(ctype)
        payload = part.get_payload()
        if ctype in ("message/delivery-status", "message/global-delivery-status", "message/feedback-report",
                     "message/disposition-notification"):
            return  # machine-readable report fields: screen looks at the part type, not the text
        if isinstance(payload, list):
            if ctype.startswith("message/"):  # message/rfc822 and friends: an attached message
                for inner in payload[:1]:
                    if isinstance(inner, Message):
                        self._inner(inner)
                        self.walk(inner, depth + 1, attached=True)
                return
            children = [p for p in payload if isinstance(p, Message)]
            if ctype == "multipart/alternative":
                children = self._prefer_plain(children)
            for child in children:
                self.walk(child, depth + 1, attached)
            return
        self._leaf(part, ctype, attached)

    @staticmethod
    def _prefer_plain(children: list[Message]) -> list[Message]:
        plain = [c for c in children if c.get_content_type() == "text/plain"]
        try:
            payload = plain[0].get_payload(decode=True) if plain else None
        except Exception:  # noqa: BLE001
            payload = None
        if isinstance(payload, bytes) and payload.strip():
            return plain[:1] + [c for c in children if c.get_content_type() not in ("text/plain", "text/html")]
        return children

    def _inner(self, inner: Message) -> None:
        for name, value in list(inner.raw_items())[:MAX_HEADERS]:
            self.inner_headers.setdefault(str(name).strip().lower(), []).append(
                decode_header_value(value)[:MAX_HEADER])

    def _leaf(self, part: Message, ctype: str, attached: bool) -> None:
        disposition = str(part.get("content-disposition", "")).lower()
        # get_filename() parses both headers' parameters: only when one of them names a file
        named = "name" in disposition or "name" in str(part.get("content-type", "")).lower()
        if (named and part.get_filename()) or disposition.startswith("attachment"):
            if ctype != "text/rfc822-headers":
                return
        readable = ctype in ("text/plain", "text/html", "text/rfc822-headers") or (
            ctype.startswith(("multipart/", "message/")))  # a broken container: its text is all we have
        if not readable:
            return
        text = self._decoded(part)
        if ctype == "text/rfc822-headers":
            headers = _header_parser.parsestr(text[:MAX_HEADER * 5]) if text else None
            if headers is not None:
                self._inner(headers)
            return
        if ctype == "text/html":
            text = html_to_text(text)
        (self._attached if attached else self._html if ctype == "text/html" else self._plain).append(text)

    def _decoded(self, part: Message) -> str:
        try:
            payload = part.get_payload(decode=True)
        except Exception:  # noqa: BLE001
            self.defects.append("undecodable_payload")
            payload = None
        if not isinstance(payload, bytes):
            raw_payload = part.get_payload()
            payload = raw_payload.encode("utf-8", "surrogateescape") if isinstance(raw_payload, str) else b""
        return decode_bytes(payload[: MAX_TEXT * 5], _content_charset(part))


# A type and one plain charset, quoted or not: 'text/plain; charset="utf-8"'. No quote, backslash or
# '=' before it, nothing after it: the email package's parameter parser reads this as the charset alone.
_PLAIN_CHARSET = re.compile(r'[^;"\\=]*;[ \t]*[Cc][Hh][Aa][Rr][Ss][Ee][Tt][ \t]*=[ \t]*("?)([A-Za-z0-9._:+-]+)\1[ \t]*')


def _content_charset(part: Message) -> str | None:
    """part.get_content_charset(), or None when it raises. Parameters are parsed only when there is a
    charset to find, and the common plain form is read by a pattern (the parameter parser is about half of
    reading a one-part message's body)."""
    value = part.get("content-type", "")
    if "charset" not in str(value).lower():
        return None
    plain = _PLAIN_CHARSET.fullmatch(value) if isinstance(value, str) else None
    if plain:
        return plain.group(2).lower()
    try:
        return part.get_content_charset()
    except Exception:  # noqa: BLE001
        return None


_HTML_QUOTE = re.compile(r"\b(divRplyFwdMsg|yahoo_quoted|OutlookMessageHeader|appendonsend)\b", re.I)


class _TextExtractor(HTMLParser):
    _BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote"}
    _SKIP = {"script", "style", "head", "title", "noscript", "template"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.quote = 0

    def handle_starttag(self, tag: str, attrs) -> None:  # noqa: ANN001
        if tag in self._SKIP:
            self.skip += 1
        elif tag == "hr" or (tag == "div" and _HTML_QUOTE.search(" ".join(str(v) for _, v in attrs))):
            self.out.append("\n" + "_" * 32 + "\n")  # Outlook/Yahoo start their quoted message so
        elif tag == "blockquote":
            self.quote += 1
            self.out.append("\n")
        elif tag in self._BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "blockquote":
            self.quote = max(0, self.quote - 1)
            self.out.append("\n")
        elif tag in self._BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.quote:
            data = "\n".join("> " + line if line.strip() else line for line in data.split("\n"))
        self.out.append(data)

    def feed_bare_tags(self, markup: str) -> bool:
        """What feed() and close() do, for markup of text and bare tags only (`<div>`, `</p>`: no
        attributes, comments or declarations, no script or style); False, having done nothing, for any
        other markup. HTMLParser's tokenizer costs about 5 us a tag; mail clients' HTML is mostly this.

        For such markup HTMLParser calls handle_data once with the unescaped text between two tags (and
        before the first and after the last), and the handlers with the lower-cased tag name."""
        pieces = _BARE_TAG.split(markup)  # text, "/" or "", name, text, ..., text
        for text in pieces[::3]:
            if "<" in text:
                return False
        names = [name.lower() for name in pieces[2::3]]
        if not _CDATA.isdisjoint(names):
            return False  # HTMLParser reads their content as text up to the end tag
        for n, name in enumerate(names):
            text, slash = pieces[3 * n], pieces[3 * n + 1]
            if text:
                self.handle_data(html.unescape(text))
            if slash:
                self.handle_endtag(name)
            else:
                self.handle_starttag(name, [])
        if pieces[-1]:
            self.handle_data(html.unescape(pieces[-1]))
        return True


_BARE_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)>")
_CDATA = frozenset(HTMLParser.CDATA_CONTENT_ELEMENTS)


def html_to_text(markup: str) -> str:
    """HTML to plain text without running or fetching anything; blockquotes become '> ' lines."""
    markup = markup[: MAX_TEXT * 5]
    parser = _TextExtractor()
    try:
        if not parser.feed_bare_tags(markup):
            parser.feed(markup)
            parser.close()
        text = "".join(parser.out)
    except Exception:  # noqa: BLE001
        text = html.unescape(re.sub(r"<[^>]*>", " ", markup))
    text = text.replace("\xa0", " ")
    lines = [" ".join(line.split()) if not line.startswith(">") else line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --- language ----------------------------------------------------------------------------------

_ES_WORDS = frozenset(
    "el la los las de del que y en por para con no mi mis su sus favor quiero deseo dejen usar datos "
    "información informacion correo cuenta gracias hola buenos buenas días dias necesito ya más mas "
    "publicidad promociones ofertas sí si estoy usted ustedes nombre teléfono telefono también".split())
_EN_WORDS = frozenset(
    "the and to of my me i please stop use your you for is a in it not do don't want no this that "
    "with be on account thanks thank hi hello info information marketing data any more".split())

_ES_MARKERS = frozenset(("dejen", "mis", "datos", "quiero", "favor"))  # any of them: two more for Spanish


def detect_language(text: str) -> str:
    words = _LANGUAGE_WORDS.findall(text.lower()[:4000])
    es = sum(1 for w in words if w in _ES_WORDS)
    en = sum(1 for w in words if w in _EN_WORDS)
    if any(ch in text for ch in "ñ¿¡") or not _ES_MARKERS.isdisjoint(words):
        es += 2
    return "es" if es > en else "en"


# --- Authentication-Results (RFC 8601) -----------------------------------------------------------

_AR_METHOD = re.compile(r"\b(dmarc|dkim|spf)\s*=\s*([a-z]+)([^;]*)", re.I)
_AR_PROP = re.compile(r"\b(header\.from|header\.d|header\.i|smtp\.mailfrom)\s*=\s*([^\s;()]+)", re.I)


def parse_authentication_results(values: list[str]) -> list[AuthResult]:
    results: list[AuthResult] = []
    for value in values:
        value = _COMMENTS.sub(" ", value) if "(" in value else value  # comments
        authserv_id = value.split(";", 1)[0].strip().split()[0].lower() if value.strip() else ""
        for method, result, rest in _AR_METHOD.findall(value):
            domain = ""
            prop = _AR_PROP.search(rest)
            if prop:
                domain = prop.group(2).strip().lower().split("@")[-1]
            results.append(AuthResult(authserv_id=authserv_id, method=method.lower(),
                                      result=result.lower(), domain=domain))
    return results
