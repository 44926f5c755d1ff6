"""screen: ParsedMessage -> Screening.

Finds mail written by machines, which must never be answered: delivery-status notifications
(RFC 3464 and the non-standard bounces real MTAs send), auto-replies (RFC 3834 and the headers,
subjects and texts of vacation responders and ticket systems, English and Spanish and a few more),
feedback-loop reports (RFC 5965 and Hotmail's older format), read receipts (RFC 8098 MDNs),
challenge-response requests, and our own notices coming back.

Two kinds of rule, because a screened-out message is never read by anyone:
- *structural* rules read what only software writes (a report MIME type, Auto-Submitted, our loop
  header at the top, X-Failed-Recipients, a null Return-Path with Precedence): they always fire;
- *content* rules read subjects, senders and texts ("Undelivered Mail", "I am out of the office").
  A person can write those words too, or quote them; so a content rule fires only when what the
  sender wrote above any returned or quoted message does not ask to opt out or in (the keyword
  baseline is the judge: wrong only in the safe direction, toward classification and review).
Each rule returns the name it records when it fires, or "".
"""

from __future__ import annotations

import re
from typing import Callable

from optout_daemon.pipeline.classify import MAX_MODEL_CHARS, KeywordClassifier, lowering_is_ignoring_case
from optout_daemon.pipeline.types import Intent, ParsedMessage, Screening

LOOP_HEADER = "x-optout-daemon-notice"
_SCAN = 20_000  # characters of text the content rules read

_BOUNCE_SENDERS = re.compile(r"^(mailer[-_]?daemon|post[-_]?master|mail[-_]?daemon|mailer|bounces?|double-bounce|"
                             r"mail delivery (sub)?system|mail administrator|mail[-_]?router|nobody)\b", re.I)
_NEVER_A_PERSON = re.compile(r"^(mailer[-_]?daemon|mail[-_]?daemon|double-bounce|mail delivery (sub)?system)\b", re.I)
_NOREPLY = re.compile(r"^(no[-_.]?reply|do[-_.]?not[-_.]?reply|noresponder|auto[-_.]?(reply|confirm|responder)|"
                      r"notifications?|system|daemon)\b", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"(undeliver(able|ed)|delivery (status notification|failure|has failed|problem|report|notification|incomplete)|"
    r"returned mail|mail delivery (failed|failure|system|subsystem)|failure notice|"
    r"could not be delivered|non[- ]?delivery|delivery status|message not delivered|"
    r"mail could not|returned to sender|unable to deliver|delivery failed|warning: .{0,40}(delayed|could not send)|"
    r"notificaci[oó]n de estado de entrega|no se (pudo|ha podido) entregar|correo devuelto|mensaje no entregado|"
    r"message delayed|delayed mail|permanent (error|failure)|undelivered mail|nondeliverable|"
    r"mail system error|loop alert|error sending|mail error|delivery (error|notice)|bounce notification|"
    r"メールエラー|未配達|配信エラー|\bnot member\b|rejected:)", re.I)
_BOUNCE_BODY = re.compile(
    r"(this is the mail system at host|i'm sorry to have to inform you that your message could not|"
    r"this message was created automatically by mail delivery software|"
    r"the following (message to|addresses?) had (permanent fatal errors|delivery problems)|"
    r"delivery to the following recipients? (failed|has been delayed)|"
    r"(your|the) message (could not|cannot|wasn't|was not|has not been) (be )?delivered|could not be delivered to|"
    r"delivery has failed to these recipients|this is a permanent error|the original message was received at|"
    r"a message that you sent could not be delivered|message could not be delivered|"
    r"diagnostic-code:|final-recipient:|action: (failed|delayed)|status: [45]\.\d|"
    r"remote host said: [45]\d\d|5[05][0-4][- ][45]\.\d\.\d|requested action not taken|"
    r"hi\. this is the qmail-send program|unrouteable address|user unknown|no such user|"
    r"mailbox (unavailable|is full|full|not found|quota exceeded)|recipient address rejected|"
    r"you are not a member of this mailing list|not a valid user|unable to deliver (the )?message|was rejected and discarded|"
    r"(below|following) (this line )?is a copy of the (original )?message|"
    r"no se (pudo|ha podido) entregar (el|su) mensaje|"
    r"送信できませんでした|配信できませんでした)", re.I)
_AUTOREPLY_SUBJECT = re.compile(
    r"^\s*[\[(]?\s*(auto(matic|mated)?[ -]?(reply|response|answer|antwort|respuesta|odpowied[zź]|atbilde)\]?|"
    r"auto:|autoreply|out of (the )?office|ooo\b|respuesta autom[aá]tica|fuera de (la )?oficina|"
    r"(estoy |me encuentro )?ausente|vacation|on vacation|away from|i am (currently )?(out|away)|"
    r"je suis absent|r[ée]ponse automatique|abwesenheit|automatische antwort|automatisch antwoord|"
    r"risposta automatica|resposta autom[aá]tica|automatyczna odpowied|.{0,60}automatiska atbilde|"
    r"autosvar|automatisk svar|automaattinen vastaus|vacaciones|de vacaciones)", re.I)
