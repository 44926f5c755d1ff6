"""SMTP and LMTP intake over real sockets: 250 only after the commit, 451 when the store is down."""

from __future__ import annotations

import smtplib
import socket
import sqlite3
import ssl
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from optout_daemon.store.db import make_engine
from optout_daemon.store.tables import InboundMessage
from tests.conftest import make_settings
from tests.helpers import make_message, send


def stored(settings) -> int:
    engine = make_engine(settings.database.url)
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(InboundMessage)).scalar_one()
    engine.dispose()
    return n


def test_only_the_mailbox_addresses_are_accepted(tmp_path, daemon_thread):
    settings = make_settings(tmp_path, OPTOUT_MAILBOX_ADDRESSES="marketing@example.com,Privacy@Example.com")
    d = daemon_thread(settings)
    with smtplib.SMTP("127.0.0.1", d.smtp_port) as client:
        client.ehlo()
        client.mail("jane@example.net")
        assert client.rcpt("someone@example.com")[0] == 550
        assert client.rcpt("PRIVACY@example.com")[0] == 250
        code, reply = client.data(make_message().as_bytes())
        assert code == 250 and b"stored as" in reply
    assert stored(settings) == 1


def test_oversized_messages_are_refused_with_552(tmp_path, daemon_thread):
    settings = make_settings(tmp_path, OPTOUT_SMTP_MAX_MESSAGE_SIZE="2000")
    d = daemon_thread(settings)
    with pytest.raises(smtplib.SMTPResponseException) as err:
        send(d.smtp_port, make_message(body="x" * 5000))
    assert err.value.smtp_code == 552
    assert stored(settings) == 0


def test_the_same_message_twice_is_stored_and_processed_once(tmp_path, daemon_thread):
    settings = make_settings(tmp_path)
    d = daemon_thread(settings)
    msg = make_message(message_id="<twice@example.net>")
    send(d.smtp_port, msg)
    send(d.smtp_port, msg)
    assert stored(settings) == 1


def test_store_unavailable_answers_451_and_loses_nothing(tmp_path, daemon_thread):
    settings = make_settings(tmp_path, OPTOUT_DATABASE_BUSY_TIMEOUT_SECONDS="0.5")
    d = daemon_thread(settings)
    send(d.smtp_port, make_message(message_id="<before@example.net>"))
    # Another process holds the database's write lock: the store cannot commit.
    path = settings.database.url.split("///", 1)[1]
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(smtplib.SMTPDataError) as err:
            send(d.smtp_port, make_message(message_id="<during@example.net>"))
        assert err.value.smtp_code == 451
        assert b"4.3.0" in err.value.smtp_error
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    # The sender retries, as MTAs do after a 4xx: now it is accepted, and nothing was lost.
    send(d.smtp_port, make_message(message_id="<during@example.net>"))
    engine = make_engine(settings.database.url)
    with engine.connect() as conn:
        ids = conn.execute(select(InboundMessage.message_id).order_by(InboundMessage.id)).scalars().all()
    assert ids == ["<before@example.net>", "<during@example.net>"]


def test_lmtp_on_a_unix_socket_answers_once_per_recipient(tmp_path, daemon_thread):
    sock = tmp_path / "lmtp.sock"
    settings = make_settings(tmp_path, OPTOUT_SMTP_LMTP_SOCKET=str(sock),
                             OPTOUT_MAILBOX_ADDRESSES="marketing@example.com,privacy@example.com")
    daemon_thread(settings)
    client = smtplib.LMTP(str(sock))
    try:
        client.ehlo_or_helo_if_needed()
        refused = client.sendmail("jane@example.net", ["marketing@example.com", "privacy@example.com"],
                                  make_message().as_bytes())
        assert refused == {}
        # One reply per recipient (RFC 2033): smtplib read one, so the second is still waiting.
        assert client.getreply()[0] == 250
    finally:
        client.close()
    assert stored(settings) == 1


