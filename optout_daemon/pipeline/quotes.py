"""Separating what the sender wrote from what they quoted, forwarded or signed.

`split_reply(body) -> (new_text, quoted, signature)` is what the classifier is trained on
(models/training: `classify.model_input(subject, split_reply(body)[0])`), so a change here changes
what the model sees: check it against the training data before changing it.
"""

from __future__ import annotations

import re


_ATTRIBUTION = re.compile(  # Gmail, Apple Mail, Thunderbird, Spanish/French/German clients
    r"^\s*(on|el|le|am|em)\b.{0,240}\b(wrote|writes|escribi[oó]|a [eé]crit|schrieb|escreveu)\s*:?\s*$", re.I)
_ATTRIBUTION_START = re.compile(r"^\s*(on|el|le|am|em)\s+\S", re.I)
_ORIGINAL = re.compile(
    r"^\s*(-{2,}|_{2,})\s*(original message|mensaje original|message d'origine|urspr[uü]ngliche nachricht|"
    r"mensagem original)\s*(-{2,}|_{2,})?\s*$|^\s*_{10,}\s*$|^\s*-{10,}\s*$", re.I)
_FORWARD_HEADERS = re.compile(
    r"^\s*(-{2,}\s*(forwarded message|mensaje reenviado|message transf[eé]r[eé]|weitergeleitete nachricht|"
    r"mensagem encaminhada)\s*-{2,}|begin forwarded message:|inicio del mensaje reenviado:|"
    r"comienzo del mensaje reenviado:)\s*$", re.I)
_HEADER_FIELD = re.compile(r"^\s*\*?(from|de|von)\s*:\*?\s*\S", re.I)
_SIGNATURE_LINES = re.compile(
    r"^\s*(--\s*|sent from my .{1,40}|sent from (yahoo|outlook|mail|gmail|samsung).{0,40}|"
    r"enviado desde mi .{1,40}|enviado desde (yahoo|outlook|correo|gmail).{0,40}|"
    r"get outlook for .{1,30}|obtener outlook para .{1,30}|descargar outlook para .{1,30}|"
    r"sent via .{1,40}|enviado (a trav[eé]s de|v[ií]a) .{1,40})$", re.I)
# A confidentiality footer's first line: it and what follows it are the sender's signature block. Its
# opening, then (unless it is a heading) a word of such footers: "This message is confidential: stop
# using my data" is a customer's sentence.
_DISCLAIMER = re.compile(
    r"\s*\W{0,3}\s*(?:(?P<heading>confidentiality (?:notice|note|statement|disclaimer)|aviso de confidencialidad)|"
    r"privileged (?:and|&) confidential|"
    r"(?:this|the information (?:contained )?in this) (?:e-?mail|message|communication|transmission)"
    r"(?: and any (?:attachments?|files?)[^.\n]{0,60})? (?:is|are|may be|contains?|may contain)\b[^.\n]{0,40}"
    r"\b(?:confidential|privileged)|"
    r"(?:este|la informaci[oó]n (?:contenida )?en este) (?:correo|mensaje)(?: electr[oó]nico)?"
    r"(?: y (?:sus|cualquier) (?:anexos?|archivos?(?: adjuntos?)?)[^.\n]{0,60})? (?:es|son|puede ser|contiene|"
    r"puede contener)\b[^.\n]{0,40}\b(?:confidencial|privilegiad))", re.I)
_DISCLAIMER_WORDS = re.compile(r"\b(?:intended|addressee|recipient|privileged|in error|destinatari|por error|"
                               r"exclusivo|privilegiad)", re.I)


def _is_disclaimer(line: str) -> bool:
    m = _DISCLAIMER.match(line)
    return bool(m) and bool(m.group("heading") or _DISCLAIMER_WORDS.search(line))


# A mail app's line and nothing more: the whole of a body whose request is in the subject
_DEVICE_LINE = re.compile(
    r"(sent from my|enviado desde mi) (iphone|ipad|android|galaxy|samsung galaxy|samsung|mobile|phone|smartphone|"
    r"tel[eé]fono|celular|m[oó]vil)|(sent from|enviado desde) (yahoo )?mail (for|para) (iphone|android)|"
    r"(get|obtener|descargar) outlook (for|para) (ios|android)", re.I)

# How a line that any marker above matches can start: each pattern's first word or mark after the
# leading space, under re.I like the patterns (so the same case-folded letters match). A line that does
# not start so is plain text, and the six marker tests are skipped for it.
_MARKER_START = re.compile(
    r"\s*(?:[-_*]|(?:on|el|le|am|em)\b|from|de|von|begin|inicio|comienzo|sent|enviado|get|obtener|descargar)", re.I)