_ACK_SUBJECT = re.compile(
    r"(we('ve| have) received your (message|e-?mail|request|inquiry)|thank you for (your )?(e-?mail|message|"
    r"contacting|writing)|ticket (#|no|number|received|created|id)|\[(ticket|case|request) ?#|"
    r"request (received|#)|case (#|number)|hemos recibido su|gracias por (su|tu) (correo|mensaje)|"
    r"confirmaci[oó]n de recepci[oó]n|recibimos (su|tu))", re.I)
_AUTOREPLY_BODY = re.compile(
    r"(i am (currently )?out of (the )?office|i('m| am| will be) (currently )?(away|out of (the )?office)|"
    r"i will be out of the office|i am on (vacation|holiday|leave)|i('m| am) (currently )?on (vacation|holiday)|"
    r"with limited access to (my )?e-?mail|estoy fuera de la oficina|me encuentro fuera|"
    r"estar[eé] ausente|estoy de vacaciones|this is an automated (response|reply|message)|"
    r"this is an automatic (reply|response|message)|esta es una respuesta autom[aá]tica|"
    r"este es un mensaje autom[aá]tico|(do not|please don'?t) reply to this (automated )?(e-?mail|message)|"
    r"your (ticket|request|case) (number|#|id|no\.?) is|we have received your (e-?mail|message|request)|"
    r"hemos recibido su (correo|mensaje|solicitud)|i will (endeavou?r to )?(reply|respond|get back to you) as soon as|"
    r"responder[eé] (a su mensaje )?(lo antes posible|a mi regreso)|"
    r"(stop|no) (receiving )?notifications from this topic)", re.I)
# Each alternative of _AUTOREPLY_BODY contains one of these: in text without any of them the pattern
# cannot match, and the search (0.5 ms over a 2 KB body, an alternation under re.I) is skipped.
_AUTOREPLY_WORDS = ("office", "away", "vacation", "holiday", "leave", "limited access", "oficina",
                    "encuentro fuera", "ausente", "vacaciones", "automat", "respuesta autom", "mensaje autom",
                    "reply to this", "your ticket", "your request", "your case", "received your", "recibido su",
                    "as soon as", "lo antes posible", "a mi regreso", "notifications from this topic")
# The same for _BOUNCE_SUBJECT (run on every subject: 10 us for a short one).
_BOUNCE_SUBJECT_WORDS = ("deliver", "returned", "mail", "failure notice", "warning:", "entrega", "correo devuelto",
                         "delayed", "permanent ", "loop alert", "error sending", "bounce notification",
                         "メールエラー", "未配達", "配信エラー", "not member", "rejected:")
# In text where lowering_is_ignoring_case, every match of a pattern under re.I is, lower-cased, in the
# lower-cased text.


def _may_hold(text: str, words: tuple[str, ...]) -> bool:
    """False only when `text` holds none of `words` (lower case) in any case under re.I."""
    if lowering_is_ignoring_case(text):
        low = text.lower()
        return any(word in low for word in words)
    return True


def _says_auto_reply(body: str) -> bool:
    return _may_hold(body, _AUTOREPLY_WORDS) and _AUTOREPLY_BODY.search(body) is not None


_RETURN_DATE = re.compile(r"(will (be back|return)|back (in the office )?on|until|hasta el|regreso|volver[eé])", re.I)
_CHALLENGE = re.compile(
    r"(added to (the recipient's|my|the) (allowed|approved|accepted|safe) (list|senders)|has been waitlisted|"
    r"verify (that )?you are (a )?(human|real person)|(to )?complete (the|this) (verification|challenge)|"
    r"(protected|filtered) by .{0,30}(spam|challenge|verification)|confirm (that )?you sent (this|the) message|"
    r"please (click|visit) .{0,60}(to (verify|confirm|be added|have your (e-?mail|address) added)))", re.I)
_SES = re.compile(r'"notificationType"\s*:\s*"(Bounce|Complaint|Delivery)"', re.I)
_RETURNED_MARKER = re.compile(
    r"^(-{2,}.*(original message|copy of the message|returned message|message follows).*|received: .*|"
    r"return-path: .*|x-[a-z-]+: .*|original[- ]recipient: .*|reporting-mta: .*)$", re.I | re.M)
_KEYWORDS = KeywordClassifier()


def _h(m: ParsedMessage, name: str) -> str:
    return m.header(name).strip().lower()


