"""screen: machine mail is screened out; a person's request never is, even when it looks like one."""

from __future__ import annotations

from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optout_daemon.notify.compose import ComposeSettings, NoticeContent, compose
from optout_daemon.pipeline.parse import parse
from optout_daemon.pipeline.screen import screen


def mail(body: str = "hello", subject: str = "Re: privacy", sender: str = "Jane <jane@example.net>",
         headers: dict[str, str] | None = None) -> bytes:
    msg = MIMEText(body, "plain", "utf-8")
    msg["From"] = sender
    msg["To"] = "marketing@carrier.example"
    msg["Subject"] = subject
    for k, v in (headers or {}).items():
        msg[k] = v
    return msg.as_bytes()


def kind(raw: bytes) -> str | None:
    return screen(parse(raw)).kind


def dsn(human_text: str = "Delivery to the following recipient failed permanently", inner_body: str = "hi") -> bytes:
    """An RFC 3464 report as Postfix writes it."""
    return (
        "From: Mail Delivery Subsystem <mailer-daemon@mx.example.net>\nTo: marketing@carrier.example\n"
        "Subject: Delivery Status Notification (Failure)\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        f"--B\nContent-Type: text/plain\n\n{human_text}\n"
        "--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
        "Final-Recipient: rfc822; x@example.org\nAction: failed\nStatus: 5.1.1\n\n"
        f"--B\nContent-Type: message/rfc822\n\n{inner_body}\n--B--\n").encode()


@pytest.mark.parametrize(("raw", "expected"), [
    (mail(headers={"Auto-Submitted": "auto-replied"}), "auto_reply"),
    (mail(headers={"X-Autoreply": "yes"}), "auto_reply"),
    (mail(headers={"Precedence": "auto_reply"}), "auto_reply"),
    (mail(headers={"Return-Path": "<>", "Precedence": "bulk"}), "auto_reply"),
    (mail("I am out of the office until Monday with limited access to email.", "Out of Office: privacy"), "auto_reply"),
    (mail("Estoy fuera de la oficina hasta el lunes.", "Respuesta automática: privacidad"), "auto_reply"),
    (mail("Estoy de vacaciones, responderé a mi regreso.", "Re: privacidad",
          headers={"Precedence": "junk"}), "auto_reply"),
    (mail("Thank you for contacting us. Your ticket number is 48213.", "[Ticket #48213] Re: privacy",
          sender="Support <noreply@helpdesk.example>"), "auto_reply"),
    (mail("Hemos recibido su mensaje y le responderemos pronto.", "Hemos recibido su solicitud",
          sender="no-reply@soporte.example"), "auto_reply"),
    (dsn(), "bounce"),
    (mail("Hi. This is the qmail-send program at mx.example.net.\nI'm afraid I wasn't able to deliver your message",
          "failure notice", sender="MAILER-DAEMON@mx.example.net"), "bounce"),
    (mail("Your message could not be delivered: mailbox is full", "Undeliverable: privacy",
          sender="postmaster@example.net", headers={"Return-Path": "<>"}), "bounce"),
    (mail("hi", headers={"X-Failed-Recipients": "x@example.net"}), "bounce"),
    (mail("verify you are human: please click the link to have your address added to my approved senders",
          "Please confirm your message", sender="verify@challenge.example"), "challenge"),
    (mail("hi", headers={"Feedback-Type": "abuse"}), "feedback_report"),
])
def test_machine_mail_is_screened_out(raw, expected):
    assert kind(raw) == expected


def test_feedback_report_rfc5965():
    outer = MIMEMultipart("report", report_type="feedback-report")
    outer["From"] = "fbl@isp.example"
    outer["Subject"] = "FW: privacy"
    outer.attach(MIMEText("This is an email abuse report"))
    report = MIMEText("Feedback-Type: abuse\nUser-Agent: SomeGenerator/1.0\nVersion: 1\n")
    report.replace_header("Content-Type", "message/feedback-report")
    outer.attach(report)
    assert kind(outer.as_bytes()) == "feedback_report"


