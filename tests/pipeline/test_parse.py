"""parse: text from any part and charset, and what the sender wrote apart from quotes and forwards."""

from __future__ import annotations

from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optout_daemon.pipeline import parse as parse_module
from optout_daemon.pipeline.parse import (
    decode_bytes,
    html_to_text,
    parse,
    split_message,
    split_reply,
)

NOTICE = "We may use your CPNI for marketing.\nTo opt out, reply to this message."


def raw(body: bytes | str, ctype: str = "text/plain; charset=utf-8", headers: str = "", cte: str = "8bit") -> bytes:
    if isinstance(body, str):
        body = body.encode("utf-8")
    head = (f"From: Jane Roe <Jane@Example.NET>\nTo: marketing@carrier.example\nSubject: Re: privacy\n"
            f"Message-ID: <m1@example.net>\nMIME-Version: 1.0\nContent-Type: {ctype}\n"
            f"Content-Transfer-Encoding: {cte}\n{headers}\n")
    return head.encode() + body


def test_plain_message_fields():
    p = parse(raw("Please opt me out.\n"))
    assert (p.from_address, p.from_name, p.subject, p.message_id) == ("jane@example.net", "Jane Roe", "Re: privacy",
                                                                      "<m1@example.net>")
    assert p.new_text == "Please opt me out."
    assert p.language == "en" and not p.defects


def test_html_only_is_turned_into_text_without_scripts_or_styles():
    html = ("<html><head><style>p{color:red}</style><script>alert('x')</script></head><body>"
            "<p>Dejen de usar mis datos&nbsp;por favor</p><p>Gracias &amp; saludos</p>"
            "<blockquote>To opt out, reply</blockquote></body></html>")
    p = parse(raw(html, "text/html; charset=utf-8"))
    assert "alert" not in p.text and "color" not in p.text
    assert "Dejen de usar mis datos por favor" in p.new_text and "Gracias & saludos" in p.new_text
    assert "To opt out" in p.quoted_text and "To opt out" not in p.new_text
    assert p.language == "es"


def test_alternative_prefers_plain_and_falls_back_to_html_when_plain_is_empty():
    msg = MIMEMultipart("alternative")
    msg.attach(MIMEText("plain words", "plain", "utf-8"))
    msg.attach(MIMEText("<p>html words</p>", "html", "utf-8"))
    assert parse(msg.as_bytes()).new_text == "plain words"
    msg = MIMEMultipart("alternative")
    msg.attach(MIMEText(" ", "plain", "utf-8"))
    msg.attach(MIMEText("<p>only <b>html</b> here</p>", "html", "utf-8"))
    assert parse(msg.as_bytes()).new_text == "only html here"


def test_outlook_and_yahoo_html_quotes_are_cut():
    html = ("<div>Opt me out</div><div id='divRplyFwdMsg'><b>From:</b> Carrier<br><b>Sent:</b> Monday<br>"
            "<b>To:</b> me<br><b>Subject:</b> Privacy</div><div>To opt out, reply</div><hr><div>more</div>")
    p = parse(raw(html, "text/html; charset=utf-8"))
    assert p.new_text == "Opt me out"
    assert "To opt out" in p.quoted_text


@pytest.mark.parametrize(("declared", "data", "expected"), [
    ("iso-8859-1", "Información".encode(), "Información"),  # declared Latin-1, written in UTF-8
    ("utf-8", "Información".encode("cp1252"), "Información"),  # declared UTF-8, written in Windows-1252
    ("x-no-such-charset", "Información".encode(), "Información"),
    ("us-ascii", "ñandú".encode(), "ñandú"),
    ("iso-8859-1", "Información".encode("latin-1"), "Información"),
    ("koi8-r", "Привет".encode("koi8-r"), "Привет"),
])
def test_declared_and_misdeclared_charsets(declared, data, expected):
    assert decode_bytes(data, declared) == expected
    p = parse(raw(data, f"text/plain; charset={declared}"))
    assert expected in p.text


def test_encoded_words_with_bogus_charset_and_raw_8bit_headers():
    head = ("From: =?x-bogus?Q?Jos=C3=A9?= <jose@example.net>\nSubject: =?utf-8?B?RGFyIGRlIGJhamE=?= \xf1\n"
            "To: a@b.example\n\nbaja\n").encode("latin-1")
    p = parse(head)
    assert p.subject.startswith("Dar de baja") and p.subject.endswith("ñ")
    assert p.from_address == "jose@example.net"


def test_base64_and_quoted_printable_bodies():
    import base64
    p = parse(raw(base64.b64encode(b"Quiero darme de baja").decode(), cte="base64"))
    assert p.new_text == "Quiero darme de baja"
    p = parse(raw("Opt me =\nout =C3=B1", cte="quoted-printable"))
    assert p.new_text == "Opt me out ñ"


