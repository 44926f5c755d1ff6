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
from email.parser import BytesParser
from email.policy import compat32
from html.parser import HTMLParser

from optout_daemon.pipeline.types import AuthResult, ParsedMessage

MAX_TEXT = 200_000  # characters of text kept per message; enough for any human request
MAX_PARTS = 200

_parser = BytesParser(policy=compat32)


def parse(raw: bytes) -> ParsedMessage:
    defects: list[str] = []
    raw = raw.lstrip(b"\xef\xbb\xbf")  # a UTF-8 BOM before the first header
    if raw.startswith(b"From ") and b"\n" in raw:  # an mbox separator line
        raw = raw.split(b"\n", 1)[1]
    raw = raw.lstrip(b"\r\n\t ") if raw[:1] in (b"\r", b"\n", b"\t", b" ") else raw
    try:
        msg = _parser.parsebytes(raw)
    except Exception as exc:  # the parser is lenient; this is a last resort  # noqa: BLE001
        defects.append(f"unparseable: {type(exc).__name__}")
        text = raw.decode("utf-8", "replace")[:MAX_TEXT]
        new_text, quoted, signature, forwarded = split_message(text)
        return ParsedMessage(message_id="", subject="", from_address="", from_name="", reply_to="",
                             to=[], date="", headers={}, text=text, new_text=new_text,
                             quoted_text=quoted, signature=signature, forwarded_text=forwarded,
                             defects=defects, language=detect_language(new_text))

    headers: dict[str, list[str]] = {}
    for name, value in msg.items():
        headers.setdefault(name.strip().lower(), []).append(decode_header_value(value))
    defects.extend(type(d).__name__ for d in msg.defects)

    def first(name: str) -> str:
        values = headers.get(name)
        return values[0].strip() if values else ""

    from_name, from_address = _address(first("from"))
    _, reply_to = _address(first("reply-to"))
    to = [addr.lower() for _, addr in email.utils.getaddresses(headers.get("to", []) + headers.get("cc", []))
          if "@" in addr]

    plain, html_text, parts = _collect_text(msg, defects)
    text = plain if plain.strip() else html_text
    text = text[:MAX_TEXT]
    new_text, quoted, signature, forwarded = split_message(text)
    subject = " ".join(first("subject").split())
    return ParsedMessage(
        message_id=first("message-id"),
        subject=subject,
        from_address=from_address,
        from_name=from_name,
        reply_to=reply_to,
        to=to,
        date=first("date"),
        headers=headers,
        text=text,
        new_text=new_text,
        quoted_text=quoted,
        signature=signature,
        forwarded_text=forwarded,
        content_type=msg.get_content_type(),
        in_reply_to=first("in-reply-to"),
        references=" ".join(first("references").split()),
        language=detect_language(subject + "\n" + new_text),
        auth_results=parse_authentication_results(headers.get("authentication-results", [])),
        defects=defects,
        parts=parts,
    )


def decode_header_value(value: object) -> str:
    """Decode RFC 2047 encoded words, tolerating unknown charsets and raw 8-bit bytes."""
    if isinstance(value, email.header.Header):
        value = str(value)
    if not isinstance(value, str):
        value = str(value)
    if "=?" not in value:
        return _fix_surrogates(value)
    try:
        chunks = email.header.decode_header(value)
    except Exception:  # noqa: BLE001
        return _fix_surrogates(value)
    out = []
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            out.append(decode_bytes(chunk, charset))
        else:
            out.append(chunk)
    return _fix_surrogates("".join(out))


