"""screen: ParsedMessage -> Screening.

Finds mail written by machines, which must never be answered: delivery-status notifications
(RFC 3464 and the non-standard bounces real MTAs send), auto-replies (RFC 3834 and the headers and
subjects vacation responders use), feedback-loop reports (RFC 5965), read receipts, and our own
notices coming back. Each rule is a small function returning the rule's name when it fires.
"""

from __future__ import annotations

import re
from typing import Callable

from optout_daemon.pipeline.types import ParsedMessage, Screening

LOOP_HEADER = "x-optout-daemon-notice"

_BOUNCE_SENDERS = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailer|bounce[s]?|"
                             r"mail delivery (sub)?system|double-bounce)\b", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"(undeliver(able|ed)|delivery (status notification|failure|has failed|problem|report|notification)|"
    r"returned mail|mail delivery (failed|failure|system|subsystem)|failure notice|"
    r"could not be delivered|non[- ]?delivery|delivery status|message not delivered|"
    r"mail could not|returned to sender|unable to deliver|delivery failed|warning: message .* delayed|"
    r"notificaci[oó]n de estado de entrega|no se pudo entregar|correo devuelto|rechazado|"
    r"message delayed|delayed mail|permanent (error|failure)|undelivered mail|nondeliverable)", re.I)
_BOUNCE_BODY = re.compile(
    r"(this is the mail system at host|i'm sorry to have to inform you that your message could not|"
    r"this message was created automatically by mail delivery software|"
    r"the following addresses? had permanent fatal errors|delivery to the following recipients? failed|"
    r"your message (could not|cannot|wasn't|was not) (be )?delivered|"
    r"delivery has failed to these recipients|this is a permanent error|"
    r"the original message was received at|a message that you sent could not be delivered|"
    r"diagnostic-code:|final-recipient:|action: failed|status: 5\.\d|status: 4\.\d|"
    r"remote host said: 5\d\d|550[- ]5\.\d\.\d|554[- ]5\.\d\.\d|"
    r"hi\. this is the qmail-send program|unrouteable address|user unknown|mailbox unavailable)", re.I)
_AUTOREPLY_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort|respuesta|odpowied)|out of (the )?office|"
    r"respuesta autom[aá]tica|fuera de (la )?oficina|ausente|vacation|on vacation|away from|"
    r"i am (currently )?(out|away)|je suis absent|abwesenheit|automatyczna|"
    r"we('ve| have) received your (message|email|request)|thank you for contacting|"
    r"ticket (#|number|received|created)|\[ticket|request received|hemos recibido su|"
    r"(re: )?\s*\[?(auto|autoreply)\]?)", re.I)
_AUTOREPLY_BODY = re.compile(
    r"(i am (currently )?out of (the )?office|i('m| am) (currently )?away|i will be out of the office|"
    r"i am on vacation|estoy fuera de la oficina|me encuentro fuera|estar[eé] ausente|"
    r"this is an automated (response|reply|message)|this is an automatic (reply|response)|"
    r"esta es una respuesta autom[aá]tica|este es un mensaje autom[aá]tico|"
    r"your (ticket|request) (number|#|id) is|we have received your (email|message|request) and|"
    r"hemos recibido su (correo|mensaje|solicitud))", re.I)


def _own_notice(m: ParsedMessage) -> str:
    return "own_notice_loop_header" if LOOP_HEADER in m.headers else ""


def _feedback_report(m: ParsedMessage) -> str:
    ct = m.content_type.lower()
    if "report-type=feedback-report" in m.header("content-type").lower().replace(" ", "").replace('"', ""):
        return "feedback_report_content_type"
    if "message/feedback-report" in m.parts:
        return "feedback_report_part"
    if m.header("x-hmxmroriginalrecipient") or (ct == "multipart/report" and "abuse" in m.subject.lower()):
        return "feedback_report_provider"
    if m.header("feedback-type") or re.search(r"^feedback-type:\s*\w+", m.text[:5000], re.I | re.M):
        return "feedback_report_body"
    return ""