def _ctype(m: ParsedMessage) -> str:
    return m.header("content-type").lower().replace(" ", "").replace('"', "")


def _null_sender(m: ParsedMessage) -> bool:
    return "return-path" in m.headers and m.header("return-path").strip() in ("<>", "", "<<>>")


# --- structural rules: only software writes these ---------------------------------------------

def _own_notice(m: ParsedMessage) -> str:
    return "own_notice_loop_header" if LOOP_HEADER in m.headers else ""


def _feedback_report(m: ParsedMessage) -> str:
    if "report-type=feedback-report" in _ctype(m) or "message/feedback-report" in m.parts:
        return "feedback_report_rfc5965"
    if m.header("feedback-type") or m.header("x-hmxmroriginalrecipient"):
        return "feedback_report_header"
    return ""


def _delivery_status(m: ParsedMessage) -> str:
    if "report-type=delivery-status" in _ctype(m) or "message/delivery-status" in m.parts:
        return "bounce_rfc3464"
    if "message/global-delivery-status" in m.parts or "report-type=global-delivery-status" in _ctype(m):
        return "bounce_rfc6533"
    if m.header("x-failed-recipients"):
        return "bounce_x_failed_recipients"
    return ""


_UNSUBSCRIBE_SUBJECT = re.compile(r"\s*unsubscribe\s*", re.I)
_UNSUBSCRIBE_BUTTON_TEXT = re.compile(
    r"(sent this (e-?mail|message) to unsubscribe|automatically generated by gmail|to unsubscribe from)", re.I)


def unsubscribe_button(m: ParsedMessage) -> bool:
    """A mail client's Unsubscribe button (List-Unsubscribe mailto:): software wrote it, but a person
    pressed it to opt out, so it is read like a person's request (Apple Mail adds Auto-Submitted)."""
    return bool(_UNSUBSCRIBE_SUBJECT.fullmatch(m.subject)) and bool(_UNSUBSCRIBE_BUTTON_TEXT.search(m.text[:2000]))


def _auto_submitted(m: ParsedMessage) -> str:
    if unsubscribe_button(m):
        return ""
    auto = _h(m, "auto-submitted")
    if auto and not auto.startswith("no"):
        return "auto_submitted_" + re.sub(r"[^a-z-]", "", auto.split(";")[0])[:30]
    for name in ("x-autoreply", "x-autorespond", "x-autoresponder", "x-autogenerated", "x-autoreply-from",
                 "x-mail-autoreply", "x-vacation", "x-ms-exchange-generated-message-source"):
        if name in m.headers and _h(m, name) not in ("no", "false", "0"):
            return name.replace("-", "_").lstrip("x_") + "_header"
    if _h(m, "precedence") in ("auto_reply", "auto-reply"):
        return "precedence_auto_reply"
    if _null_sender(m) and _h(m, "precedence") in ("bulk", "junk", "list"):
        return "null_sender_with_precedence"
    return ""


def _read_receipt(m: ParsedMessage) -> str:
    if "message/disposition-notification" in m.parts or "report-type=disposition-notification" in _ctype(m):
        return "read_receipt_rfc8098"
    return ""


def _challenge_headers(m: ParsedMessage) -> str:
    if any(n.startswith(("x-bluebottle-", "x-boxbe-", "x-spamarrest", "x-challenge")) for n in m.headers):
        return "challenge_response_header"
    return ""


# --- content rules: fire only when the sender's own words ask for nothing ----------------------

def _sender_local(m: ParsedMessage) -> str:
    return m.from_address.split("@")[0] if m.from_address else ""


def _bounce_content(m: ParsedMessage) -> str:
    text = m.text[:_SCAN]
    local = _sender_local(m)
    daemon = bool(_BOUNCE_SENDERS.match(local) or _BOUNCE_SENDERS.match(m.from_name))
    if daemon and _NEVER_A_PERSON.match(local or m.from_name):
        return "bounce_from_mailer_daemon"
    subject_says = _may_hold(m.subject, _BOUNCE_SUBJECT_WORDS) and bool(_BOUNCE_SUBJECT.search(m.subject))
    returned = "message/rfc822" in m.parts or "text/rfc822-headers" in m.parts
    machine = _null_sender(m) or not m.from_address
    # The body regex is the costly part: read the text only when the sender or subject hints at a bounce.
    suspect = daemon or subject_says or machine or returned or bool(_NOREPLY.match(local))
    body_says = suspect and bool(_BOUNCE_BODY.search(text))
    if daemon and (subject_says or body_says or returned or machine or not m.new_text.strip()):
        return "bounce_from_mailer_daemon"
    if subject_says and (body_says or machine):
        return "bounce_subject_and_body"
    if body_says and (machine or returned or _NOREPLY.match(local)):
        return "bounce_text_from_machine"
    if '"notificationType"' in text and _SES.search(text):
        return "bounce_ses_notification"
    list_server = any(n in m.headers for n in ("x-mlserver", "x-ml-server", "x-ml-name", "list-id"))
    if list_server and re.search(r"^owner-|-(admin|owner|request|bounces?)$", local):
        return "bounce_mailing_list_rejection"
    return ""