def test_read_receipt():
    outer = MIMEMultipart("report", report_type="disposition-notification")
    outer["From"] = "jane@example.net"
    outer["Subject"] = "Read: privacy"
    outer.attach(MIMEText("Your message was displayed"))
    mdn = MIMEText("Final-Recipient: rfc822; jane@example.net\nDisposition: manual-action/MDN-sent-manually; displayed\n")
    mdn.replace_header("Content-Type", "message/disposition-notification")
    outer.attach(mdn)
    assert kind(outer.as_bytes()) == "read_receipt"


def notice() -> bytes:
    return compose(NoticeContent(key="k1", kind="opt_out_confirmation", language="en", recipient="jane@example.net"),
                   ComposeSettings(from_address="marketing@carrier.example", from_name="Privacy", carrier_name="Carrier"))


def test_our_own_notice_coming_back_is_screened():
    assert screen(parse(notice())).rule == "own_notice_loop_header"


def test_our_notice_returned_inside_a_bounce_or_inline():
    assert kind(dsn(inner_body=notice().decode())) == "bounce"
    inline = mail("This message was returned.\n\n" + notice().decode(), "Returned mail",
                  sender="someone@example.net")
    assert kind(inline) == "own_notice"


# --- a person's request is never screened out ----------------------------------------------------

def test_plain_requests_pass():
    assert kind(mail("Please stop using my information for marketing.")) is None
    assert kind(mail("dejen de usar mis datos", "privacidad")) is None
    assert kind(mail("opt me out", headers={"Auto-Submitted": "no"})) is None


def test_human_reply_quoting_a_bounce_still_reaches_classification():
    body = ("Please opt me out, my other address bounced:\n\n> Delivery to the following recipient failed "
            "permanently\n> Diagnostic-Code: smtp; 550 5.1.1 user unknown\n")
    s = screen(parse(mail(body, "Fwd: Undeliverable: privacy")))
    assert s.kind is None and s.rule.startswith("not_screened:")


def test_human_forwarding_a_bounce_with_a_request_above_it():
    body = ("unsubscribe me\n\n---------- Forwarded message ---------\nFrom: Mail Delivery Subsystem "
            "<mailer-daemon@googlemail.com>\nSubject: Delivery Status Notification (Failure)\n\n"
            "Your message wasn't delivered to x@y because the address couldn't be found.\n")
    assert kind(mail(body, "Fwd: Delivery Status Notification (Failure)")) is None


def test_human_mentioning_out_of_office_still_reaches_classification():
    body = "I am out of the office until Monday, but please opt me out of marketing now. Back on the 12th."
    assert kind(mail(body, "Out of office but important")) is None
    assert kind(mail("Estoy de vacaciones hasta el lunes pero dejen de usar mis datos ya", "Re: privacidad",
                     headers={"Precedence": "bulk"})) is None


def test_human_forwarding_our_notice_as_attachment_with_a_request():
    outer = MIMEMultipart("mixed")
    outer["From"] = "jane@example.net"
    outer["Subject"] = "Fw: confirmation"
    outer.attach(MIMEText("I never asked for this, stop using my data"))
    outer.attach(MIMEMessage(parse_notice_message()))
    assert kind(outer.as_bytes()) is None


def parse_notice_message():
    from email import message_from_bytes
    return message_from_bytes(notice())


def test_a_person_whose_address_is_postmaster_is_not_a_bounce():
    assert kind(mail("Hi, my question about the bill", "Bill", sender="Bob <postmaster@smallshop.example>")) is None


def test_leave_notice_written_by_a_person_is_not_an_auto_reply():
    body = "I will be taking vacation from Friday through Tuesday. I will be back on Wednesday."
    assert kind(mail(body, "Request for leave")) is None