def _header_block(lines: list[str], i: int) -> bool:
    """'From:' followed within 5 lines by a date ('Sent:'/'Date:'/'Enviado:'/'Fecha:') and a 'To:' or
    'Subject:' line: an Outlook (or any client's) header block above a quoted or forwarded message."""
    window = "\n".join(lines[i:i + 6]).lower()
    return bool(re.search(r"^\s*\*?(sent|date|enviado|fecha|gesendet|datum|envoy[eé])\s*:", window, re.M)) and bool(
        re.search(r"^\s*\*?(to|para|subject|asunto|an|betreff|[aà]|objet)\s*:", window, re.M))


def _attribution(lines: list[str], i: int) -> int:
    """How many lines an 'On ... wrote:' attribution takes at line i (clients wrap it), or 0."""
    if _ATTRIBUTION.match(lines[i]):
        return 1
    if _ATTRIBUTION_START.match(lines[i]):
        for extra in (1, 2):
            span = lines[i:i + extra + 1]
            if len(span) == extra + 1 and all(x.strip() for x in span) and not lines[i].rstrip().endswith(".") \
                    and re.search(r"\d", lines[i]) and _ATTRIBUTION.match(" ".join(span)):
                return extra + 1
    return 0


def split_reply(body: str) -> tuple[str, str, str]:
    """(new_text, quoted_text, signature) of a reply body; a forwarded message counts as quoted."""
    new, quoted, signature, forwarded = split_message(body)
    return new, (quoted + ("\n" + forwarded if forwarded else "")).strip(), signature


def split_message(body: str) -> tuple[str, str, str, str]:
    """(new_text, quoted_text, signature, forwarded_text): what the sender wrote, separated.

    Top posting (new text, then the quote) and bottom posting ('>' lines, then new text) both work:
    '>' lines are quoted wherever they are; an attribution followed by '>' lines only introduces
    them; an attribution or header block followed by unprefixed text (Outlook) starts a quote that
    runs to the end. A forward marker starts the forwarded message: what is above it is the
    sender's own text ("opt me out" above a forwarded notice).
    """
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    new: list[str] = []
    signature: list[str] = []
    quoted: list[str] = []
    forwarded: list[str] = []
    in_signature = False
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith(">"):  # first: no marker below can start with '>', and most quotes do
            quoted.append(line)
            in_signature = False  # a signature above a quote ends there; text below it is new
            i += 1
            continue
        if not in_signature and new and _is_disclaimer(line):
            in_signature = True  # a confidentiality footer: its "if you received this in error" asks nothing
        if not _MARKER_START.match(line):
            (signature if in_signature else new).append(line)
            i += 1
            continue
        if _FORWARD_HEADERS.match(stripped) or (
                _HEADER_FIELD.match(stripped) and _header_block(lines, i) and _forward_subject(lines, i)):
            forwarded = lines[i:]
            break
        span = _attribution(lines, i)
        if span and _next_is_quoted(lines, i + span):
            quoted.extend(lines[i:i + span])  # introduces '>' lines; new text may follow them
            i += span
            continue
        if span or _ORIGINAL.match(stripped) or (_HEADER_FIELD.match(stripped) and _header_block(lines, i)):
            quoted.extend(lines[i:])
            break
        if (_SIGNATURE_LINES.match(line.rstrip()) and (new or stripped.startswith("--"))) or (
                _DEVICE_LINE.fullmatch(stripped) and not any(rest.strip() for rest in lines[i + 1:])):
            # after the sender's text; or a body that is only "Sent from my iPhone" (the request is in
            # the subject), which a looser line ("Sent via email, please stop") never is
            in_signature = True
        (signature if in_signature else new).append(line)
        i += 1
    return ("\n".join(new).strip(), "\n".join(quoted).strip(), "\n".join(signature).strip(),
            "\n".join(forwarded).strip())


def _next_is_quoted(lines: list[str], j: int) -> bool:
    while j < len(lines) and not lines[j].strip():
        j += 1
    return j < len(lines) and lines[j].lstrip().startswith(">")


def _forward_subject(lines: list[str], i: int) -> bool:
    window = "\n".join(lines[i:i + 6])
    return bool(re.search(r"^\s*\*?(subject|asunto|betreff|objet)\s*:\s*\*?\s*(fwd?|rv|reenv|tr|wg)\s*:",
                          window, re.I | re.M))