def test_starttls_with_the_configured_certificate(tmp_path, daemon_thread):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                           "-out", str(cert), "-days", "2", "-subj", "/CN=localhost"], capture_output=True)
    if made.returncode != 0:
        pytest.skip("openssl is not available to make a test certificate: install openssl")
    settings = make_settings(tmp_path, OPTOUT_SMTP_TLS_CERT=str(cert), OPTOUT_SMTP_TLS_KEY=str(key),
                             OPTOUT_SMTP_REQUIRE_STARTTLS="true")
    d = daemon_thread(settings)
    with smtplib.SMTP("127.0.0.1", d.smtp_port) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        code, _ = client.mail("jane@example.net")
        assert code == 530  # must issue STARTTLS first
        client.rset()
        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.check_hostname = False
        client.starttls(context=ctx)
        client.ehlo()
        assert client.sendmail("jane@example.net", ["marketing@example.com"], make_message().as_bytes()) == {}
    assert stored(settings) == 1


def test_sigterm_drain_answers_421_to_new_sessions(tmp_path, daemon_thread):
    settings = make_settings(tmp_path)
    d = daemon_thread(settings)
    client = smtplib.SMTP("127.0.0.1", d.smtp_port)
    client.ehlo()
    d.daemon.handler.draining = True  # what drain() sets first
    code, message = client.mail("jane@example.net")
    assert code == 421
    client.close()
    raw = socket.create_connection(("127.0.0.1", d.smtp_port), timeout=5)
    try:
        assert raw.recv(200).startswith(b"421 ")
    finally:
        raw.close()


def test_aiosmtpd_finds_the_same_hooks_through_the_short_dir(tmp_path) -> None:  # noqa: ANN001
    import asyncio  # noqa: PLC0415

    from aiosmtpd.lmtp import LMTP  # noqa: PLC0415
    from aiosmtpd.smtp import SMTP  # noqa: PLC0415

    from optout_daemon.intake.smtp import MailboxHandler, MailboxLMTP, MailboxSMTP  # noqa: PLC0415

    class PlainHandler:  # what MailboxHandler would show aiosmtpd without its short dir()
        pass

    for name in dir(MailboxHandler):
        if not name.startswith("__") and name != "__dir__":
            setattr(PlainHandler, name, getattr(MailboxHandler, name))

    async def hooks(server_class: type, handler: object) -> tuple:
        server = server_class(handler)
        return (sorted(server._smtp_methods), sorted(server._auth_methods), sorted(server._handle_hooks))

    async def compare() -> None:
        handler = MailboxHandler(make_settings(tmp_path), committer=None)
        plain = PlainHandler.__new__(PlainHandler)
        plain.__dict__.update(vars(handler))
        for ours, theirs in ((MailboxSMTP, SMTP), (MailboxLMTP, LMTP)):
            found = await hooks(ours, handler)
            assert found == await hooks(theirs, plain)
            assert "DATA" in found[0] and "RCPT" in found[2] and "PLAIN" in found[1]

    asyncio.run(compare())


_ATOM = "abcXYZ019!#$%&'*+/=?^_`{|}~-"


@settings(max_examples=400, deadline=None)
@given(local=st.lists(st.text(alphabet=_ATOM, min_size=1, max_size=8), min_size=1, max_size=3),
       domain=st.lists(st.text(alphabet="abz09-", min_size=1, max_size=8), min_size=1, max_size=3),
       rest=st.sampled_from(["", " SIZE=100", "  SIZE=1 BODY=8BITMIME", "SIZE=1", "\tSMTPUTF8", " (c) SIZE=1",
                             ' "x"', " ", "<", ">"]),
       before=st.sampled_from(["", " ", "x", '"q"@']))
def test_plain_paths_give_what_aiosmtpd_gives(local, domain, rest, before) -> None:  # noqa: ANN001
    import asyncio  # noqa: PLC0415

    from aiosmtpd.smtp import SMTP  # noqa: PLC0415

    from optout_daemon.intake.smtp import MailboxSMTP  # noqa: PLC0415

    arg = f"<{before}{'.'.join(local)}@{'.'.join(domain)}>{rest}"

    async def both() -> tuple:
        class Handler:
            pass
        return MailboxSMTP(Handler())._getaddr(arg), SMTP(Handler())._getaddr(arg)

    ours, theirs = asyncio.run(both())
    assert ours == theirs