def test_a_mail_clients_unsubscribe_button_is_a_persons_request():
    raw = mail("Apple Mail sent this email to unsubscribe from the message \u201cPrivacy\u201d.", "unsubscribe",
               headers={"Auto-Submitted": "auto-replied"})
    assert screen(parse(raw)).kind is None
    # the same header on a real auto-reply still screens it out
    assert kind(mail("I am away", "Re: privacy", headers={"Auto-Submitted": "auto-replied"})) == "auto_reply"


_FRAGMENTS = ["I am currently out of the office", "I'm away", "i will be out of the office", "I am on leave",
              "with limited access to email", "Estoy fuera de la oficina", "me encuentro fuera", "estaré ausente",
              "This is an automated reply", "this is an automatic message", "Esta es una respuesta automatica",
              "Please don't reply to this email", "Your ticket number is", "We have received your request",
              "hemos recibido su mensaje", "I will get back to you as soon as", "responderé lo antes posible",
              "stop notifications from this topic", "office", "reply", "your", "vacation", "auto", "ticket"]


def _case_twins(text: str) -> str:
    """text with the characters re.I takes for ASCII letters in place of s, i, I and k."""
    return text.replace("s", "\u017f").replace("i", "\u0131").replace("I", "\u0130").replace("k", "\u212a")


@settings(max_examples=500, deadline=None)
@given(parts=st.lists(st.one_of(st.sampled_from(_FRAGMENTS),
                                st.text(alphabet="abcIO .,\n'éñ\u0130\u017f", max_size=12)),
                      max_size=6))
def test_the_auto_reply_word_check_never_changes_the_answer(parts) -> None:  # noqa: ANN001
    from optout_daemon.pipeline import screen  # noqa: PLC0415

    body = " ".join(parts)
    twins = _case_twins(body)
    for text in (body, body.upper(), body.replace(" ", "  "), body + " año", twins, twins.upper()):
        assert screen._says_auto_reply(text) == bool(screen._AUTOREPLY_BODY.search(text))


def test_the_characters_re_i_takes_for_ascii_letters_are_the_twins_classify_and_screen_know() -> None:
    import re  # noqa: PLC0415

    from optout_daemon.pipeline import classify  # noqa: PLC0415

    letter = re.compile("[a-z]|" + "|".join("abcdefghijklmnopqrstuvwxyz"), re.I)
    found = "".join(chr(cp) for cp in range(0x80, 0x110000) if letter.fullmatch(chr(cp)))
    assert found == "".join(sorted(classify.ASCII_CASE_TWINS.pattern.strip("[]")))


_BOUNCE_SUBJECTS = ["Undeliverable: privacy", "Delivery Status Notification (Failure)", "Returned mail: see transcript",
                    "Mail delivery failed", "failure notice", "could not be delivered", "Non-Delivery", "nondelivery",
                    "Message not delivered", "mail could not", "returned to sender", "unable to deliver",
                    "Warning: message delayed 4 hours", "WARNING: could not send", "Notificación de estado de entrega",
                    "no se ha podido entregar", "Correo devuelto", "mensaje no entregado", "delayed mail",
                    "Permanent error", "undelivered mail", "mail system error", "loop alert", "error sending",
                    "mail error", "delivery notice", "bounce notification", "メールエラー", "未配達", "配信エラー",
                    "not member", "Rejected: hi", "deliver", "mail", "error", "stop", "CPNI"]


@settings(max_examples=500, deadline=None)
@given(parts=st.lists(st.one_of(st.sampled_from(_BOUNCE_SUBJECTS),
                                st.text(alphabet="abeiIOs .:-\u0130\u017f", max_size=8)),
                      max_size=4))
def test_the_bounce_subject_word_check_never_changes_the_answer(parts) -> None:  # noqa: ANN001
    from optout_daemon.pipeline import screen  # noqa: PLC0415

    subject = " ".join(parts)
    twins = _case_twins(subject)
    for text in (subject, subject.upper(), twins, twins.upper(), subject + " ñ"):
        expected = bool(screen._BOUNCE_SUBJECT.search(text))
        assert (screen._may_hold(text, screen._BOUNCE_SUBJECT_WORDS) and expected) == expected
