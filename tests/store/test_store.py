"""The store on SQLite and PostgreSQL: idempotent acceptance, claims, the append-only ledger."""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from optout_daemon.pipeline.classify import KeywordClassifier
from optout_daemon.pipeline.run import Pipeline
from optout_daemon.pipeline.types import ConsentStateValue
from optout_daemon.store import ledger
from optout_daemon.store.customers import import_rows, read_csv
from optout_daemon.store.db import Arrival, make_engine, store_arrivals, upgrade
from optout_daemon.store.tables import ConsentEvent, InboundMessage, Notice, ReviewItem, utcnow
from optout_daemon.worker import Worker
from tests.conftest import make_settings
from tests.helpers import make_message


@pytest.fixture
def store(store_url, tmp_path, customers_csv):
    settings = make_settings(tmp_path, OPTOUT_DATABASE_URL=store_url)
    engine = make_engine(store_url)
    upgrade(engine)
    import_rows(engine, read_csv(customers_csv, "US"))
    yield settings, engine
    engine.dispose()


def raw(body="Please stop using my information for marketing.", sender="Jane Doe <jane@example.net>", mid=None,
        subject="Privacy"):
    return make_message(body=body, sender=sender, message_id=mid, subject=subject).as_bytes()


def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_same_message_delivered_twice_is_stored_once(store):
    _, engine = store
    message = raw(mid="<dup@example.net>")
    first = store_arrivals(engine, [Arrival(message, "smtp")])
    second = store_arrivals(engine, [Arrival(message, "smtp"), Arrival(message, "smtp")])
    assert second == [first[0], first[0]]
    assert count(engine, InboundMessage.__table__) == 1
    # Same Message-ID, different content: a different message.
    store_arrivals(engine, [Arrival(raw(body="Other text", mid="<dup@example.net>"), "smtp")])
    assert count(engine, InboundMessage.__table__) == 2


def test_a_stored_message_reads_back_whole_and_in_time_order(store):
    """The SMTP path writes through the driver on SQLite: the row must be what the ORM expects."""
    _, engine = store
    before = utcnow()
    message = raw(mid="<whole@example.net>")
    [row_id] = store_arrivals(engine, [Arrival(message, "lmtp", mail_from="jane@example.net",
                                               rcpt_to=("marketing@example.com", "privacy@example.com"))])
    after = utcnow()
    with engine.connect() as conn:
        row = conn.execute(select(InboundMessage.__table__).where(InboundMessage.id == row_id)).one()
        assert conn.execute(select(func.count()).where(InboundMessage.received_at >= before,
                                                       InboundMessage.received_at <= after)).scalar() == 1
    assert row.raw == message and row.size == len(message) and row.source == "lmtp"
    assert row.message_id == "<whole@example.net>" and row.status == "received" and row.attempts == 0
    assert row.rcpt_to == "marketing@example.com,privacy@example.com" and row.mail_from == "jane@example.net"
    assert before.replace(tzinfo=None) <= row.received_at.replace(tzinfo=None) <= after.replace(tzinfo=None)
    if engine.dialect.name == "sqlite":  # the text the ORM writes, so that time comparisons in SQL hold
        with engine.connect() as conn:
            stored = conn.exec_driver_sql("SELECT received_at FROM inbound_messages WHERE id = ?", (row_id,)).scalar()
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", stored), stored


