"""The outbox against a real SMTP server: retries, permanent failures, languages, recipients."""

from __future__ import annotations

import email
import json

from sqlalchemy import select, update

from optout_daemon.notify.outbox import MaildirSender, Outbox, SmtpRelaySender
from optout_daemon.pipeline.types import NoticeRequest
from optout_daemon.store import ledger
from optout_daemon.store.db import make_engine, upgrade
from optout_daemon.store.tables import Notice, ReviewItem, utcnow
from tests.conftest import make_settings
from tests.helpers import SmtpSink, maildir_files


def queue(engine, *requests, origin="msg1"):
    with engine.begin() as conn:
        return ledger.queue_notices(conn, requests, origin=origin, customer_id=None, inbound_message_id=None,
                                    consent_event_id=None, in_reply_to="<req@example.net>",
                                    references="<req@example.net>")


def setup(tmp_path, sink_port=None, **env):
    if sink_port:
        env.update(OPTOUT_NOTICES_RELAY_HOST="127.0.0.1", OPTOUT_NOTICES_RELAY_PORT=str(sink_port),
                   OPTOUT_NOTICES_RELAY_STARTTLS="false")
    settings = make_settings(tmp_path, **env)
    engine = make_engine(settings.database.url)
    upgrade(engine)
    sender = SmtpRelaySender(settings.notices) if sink_port else MaildirSender(settings.notices.maildir)
    return settings, engine, Outbox(engine, settings, sender)


def test_spanish_request_gets_a_spanish_notice_without_cpni(tmp_path, smtp_sink):
    settings, engine, outbox = setup(tmp_path, smtp_sink.port)
    queue(engine, NoticeRequest("opt_out_confirmation", "juan@example.org", "es"))
    assert outbox.drain_once().sent == 1
    _, rcpts, raw = smtp_sink.messages[0]
    msg = email.message_from_bytes(raw)
    body = msg.get_payload(decode=True).decode("utf-8")
    assert rcpts == ["juan@example.org"]
    assert "NO desea" in body and "no tiene costo" in body
    assert msg["Content-Language"] == "es" and msg["Auto-Submitted"] == "auto-replied"
    assert msg["References"] == "<req@example.net>"


def test_temporary_failures_retry_with_backoff_then_succeed(tmp_path):
    answers = iter(["451 4.3.0 try later", "421 4.7.0 busy", "250 OK"])
    sink = SmtpSink(reply=lambda envelope: next(answers))
    sink.start()
    try:
        settings, engine, outbox = setup(tmp_path, sink.port, OPTOUT_NOTICES_BACKOFF_BASE_SECONDS="60")
        queue(engine, NoticeRequest("opt_out_confirmation", "jane@example.net", "en"))
        assert outbox.drain_once().retried == 1
        with engine.connect() as conn:
            row = conn.execute(select(Notice)).one()
        assert row.status == "pending" and row.attempts == 1 and "451" in row.last_error
        delay = (row.next_attempt_at - utcnow()).total_seconds()
        assert 25 < delay <= 60  # base 60 s, jitter between half and all of it
        assert outbox.drain_once().retried == 0  # not due yet
        for _ in range(2):
            with engine.begin() as conn:
                conn.execute(update(Notice.__table__).values(next_attempt_at=utcnow()))
            outbox.drain_once()
        with engine.connect() as conn:
            row = conn.execute(select(Notice)).one()
        assert row.status == "sent" and row.attempts == 3
        assert len(sink.messages) == 1
    finally:
        sink.stop()


def test_a_permanent_failure_marks_the_notice_failed_and_opens_a_review_item(tmp_path):
    sink = SmtpSink(reply=lambda envelope: "550 5.1.1 no such user")
    sink.start()
    try:
        settings, engine, outbox = setup(tmp_path, sink.port)
        [notice_id] = queue(engine, NoticeRequest("opt_out_confirmation", "gone@example.net", "en"))
        assert outbox.drain_once().failed == 1
        with engine.connect() as conn:
            row = conn.execute(select(Notice)).one()
            item = conn.execute(select(ReviewItem)).one()
        assert row.status == "failed" and "550" in row.last_error
        assert item.notice_id == notice_id and "notice_failed" in json.loads(item.reasons)
    finally:
        sink.stop()


def test_relay_down_is_a_temporary_failure(tmp_path):
    settings, engine, outbox = setup(tmp_path, 1)  # nothing listens on port 1
    queue(engine, NoticeRequest("opt_out_confirmation", "jane@example.net", "en"))
    assert outbox.drain_once().retried == 1