@pytest.mark.parametrize("prefix", [b"\xef\xbb\xbf", b"From jane@example.net Mon Jan  5 09:14:00 2026\n", b"\n\n  "])
def test_bom_mbox_line_and_leading_blank_lines(prefix):
    p = parse(prefix + raw("stop"))
    assert p.from_address == "jane@example.net" and p.new_text == "stop"


def test_cr_only_line_ends():
    p = parse(raw("line one\nline two").replace(b"\n", b"\r"))
    assert p.subject == "Re: privacy" and "line two" in p.new_text


@pytest.mark.parametrize("data", [b"", b"x", b"\x00\xff\xfe", b"no headers at all, just text\n",
                                  b"From: " + b"<a@b>," * 20000 + b"\n\nbody"])
def test_garbage_never_raises(data):
    p = parse(data)
    assert isinstance(p.new_text, str)


def test_attached_message_is_forwarded_not_new_text():
    outer = MIMEMultipart("mixed")
    outer["From"] = "jane@example.net"
    outer["Subject"] = "Fw: your privacy notice"
    outer.attach(MIMEText("please opt me out", "plain", "utf-8"))
    inner = MIMEText(NOTICE, "plain", "utf-8")
    inner["From"] = "marketing@carrier.example"
    inner["X-Optout-Daemon-Notice"] = "opt_out_confirmation"
    from email.mime.message import MIMEMessage
    outer.attach(MIMEMessage(inner))
    p = parse(outer.as_bytes())
    assert p.new_text == "please opt me out"
    assert "To opt out" in p.forwarded_text
    assert "x-optout-daemon-notice" in p.inner_headers and "x-optout-daemon-notice" not in p.headers


# --- split_reply: replies from real clients -------------------------------------------------------

QUOTE = "> " + NOTICE.replace("\n", "\n> ")

CASES = {
    "gmail_top": (f"Opt me out\n\nOn Mon, Jan 5, 2026 at 9:14 AM Carrier <m@c.example> wrote:\n{QUOTE}", "Opt me out"),
    "gmail_wrapped": (f"Opt me out\n\nOn Mon, Jan 5, 2026 at 9:14 AM Carrier Privacy Team <\nmarketing@carrier.example> "
                      f"wrote:\n\n{QUOTE}", "Opt me out"),
    "apple": (f"Stop\n\nSent from my iPhone\n\nOn Jan 5, 2026, at 9:14 AM, Carrier <m@c.example> wrote:\n\n{QUOTE}",
              "Stop"),
    "gmail_es": (f"Denme de baja\n\nEl lun, 5 ene 2026 a las 9:14, Carrier (<m@c.example>) escribió:\n{QUOTE}",
                 "Denme de baja"),
    "outlook": (f"Unsubscribe me.\n\n________________________________\nFrom: Carrier <m@c.example>\n"
                f"Sent: Monday, January 5, 2026 9:14 AM\nTo: Jane\nSubject: Privacy\n\n{NOTICE}", "Unsubscribe me."),
    "outlook_no_rule": (f"Unsubscribe me.\n\nFrom: Carrier <m@c.example>\nSent: Monday, January 5, 2026\n"
                        f"To: Jane\nSubject: Privacy\n\n{NOTICE}", "Unsubscribe me."),
    "outlook_es": (f"No usen mis datos\n\nDe: Carrier <m@c.example>\nEnviado: lunes, 5 de enero de 2026 9:14\n"
                   f"Para: Juana\nAsunto: Privacidad\n\n{NOTICE}", "No usen mis datos"),
    "original_message": (f"remove me\n-----Original Message-----\n{NOTICE}", "remove me"),
    "bottom_post": (f"On Mon, Jan 5, 2026 at 9:14 AM Carrier <m@c.example> wrote:\n{QUOTE}\n\nopt me out please",
                    "opt me out please"),
    "interleaved": (f"{QUOTE}\nyes, opt me out\n> Thanks\nand my wife too", "yes, opt me out\nand my wife too"),
    "signature": ("Please stop using my data.\n-- \nJane Roe\n555-0100", "Please stop using my data."),
    "gmail_forward": (f"opt me out\n\n---------- Forwarded message ---------\nFrom: Carrier <m@c.example>\n"
                      f"Date: Mon, Jan 5, 2026\nSubject: Privacy\n\n{NOTICE}", "opt me out"),
    "apple_forward": (f"opt me out\n\nBegin forwarded message:\n\nFrom: Carrier <m@c.example>\n{NOTICE}", "opt me out"),
    "outlook_forward": (f"opt me out\n\nFrom: Carrier <m@c.example>\nSent: Monday\nTo: Jane\nSubject: FW: Privacy\n\n"
                        f"{NOTICE}", "opt me out"),
    "spanish_forward": (f"quiero darme de baja\n\n---------- Mensaje reenviado ---------\nDe: Carrier\n{NOTICE}",
                        "quiero darme de baja"),
    "not_a_header": ("From: my desk. Date: today. Please opt me out", "From: my desk. Date: today. Please opt me out"),
    "on_in_prose": ("On second thought, opt me out.\nThanks", "On second thought, opt me out.\nThanks"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_split_reply(name):
    body, expected = CASES[name]
    new, quoted, signature = split_reply(body)
    assert new == expected
    assert "reply to this message" not in new


def test_forward_is_reported_apart_from_quote():
    new, quoted, _, forwarded = split_message(CASES["gmail_forward"][0])
    assert new == "opt me out" and "To opt out" in forwarded and not quoted


def test_signature_is_kept_for_resolve():
    _, _, signature = split_reply("Stop.\n-- \nJane Roe\nAcct 1234-5678-90")
    assert "1234-5678-90" in signature


@pytest.mark.parametrize("body", ["Sent from my iPhone", "\nSent from my Galaxy\n", "Enviado desde mi iPhone",
                                  "Get Outlook for Android\n\n"])
def test_a_body_that_is_only_a_mail_apps_line_says_nothing(body: str) -> None:
    # the request is in the subject; the app's line must not be read as what the customer wrote
    new, _, signature = split_reply(body)
    assert new == "" and signature == body.strip()


@pytest.mark.parametrize("body", ["Sent from my phone please stop", "Sent via email, please stop",
                                  "Sent from my iPhone\nplease opt me out"])
def test_a_mail_apps_words_followed_by_a_request_stay_the_customers(body: str) -> None:
    assert "stop" in split_reply(body)[0] or "opt me out" in split_reply(body)[0]


def test_html_to_text_handles_deep_garbage():
    assert "x" in html_to_text("<div>" * 50_000 + "x" + "</p>" * 10)


def test_authentication_results_parsed():
    p = parse(raw("hi", headers="Authentication-Results: mx.carrier.example (comment; x);\n dkim=pass header.d=example.net;"
                                "\n dmarc=pass (p=reject) header.from=example.net\n"))
    methods = {(r.authserv_id, r.method, r.result, r.domain) for r in p.auth_results}
    assert ("mx.carrier.example", "dmarc", "pass", "example.net") in methods
    assert ("mx.carrier.example", "dkim", "pass", "example.net") in methods


_MARKUP = ["<div>", "</div>", "<P>", "</p>", "<br>", "<blockquote>", "</blockquote>", "<hr>", "<script>", "</script>",
           "<style>", "<head>", "</head>", "</Title>", "<h1>", "text", " more ", "\n", "\r\n", "&amp;", "&", "&#x27;",
           "&#39", "&nbsp;", "a < b", "x > y", "<!-- c -->", "<!DOCTYPE html>", "<a href=x>", "</a>",
           '<div class="yahoo_quoted">', "&quot", "&am", "<", ">", "</", "<1>", "<br/>", "<div >", "&#", "\xa0"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_MARKUP), max_size=14).map("".join))