_HOTMAIL_COMPLAINT = re.compile(r"^\s*complaint about message from\b", re.I)
_FEEDBACK_TYPE = re.compile(r"^feedback-type:\s*\w+", re.I | re.M)


def _feedback_content(m: ParsedMessage) -> str:
    if _HOTMAIL_COMPLAINT.match(m.subject) and (
            m.inner_headers.get("x-hmxmroriginalrecipient") or "message/rfc822" in m.parts):
        return "feedback_report_hotmail"
    if "user-agent" in m.text[:5000].lower() and _FEEDBACK_TYPE.search(m.text[:5000]):  # the cheap test first
        return "feedback_report_body"
    return ""


def _auto_reply_content(m: ParsedMessage) -> str:
    precedence = _h(m, "precedence")
    body = m.new_text[:5000] or m.text[:5000]
    if _AUTOREPLY_SUBJECT.match(m.subject):
        return "autoreply_subject"
    if _says_auto_reply(body) and (precedence in ("bulk", "junk", "list") or _ACK_SUBJECT.search(m.subject)
                                         or _ACK_SUBJECT.search(body[:300]) or _NOREPLY.match(_sender_local(m))
                                         or _RETURN_DATE.search(body)):
        return "autoreply_text"
    # the subject pattern last: most messages have neither header nor sender of a machine
    if (precedence in ("bulk", "junk", "list") or _NOREPLY.match(_sender_local(m))) and _ACK_SUBJECT.search(m.subject):
        return "acknowledgement_from_machine"
    if _null_sender(m) and not _BOUNCE_BODY.search(m.text[:_SCAN]):
        return "null_sender"
    return ""


def _own_notice_returned(m: ParsedMessage) -> str:
    if LOOP_HEADER in m.inner_headers or (LOOP_HEADER + ":") in m.text[:_SCAN].lower():
        return "own_notice_returned"
    return ""


_CHALLENGE_HINTS = ("list", "waitlist", "verif", "human", "real person", "protected", "filtered", "you sent")


def _challenge_content(m: ParsedMessage) -> str:
    text = m.text[:5000]
    low = text.lower()
    if not any(hint in low for hint in _CHALLENGE_HINTS):
        return ""
    return "challenge_response" if _CHALLENGE.search(text) else ""


def _sender_request(m: ParsedMessage) -> bool:
    """Whether what the sender wrote (above any returned message) may ask to opt out or in."""
    text = m.new_text[:_SCAN]
    marker = _RETURNED_MARKER.search(text)
    if marker:
        text = text[:marker.start()]
    if not text.strip():
        return False
    # (its beginning, MAX_MODEL_CHARS: the end of a long text is a returned message's own footer more often than
    # a request, "unsubscribe" in a bounced newsletter)
    found = _KEYWORDS.classify("", text[:MAX_MODEL_CHARS])
    # Any opt-out or opt-in phrase counts, negated or mixed too ("I never asked for this, stop..."):
    # a person decides what it means. Consent words without a request do not.
    return found.intent is not Intent.UNRELATED and "keyword_topic_only" not in found.reasons


Rule = tuple[str, Callable[[ParsedMessage], str]]
STRUCTURAL: list[Rule] = [
    ("own_notice", _own_notice),
    ("feedback_report", _feedback_report),
    ("bounce", _delivery_status),
    ("read_receipt", _read_receipt),
    ("auto_reply", _auto_submitted),
    ("challenge", _challenge_headers),
]
CONTENT: list[Rule] = [
    ("own_notice", _own_notice_returned),
    ("feedback_report", _feedback_content),
    ("bounce", _bounce_content),
    ("auto_reply", _auto_reply_content),
    ("challenge", _challenge_content),
]


def screen(message: ParsedMessage) -> Screening:
    for kind, rule in STRUCTURAL:
        fired = rule(message)
        if fired:
            if kind == "auto_reply":  # Auto-Submitted on a bounce or a complaint report: say which
                for refined, more in (("feedback_report", _feedback_content), ("bounce", _bounce_content)):
                    detail = more(message)
                    if detail:
                        return Screening(kind=refined, rule=f"{fired}+{detail}")
            return Screening(kind=kind, rule=fired)
    for kind, rule in CONTENT:
        fired = rule(message)
        if fired:
            if _sender_request(message):
                return Screening(kind=None, rule=f"not_screened:{fired}:sender_wrote_a_request")
            return Screening(kind=kind, rule=fired)
    return Screening(kind=None)