def test_a_notice_is_queued_once_and_written_once(tmp_path):
    settings, engine, outbox = setup(tmp_path)
    request = NoticeRequest("opt_out_confirmation", "jane@example.net", "en")
    queue(engine, request)
    queue(engine, request)  # a replay of the same decision queues nothing
    assert outbox.drain_once().sent == 1
    # The same notice handed to the Maildir again (a crash after writing, before recording): one file.
    with engine.connect() as conn:
        key = conn.execute(select(Notice.key)).scalar_one()
    outbox.sender.send(key, "m@example.com", "jane@example.net", b"Subject: x\r\n\r\nx\r\n")
    assert len(maildir_files(tmp_path / "notices")) == 1


def test_a_crash_during_relay_handover_is_never_resent(tmp_path, smtp_sink):
    settings, engine, outbox = setup(tmp_path, smtp_sink.port)
    queue(engine, NoticeRequest("opt_out_confirmation", "jane@example.net", "en"))
    outbox.claim(10)  # marked `sending`, then the process "dies"
    with engine.begin() as conn:
        conn.execute(update(Notice.__table__).values(claimed_by="outbox:elsewhere:1",
                                                     claim_expires_at=utcnow()))
    assert outbox.recover() == 1
    assert outbox.drain_once().sent == 0
    with engine.connect() as conn:
        assert conn.execute(select(Notice.status)).scalar_one() == "uncertain"
        assert "notice_delivery_uncertain" in conn.execute(select(ReviewItem.reasons)).scalar_one()
    assert smtp_sink.messages == []


class _DiesBeforeMarking(MaildirSender):
    """The process dies after the batch is written, before the notices are marked sent."""

    def flush(self) -> None:
        super().flush()
        raise KeyboardInterrupt


def test_a_maildir_batch_is_marked_sent_together_and_a_crash_before_marking_sends_nothing_twice(tmp_path):
    settings, engine, _ = setup(tmp_path)
    for who in ("jane", "joe", "ana"):
        queue(engine, NoticeRequest("opt_out_confirmation", f"{who}@example.net", "en"), origin=who)
    dying = Outbox(engine, settings, _DiesBeforeMarking(settings.notices.maildir), ident="outbox:dead:1")
    try:
        dying.drain_once()
    except KeyboardInterrupt:
        pass
    with engine.connect() as conn:
        assert set(conn.execute(select(Notice.status)).scalars()) == {"sending"}
    assert len(maildir_files(tmp_path / "notices")) == 3

    with engine.begin() as conn:  # its lease runs out
        conn.execute(update(Notice.__table__).values(claim_expires_at=utcnow()))
    restarted = Outbox(engine, settings, MaildirSender(settings.notices.maildir))
    assert restarted.recover() == 3
    assert restarted.drain_once().sent == 0
    with engine.connect() as conn:
        assert set(conn.execute(select(Notice.status)).scalars()) == {"sent"}
    assert len(maildir_files(tmp_path / "notices")) == 3

    queue(engine, NoticeRequest("opt_out_confirmation", "li@example.net", "en"), origin="li")
    assert restarted.drain_once().sent == 1
    with engine.connect() as conn:
        assert set(conn.execute(select(Notice.status)).scalars()) == {"sent"}


def test_a_batch_goes_to_the_relay_over_one_connection_and_a_refused_recipient_does_not_break_it(tmp_path):
    sink = SmtpSink(reply=lambda env: "550 5.1.1 no such user" if env.rcpt_tos == ["gone@example.net"] else "250 OK")
    sink.start()
    try:
        settings, engine, outbox = setup(tmp_path, sink.port)
        for who in ("jane", "gone", "joe"):
            queue(engine, NoticeRequest("opt_out_confirmation", f"{who}@example.net", "en"), origin=who)
        result = outbox.drain_once()
        assert (result.sent, result.failed) == (2, 1)
        assert sorted(r for _, (r,), _ in sink.messages) == ["jane@example.net", "joe@example.net"]
        assert len(sink.connections) == 1
        with engine.connect() as conn:
            assert sorted(conn.execute(select(Notice.status)).scalars()) == ["failed", "sent", "sent"]
        # The next batch opens a new connection (the last one was closed with QUIT).
        queue(engine, NoticeRequest("opt_out_confirmation", "ana@example.net", "en"), origin="ana")
        assert outbox.drain_once().sent == 1
        assert len(sink.connections) == 2
    finally:
        sink.stop()