def test_bare_tag_markup_is_read_as_html_parser_reads_it(markup: str) -> None:
    fast, reference = parse_module._TextExtractor(), parse_module._TextExtractor()
    reference.feed(markup)
    reference.close()
    if fast.feed_bare_tags(markup):
        assert fast.out == reference.out
    else:
        assert fast.out == []


_CONTENT_TYPE = ["text/plain", "TEXT/HTML", "a=b", '"', ";", " ", "\t", "\r\n ", "charset", "Charset", "charset*",
                 "=", "utf-8", "ISO-8859-1", "x:y", "'", "\\", "é", "format=flowed", "*0"]


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(_CONTENT_TYPE), max_size=10).map("".join))
def test_the_charset_is_the_email_packages(value: str) -> None:
    from email.message import Message  # noqa: PLC0415
    part = Message()
    part["Content-Type"] = value
    try:
        expected = part.get_content_charset() if "charset" in value.lower() else None
    except Exception:  # noqa: BLE001
        expected = None
    assert parse_module._content_charset(part) == expected


@pytest.mark.parametrize("footer", [
    "This email and any attachments are confidential and intended solely for the addressee. If you have "
    "received this email in error please notify the sender and delete it.",
    "CONFIDENTIALITY NOTICE: The contents of this message are private.",
    "*** The information contained in this e-mail is confidential and may be privileged. ***",
    "Este mensaje y sus anexos son confidenciales y para uso exclusivo del destinatario. Si lo recibió por "
    "error, bórrelo.",
    "AVISO DE CONFIDENCIALIDAD: la información de este correo es reservada.",
])
def test_a_confidentiality_footer_is_the_signature_not_a_request(footer: str) -> None:
    # its "notify the sender and delete it" asks the reader, not the carrier
    body = f"Please register an opt-out for all our corporate lines.\n\nNathaniel Brooks\nT: 414 555 0133\n{footer}"
    new, _, signature = split_reply(body)
    assert "corporate lines" in new and "Brooks" in new
    assert signature == footer


def test_a_request_that_calls_the_email_confidential_is_still_read():
    assert split_reply("This email is confidential. Stop marketing to me.")[0] == (
        "This email is confidential. Stop marketing to me.")
    assert "stop using my data" in split_reply(
        "Hi,\nThis message is confidential: stop using my data for ads.")[0]