def _fix_surrogates(value: str) -> str:
    # compat32 keeps undecodable 8-bit header bytes as surrogate escapes: turn them into text.
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        raw = value.encode("utf-8", "surrogateescape")
        return decode_bytes(raw, None)
    return value


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset, then UTF-8, then Windows-1252: never raises."""
    candidates = []
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


def _address(value: str) -> tuple[str, str]:
    try:
        name, addr = email.utils.parseaddr(value)
    except Exception:  # noqa: BLE001
        return "", ""
    addr = addr.strip().lower()
    if "@" not in addr or " " in addr:
        addr = ""
    return name.strip(), addr


def _collect_text(msg: Message, defects: list[str]) -> tuple[str, str, list[str]]:
    plain: list[str] = []
    html_parts: list[str] = []
    parts: list[str] = []
    count = 0
    for part in msg.walk():
        count += 1
        if count > MAX_PARTS:
            defects.append("too_many_parts")
            break
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        parts.append(ctype)
        if part.get_filename() or (part.get("content-disposition", "").lower().startswith("attachment")):
            continue
        if ctype not in ("text/plain", "text/html"):
            continue
        try:
            payload = part.get_payload(decode=True)
        except Exception:  # noqa: BLE001
            defects.append("undecodable_payload")
            payload = None
        if payload is None:
            raw_payload = part.get_payload()
            payload = raw_payload.encode("utf-8", "surrogateescape") if isinstance(raw_payload, str) else b""
        try:
            charset = part.get_content_charset()
        except Exception:  # noqa: BLE001
            charset = None
        text = decode_bytes(payload, charset)
        if ctype == "text/html":
            html_parts.append(html_to_text(text))
        else:
            plain.append(text)
    return "\n".join(plain), "\n".join(html_parts), parts


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


def html_to_text(markup: str) -> str:
    """HTML to plain text without running or fetching anything; blockquotes become '> ' lines."""
    markup = markup[: MAX_TEXT * 5]
    parser = _TextExtractor()
    try:
        parser.feed(markup)
        parser.close()
        text = "".join(parser.out)
    except Exception:  # noqa: BLE001
        text = html.unescape(re.sub(r"<[^>]*>", " ", markup))
    text = text.replace("\xa0", " ")
    lines = [" ".join(line.split()) if not line.startswith(">") else line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --- quotes, signatures, forwards -------------------------------------------------------------

_QUOTE_HEADERS = [
    re.compile(r"^\s*(on|el|le|am)\b.{0,200}\b(wrote|escribi[oó]|a [eé]crit|schrieb)\s*:?\s*$", re.I),
    re.compile(r"^\s*-{2,}\s*(original message|mensaje original|message d'origine)\s*-{2,}\s*$", re.I),
    re.compile(r"^\s*_{10,}\s*$"),
    re.compile(r"^\s*(from|de)\s*:\s*.+$", re.I),  # an Outlook header block, confirmed below
]
_FORWARD_HEADERS = re.compile(
    r"^\s*(-{2,}\s*(forwarded message|mensaje reenviado|original message)\s*-{2,}|begin forwarded message:|"
    r"inicio del mensaje reenviado:)\s*$", re.I)
_SIGNATURE_LINES = re.compile(
    r"^\s*(--\s*|sent from my .{1,40}|enviado desde mi .{1,40}|get outlook for .{1,30}|"
    r"obtener outlook para .{1,30}|sent from (yahoo|outlook|mail) .{0,30}|enviado desde (yahoo|outlook|correo).{0,30})$",
    re.I)


def _outlook_block(lines: list[str], i: int) -> bool:
    """'From: ...' followed within 4 lines by 'Sent:'/'Date:'/'Enviado:'/'Fecha:' and 'To:'/'Para:'/'Subject:'."""
    window = " ".join(lines[i:i + 5]).lower()
    return bool(re.search(r"\b(sent|date|enviado|fecha)\s*:", window)) and bool(
        re.search(r"\b(to|para|subject|asunto)\s*:", window))


def split_reply(body: str) -> tuple[str, str, str]:
    """(new_text, quoted_text, signature) of a reply body."""
    new, quoted, signature, forwarded = split_message(body)
    return new, (quoted + ("\n" + forwarded if forwarded else "")).strip(), signature


def split_message(body: str) -> tuple[str, str, str, str]:
    """(new_text, quoted_text, signature, forwarded_text): what the sender wrote, separated."""
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    new: list[str] = []
    signature: list[str] = []
    quoted: list[str] = []
    forwarded: list[str] = []
    in_signature = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        if _FORWARD_HEADERS.match(stripped):
            forwarded = lines[i + 1:]
            break
        is_header = any(p.match(stripped) for p in _QUOTE_HEADERS[:3]) or (
            _QUOTE_HEADERS[3].match(stripped) and _outlook_block(lines, i))
        if is_header and (new or i > 0 or stripped.lower().startswith(("on ", "el "))):
            quoted = lines[i:]
            break
        if stripped.startswith(">"):
            # Quoted lines; a reply written below the quote ("bottom posting") still counts as new.
            quoted.append(line)
            continue
        if _SIGNATURE_LINES.match(line.rstrip()) and (new or stripped.startswith("--")):
            in_signature = True
        if in_signature:
            signature.append(line)
        else:
            new.append(line)
    new_text = "\n".join(new).strip()
    return (new_text, "\n".join(quoted).strip(), "\n".join(signature).strip(),
            "\n".join(forwarded).strip())


# --- language ----------------------------------------------------------------------------------

_ES_WORDS = frozenset(
    "el la los las de del que y en por para con no mi mis su sus favor quiero deseo dejen usar datos "
    "información informacion correo cuenta gracias hola buenos buenas días dias necesito ya más mas "
    "publicidad promociones ofertas sí si estoy usted ustedes nombre teléfono telefono también".split())
_EN_WORDS = frozenset(
    "the and to of my me i please stop use your you for is a in it not do don't want no this that "
    "with be on account thanks thank hi hello info information marketing data any more".split())


def detect_language(text: str) -> str:
    words = re.findall(r"[a-záéíóúñü']+", text.lower()[:4000])
    es = sum(1 for w in words if w in _ES_WORDS)
    en = sum(1 for w in words if w in _EN_WORDS)
    if any(ch in text for ch in "ñ¿¡") or any(w in ("dejen", "mis", "datos", "quiero", "favor") for w in words):
        es += 2
    return "es" if es > en else "en"


# --- Authentication-Results (RFC 8601) -----------------------------------------------------------

_AR_METHOD = re.compile(r"\b(dmarc|dkim|spf)\s*=\s*([a-z]+)([^;]*)", re.I)
_AR_PROP = re.compile(r"\b(header\.from|header\.d|header\.i|smtp\.mailfrom)\s*=\s*([^\s;()]+)", re.I)


def parse_authentication_results(values: list[str]) -> list[AuthResult]:
    results: list[AuthResult] = []
    for value in values:
        value = re.sub(r"\([^)]*\)", " ", value)  # comments
        authserv_id = value.split(";", 1)[0].strip().split()[0].lower() if value.strip() else ""
        for method, result, rest in _AR_METHOD.findall(value):
            domain = ""
            prop = _AR_PROP.search(rest)
            if prop:
                domain = prop.group(2).strip().lower().split("@")[-1]
            results.append(AuthResult(authserv_id=authserv_id, method=method.lower(),
                                      result=result.lower(), domain=domain))
    return results
