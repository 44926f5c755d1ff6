"""policy.support_forward_address: unrelated mail is passed on to support, once, through the outbox."""

from __future__ import annotations

import email
from email import policy

from sqlalchemy import select

from optout_daemon.notify.outbox import Outbox, SmtpRelaySender
from optout_daemon.pipeline.classify import KeywordClassifier
from optout_daemon.pipeline.run import Pipeline
from optout_daemon.store.customers import import_rows, read_csv
from optout_daemon.store.db import Arrival, make_engine, store_arrivals, upgrade
from optout_daemon.store.tables import InboundMessage, Notice
from optout_daemon.worker import Worker
from tests.conftest import make_settings
from tests.helpers import make_message


def test_unrelated_mail_goes_to_support_once_and_bounces_and_auto_replies_never(tmp_path, customers_csv,
                                                                                  smtp_sink):
    settings = make_settings(tmp_path, OPTOUT_POLICY_SUPPORT_FORWARD_ADDRESS="support@carrier.example",
                             OPTOUT_NOTICES_RELAY_HOST="127.0.0.1", OPTOUT_NOTICES_RELAY_PORT=str(smtp_sink.port),
                             OPTOUT_NOTICES_RELAY_STARTTLS="false")
    engine = make_engine(settings.database.url)
    upgrade(engine)
    import_rows(engine, read_csv(customers_csv, "US"))
    question = make_message(subject="Store hours", body="What time do you open on Sunday?").as_bytes()
    auto_reply = make_message(subject="Out of office", body="I am away until Monday.",
                              headers={"Auto-Submitted": "auto-replied"}).as_bytes()
    bounce = make_message(sender="MAILER-DAEMON@mx.example.net", subject="Undelivered Mail Returned to Sender",
                          body="This is the mail system at host mx.example.net.\n\nI'm sorry to have to inform "
                               "you that your message could not be delivered.").as_bytes()
    opt_out = make_message().as_bytes()
    store_arrivals(engine, [Arrival(m, "smtp") for m in (question, auto_reply, bounce, opt_out)])
    worker = Worker(engine, Pipeline.from_settings(settings, KeywordClassifier()), settings)
    assert worker.run_batch() == 4
    with engine.connect() as conn:
        assert conn.execute(select(InboundMessage.status).order_by(InboundMessage.id)).scalars().all() == [
            "ignored", "ignored", "ignored", "processed"]
        kinds = conn.execute(select(Notice.kind, Notice.recipient).order_by(Notice.id)).all()
    assert sorted(kinds) == [("opt_out_confirmation", "jane@example.net"),
                             ("support_forward", "support@carrier.example")]

    outbox = Outbox(engine, settings, SmtpRelaySender(settings.notices))
    assert outbox.drain_once().sent == 2
    assert outbox.drain_once().sent == 0
    forwards = [m for m in smtp_sink.messages if m[1] == ["support@carrier.example"]]
    assert len(forwards) == 1
    msg = email.message_from_bytes(forwards[0][2], policy=policy.default)
    assert msg["Subject"] == "Fwd: Store hours" and msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Optout-Daemon-Notice"] == "support_forward"
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "original.eml"
    assert attachment.get_content() == question  # byte for byte
    assert "unrelated" in msg.get_body(("plain",)).get_content()

    # Replayed (a crash before the message's status was committed): nothing is forwarded twice.
    with engine.begin() as conn:
        conn.execute(InboundMessage.__table__.update().values(status="received", claimed_by="", claim_expires_at=None))
    worker.run_batch()
    assert outbox.drain_once().sent == 0
    assert len([m for m in smtp_sink.messages if m[1] == ["support@carrier.example"]]) == 1
