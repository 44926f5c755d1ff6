"""The confirmation as a mail client and an MTA read it."""

from __future__ import annotations

import email
from email import policy

from optout_daemon.notify.compose import ComposeSettings, NoticeContent, clear_caches, compose, message_id_for

SETTINGS = ComposeSettings("marketing@carrier.example", "Servicio al Cliente Ñandú", "Carrier Inc.")


def parsed(raw: bytes):
    return email.message_from_bytes(raw, policy=policy.default)


def test_a_notice_has_every_header_once_and_a_readable_body():
    raw = compose(NoticeContent("k1", "opt_out_confirmation", "es", "juan@example.org", "<req@example.net>",
                                "<a@example.net>  <req@example.net>"), SETTINGS)
    assert b"\r\n\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    msg = parsed(raw)
    for name in ("From", "To", "Subject", "Date", "Message-ID", "In-Reply-To", "References", "Auto-Submitted",
                 "X-Auto-Response-Suppress", "Content-Language", "X-Optout-Daemon-Notice", "MIME-Version",
                 "Content-Type"):
        assert len(msg.get_all(name) or []) == 1, name
    assert msg["To"] == "juan@example.org"
    assert msg["From"].addresses[0].display_name == "Servicio al Cliente Ñandú"
    assert msg["Message-ID"] == message_id_for("k1", "carrier.example")
    assert msg["References"] == "<a@example.net> <req@example.net>"
    assert msg["Content-Language"] == "es" and msg["Auto-Submitted"] == "auto-replied"
    assert "no tiene costo" in msg.get_content()


def test_long_references_are_folded_and_nothing_from_the_request_starts_a_header():
    refs = " ".join(f"<thread-{i}-0123456789abcdef@mail.example.net>" for i in range(30))
    raw = compose(NoticeContent("k2", "opt_out_confirmation", "en", "jane@example.net",
                                "<req@example.net>\r\nBcc: victim@example.org", refs), SETTINGS)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n") if line.startswith((b"References", b" <thread")))
    msg = parsed(raw)
    assert msg["Bcc"] is None
    assert msg["References"].split() == refs.split()
    assert msg["In-Reply-To"].startswith("<req@example.net>")


def test_each_notice_gets_its_own_recipient_and_id_and_templates_reload(tmp_path):
    a = parsed(compose(NoticeContent("a", "opt_out_confirmation", "en", "a@example.net"), SETTINGS))
    b = parsed(compose(NoticeContent("b", "opt_out_confirmation", "en", "b@example.net"), SETTINGS))
    assert (a["To"], b["To"]) == ("a@example.net", "b@example.net") and a["Message-ID"] != b["Message-ID"]
    assert a.get_content() == b.get_content() and a["In-Reply-To"] is None

    (tmp_path / "opt_out_confirmation.en.txt").write_text("Subject: Done\n\nFirst wording.\n")
    custom = ComposeSettings("m@carrier.example", "Carrier", "Carrier", template_dir=str(tmp_path))
    assert "First wording." in parsed(compose(NoticeContent("c", "opt_out_confirmation", "en", "c@x.example"),
                                              custom)).get_content()
    (tmp_path / "opt_out_confirmation.en.txt").write_text("Subject: Done\n\nSecond wording.\n")
    clear_caches()  # what SIGHUP does
    assert "Second wording." in parsed(compose(NoticeContent("c", "opt_out_confirmation", "en", "c@x.example"),
                                               custom)).get_content()