def test_consent_events_cannot_be_changed_or_deleted(store):
    _, engine = store
    with engine.begin() as conn:
        event_id = ledger.apply_consent(conn, customer_id=1, new_state=ConsentStateValue.OPTED_OUT, method="email",
                                        decided_by="daemon", default="opted_in")
    assert event_id is not None
    for statement in ("UPDATE consent_events SET new_state = 'opted_in'", "DELETE FROM consent_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(text(statement))
    assert count(engine, ConsentEvent.__table__) == 1


def test_a_change_to_the_same_state_records_nothing(store):
    _, engine = store
    with engine.begin() as conn:
        assert ledger.apply_consent(conn, customer_id=2, new_state=ConsentStateValue.OPTED_IN, method="email",
                                    decided_by="daemon", default="opted_in") is None
        first = ledger.apply_consent(conn, customer_id=2, new_state=ConsentStateValue.OPTED_OUT, method="email",
                                     decided_by="daemon", default="opted_in")
        again = ledger.apply_consent(conn, customer_id=2, new_state=ConsentStateValue.OPTED_OUT, method="operator",
                                     decided_by="operator:ann", default="opted_in")
    assert first is not None and again is None
    assert count(engine, ConsentEvent.__table__) == 1


def test_worker_applies_queues_and_replays_nothing(store):
    settings, engine = store
    store_arrivals(engine, [Arrival(raw(), "smtp"),
                            Arrival(raw(sender="Stranger <who@nowhere.example>"), "smtp"),
                            Arrival(raw(body="What time do you open on Sunday?", subject="Hours"), "smtp")])
    worker = Worker(engine, Pipeline.from_settings(settings, KeywordClassifier()), settings)
    assert worker.run_batch() == 3
    assert worker.run_batch() == 0
    with engine.connect() as conn:
        statuses = conn.execute(select(InboundMessage.status).order_by(InboundMessage.id)).scalars().all()
        assert statuses == ["processed", "review", "ignored"]
        assert conn.execute(select(func.count()).select_from(ConsentEvent)).scalar_one() == 1
        assert conn.execute(select(Notice.recipient)).scalars().all() == ["jane@example.net"]
        assert conn.execute(select(ReviewItem.reasons)).scalar_one().count("no_customer") == 1


def test_a_message_that_keeps_failing_goes_to_review_and_the_worker_goes_on(store):
    settings, engine = store

    class Exploding(KeywordClassifier):
        def classify(self, subject, text):
            if "explode" in text:
                raise RuntimeError("classifier bug")
            return super().classify(subject, text)

    store_arrivals(engine, [Arrival(raw(body="explode"), "smtp"), Arrival(raw(), "smtp")])
    worker = Worker(engine, Pipeline.from_settings(settings, Exploding()), settings)
    for _ in range(settings.worker.max_attempts + 1):
        worker.run_batch()
    with engine.connect() as conn:
        rows = conn.execute(select(InboundMessage.status, InboundMessage.attempts, InboundMessage.last_error)
                            .order_by(InboundMessage.id)).all()
        assert rows[0].status == "failed" and rows[0].attempts == settings.worker.max_attempts
        assert "classifier bug" in rows[0].last_error
        assert rows[1].status == "processed"
        reasons = conn.execute(select(ReviewItem.reasons)).scalar_one()
        assert "processing_failed" in reasons


def test_two_workers_never_claim_the_same_message(store):
    settings, engine = store
    store_arrivals(engine, [Arrival(raw(mid=f"<m{i}@example.net>"), "smtp") for i in range(40)])
    pipeline = Pipeline.from_settings(settings, KeywordClassifier())
    claims: dict[str, list[int]] = {}
    barrier = threading.Barrier(2)

    def claim(name: str) -> None:
        worker = Worker(engine, pipeline, settings, ident=f"host:{name}")
        barrier.wait()
        got = []
        while batch := worker.claim(5):
            got += [c.id for c in batch]
        claims[name] = got

    threads = [threading.Thread(target=claim, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not set(claims["a"]) & set(claims["b"])
    assert len(claims["a"]) + len(claims["b"]) == 40


def test_a_store_that_cannot_be_opened_is_unavailable_not_a_crash(tmp_path):
    from optout_daemon.store.db import StoreUnavailable

    engine = make_engine(f"sqlite:///{tmp_path}/gone/optout.db")
    (tmp_path / "gone").rmdir()
    (tmp_path / "gone").write_text("a file where the database's folder was")
    with pytest.raises(StoreUnavailable, match="unable to open database file"):
        store_arrivals(engine, [Arrival(raw(), "smtp")])