def _bounce(m: ParsedMessage) -> str:
    ctype = m.header("content-type").lower().replace(" ", "").replace('"', "")
    if "report-type=delivery-status" in ctype or "message/delivery-status" in m.parts:
        return "bounce_delivery_status_report"
    if "message/global-delivery-status" in m.parts:
        return "bounce_global_delivery_status"
    if m.header("x-failed-recipients"):
        return "bounce_x_failed_recipients"
    sender = (m.from_name + " " + m.from_address).strip()
    local = m.from_address.split("@")[0] if m.from_address else ""
    sender_is_daemon = bool(_BOUNCE_SENDERS.match(local) or _BOUNCE_SENDERS.match(m.from_name)
                            or _BOUNCE_SENDERS.match(sender))
    empty_return_path = m.header("return-path").strip() in ("<>", "")  and "return-path" in m.headers
    subject_says = bool(_BOUNCE_SUBJECT.search(m.subject))
    body_says = bool(_BOUNCE_BODY.search(m.text[:20000]))
    if sender_is_daemon and (subject_says or body_says or not m.new_text.strip()):
        return "bounce_from_mailer_daemon"
    if subject_says and (body_says or sender_is_daemon or empty_return_path):
        return "bounce_subject_and_body"
    if empty_return_path and body_says:
        return "bounce_null_sender"
    if body_says and ("message/rfc822" in m.parts or "text/rfc822-headers" in m.parts):
        return "bounce_returned_message"
    if sender_is_daemon:
        return "bounce_from_mailer_daemon"
    return ""


def _auto_reply(m: ParsedMessage) -> str:
    auto = m.header("auto-submitted").strip().lower()
    if auto and not auto.startswith("no"):
        return f"auto_submitted_{auto.split(';')[0].strip()}"
    if m.header("x-autoreply") or m.header("x-autorespond") or m.header("x-autoresponder"):
        return "x_autoreply_header"
    if m.header("x-auto-response-suppress").lower() in ("all", "oof", "autoreply") and _AUTOREPLY_SUBJECT.search(m.subject):
        return "auto_response_suppress_with_autoreply_subject"
    precedence = m.header("precedence").strip().lower()
    if precedence in ("auto_reply", "auto-reply"):
        return "precedence_auto_reply"
    if m.header("x-ms-exchange-generated-message-source") or m.header("x-ms-exchange-inbox-rules-loop"):
        return "exchange_generated"
    if m.header("x-mailer-daemon") or m.header("x-autogenerated") or m.header("x-autogenerated-reply"):
        return "autogenerated_header"
    if "message/disposition-notification" in m.parts or "disposition-notification" in m.header("content-type").lower():
        return "read_receipt"
    if _AUTOREPLY_SUBJECT.search(m.subject) and (precedence in ("bulk", "junk", "list") or _AUTOREPLY_BODY.search(m.text[:5000])):
        return "autoreply_subject_and_body"
    if _AUTOREPLY_SUBJECT.match(m.subject) and re.match(r"^\s*(auto|automatic|respuesta autom|out of office|fuera de)", m.subject, re.I):
        return "autoreply_subject"
    if _AUTOREPLY_BODY.search(m.new_text[:3000]) and precedence in ("bulk", "junk", "list", ""):
        if precedence or re.search(r"(automated|automatic|autom[aá]tic)", m.new_text[:3000], re.I) or _AUTOREPLY_SUBJECT.search(m.subject):
            return "autoreply_body"
    if re.search(r"(challenge|verify|confirm).{0,40}(sender|you are human|your email)", m.subject, re.I) and precedence in ("bulk", "junk"):
        return "challenge_response"
    return ""


RULES: list[tuple[str, Callable[[ParsedMessage], str]]] = [
    ("own_notice", _own_notice),
    ("feedback_report", _feedback_report),
    ("bounce", _bounce),
    ("auto_reply", _auto_reply),
]


def screen(message: ParsedMessage) -> Screening:
    for kind, rule in RULES:
        fired = rule(message)
        if fired:
            return Screening(kind=kind, rule=fired)
    return Screening(kind=None)
