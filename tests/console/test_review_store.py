"""store/review.py on SQLite and PostgreSQL: the queue, claims, decisions through the ledger, search.

Review items are made the way the daemon makes them: messages stored by store_arrivals and run
through the real worker and pipeline (keyword classifier); the 10-item queue tests use open_review.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from optout_daemon.pipeline.run import Pipeline
from optout_daemon.store import ledger, review
from optout_daemon.store.customers import import_rows, read_csv
from optout_daemon.store.db import Arrival, make_engine, store_arrivals, upgrade
from optout_daemon.store.tables import ConsentEvent, InboundMessage, Notice, ReviewItem, utcnow
from optout_daemon.worker import Worker
from tests.conftest import make_settings
from tests.helpers import make_message

RI, IM, EV, NT = ReviewItem.__table__, InboundMessage.__table__, ConsentEvent.__table__, Notice.__table__


@pytest.fixture
def store(store_url: str, tmp_path: Path, customers_csv: Path):
    settings = make_settings(tmp_path, OPTOUT_DATABASE_URL=store_url)
    engine = make_engine(store_url)
    upgrade(engine)
    import_rows(engine, read_csv(customers_csv, "US"))
    yield engine, settings
    engine.dispose()


def queue(engine, settings, *messages) -> list[int]:
    """Store messages as the SMTP intake does and let the real worker decide; return review item ids."""
    ids = store_arrivals(engine, [Arrival(bytes(m), "smtp", "x@example.org", ("marketing@example.com",))
                                  for m in messages])
    Worker(engine, Pipeline.from_settings(settings), settings).run_batch()
    with engine.connect() as conn:
        return [conn.execute(select(RI.c.id).where(RI.c.inbound_message_id == i)).scalar_one() for i in ids]


def jane_unknown_sender(n: int = 0, body: str = "Please stop using my information for marketing."):
    return make_message(sender="Jane Doe <jane.other@elsewhere.example>", body=body,
                        message_id=f"<jane-{n}@elsewhere.example>")


def test_resolve_opt_out_goes_through_the_ledger_in_one_transaction(store):
    engine, settings = store
    [item] = queue(engine, settings, jane_unknown_sender())
    done = review.resolve_item(engine, item, "opt_out", "1000-2000-01", "alice", "called back", settings=settings)
    with engine.connect() as conn:
        event = conn.execute(select(EV)).mappings().one()
        msg = conn.execute(select(IM).where(IM.c.id == event["inbound_message_id"])).mappings().one()
        notices = conn.execute(select(NT).order_by(NT.c.id)).mappings().all()
        row = conn.execute(select(RI).where(RI.c.id == item)).mappings().one()
        state = ledger.current_consent(conn, event["customer_id"], "opted_in")
    assert (event["method"], event["decided_by"], event["note"]) == ("operator", "operator:alice", "called back")
    assert (event["old_state"], event["new_state"]) == ("opted_in", "opted_out")
    assert event["message_sha256"] == msg["sha256"] and msg["status"] == "processed"
    assert json.loads(event["evidence"])["customer_evidence"] == [
        {"kind": "name", "value": "Jane Doe", "strength": "supporting"}]
    assert state.state.value == "opted_out"
    # the same notices as an automatic opt-out: to the sender and to the address of record
    assert [(n["kind"], n["recipient"], n["key"]) for n in notices] == [
        ("opt_out_confirmation", "jane.other@elsewhere.example",
         f"msg{msg['id']}:opt_out_confirmation:jane.other@elsewhere.example"),
        ("opt_out_confirmation", "jane@example.net", f"msg{msg['id']}:opt_out_confirmation:jane@example.net")]
    assert all(n["consent_event_id"] == event["id"] for n in notices)
    assert (row["status"], row["resolution"], row["resolved_by"]) == ("resolved", "opt_out", "operator:alice")
    assert row["consent_event_id"] == event["id"] == done.consent_event_id
    with pytest.raises(review.ClaimConflict, match="final"):
        review.resolve_item(engine, item, "opt_in", "1000-2000-01", "bob", settings=settings)


def test_a_refused_decision_writes_nothing(store):
    engine, settings = store
    [item] = queue(engine, settings, jane_unknown_sender())
    with pytest.raises(review.ReviewError, match="needs an account number"):
        review.resolve_item(engine, item, "opt_out", None, "alice", settings=settings)
    with pytest.raises(review.ReviewError, match="no customer with account number 9999"):
        review.resolve_item(engine, item, "opt_out", "9999", "alice", settings=settings)
    with pytest.raises(review.ReviewError, match="unknown action"):
        review.resolve_item(engine, item, "delete", "1000-2000-01", "alice", settings=settings)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(EV)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(NT)).scalar_one() == 0
        assert conn.execute(select(RI.c.status).where(RI.c.id == item)).scalar_one() == "open"


def test_two_operators_never_decide_the_same_item(store):
    engine, settings = store
    [item] = queue(engine, settings, jane_unknown_sender())
    assert review.claim_item(engine, item, "alice", 10) == "alice"
    assert review.claim_item(engine, item, "bob", 10) == "alice"
    with pytest.raises(review.ClaimConflict, match="being decided by alice"):
        review.resolve_item(engine, item, "unrelated", None, "bob", settings=settings)
    # the claim lapses: bob may take it
    later = utcnow() + timedelta(minutes=11)
    assert review.claim_item(engine, item, "bob", 10, now=later) == "bob"
    review.resolve_item(engine, item, "unrelated", None, "bob", settings=settings, now=later)
    with engine.connect() as conn:
        assert conn.execute(select(IM.c.status).join(RI, RI.c.inbound_message_id == IM.c.id)
                            .where(RI.c.id == item)).scalar_one() == "ignored"
        assert conn.execute(select(func.count()).select_from(EV)).scalar_one() == 0
    with pytest.raises(review.ClaimConflict):
        review.claim_item(engine, item, "alice", 10)


def test_bulk_decision_for_a_customer_who_wrote_three_times(store):
    engine, settings = store
    items = queue(engine, settings, *(jane_unknown_sender(n) for n in range(3)))
    done = review.resolve_items(engine, items, "opt_out", "1000200001", "alice", settings=settings)
    assert [d.consent_event_id is not None for d in done] == [True, False, False]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(EV)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(NT)).scalar_one() == 2  # one confirmation set
        assert set(conn.execute(select(RI.c.status)).scalars()) == {"resolved"}


def test_bulk_refuses_items_of_different_intents_and_writes_nothing(store):
    engine, settings = store
    items = queue(engine, settings, jane_unknown_sender(1),
                  jane_unknown_sender(2, body="I have a question about my privacy settings."))
    with engine.connect() as conn:
        intents = set(conn.execute(select(RI.c.intent).where(RI.c.id.in_(items))).scalars())
    assert len(intents) == 2
    with pytest.raises(review.ReviewError, match="different intents"):
        review.resolve_items(engine, items, "opt_out", "1000200001", "alice", settings=settings)
    with engine.connect() as conn:
        assert set(conn.execute(select(RI.c.status)).scalars()) == {"open"}
        assert conn.execute(select(func.count()).select_from(EV)).scalar_one() == 0


def test_queue_filters_sorts_counts_and_pages(store):
    engine, settings = store
    now = utcnow()
    with engine.begin() as conn:
        for i in range(10):
            ledger.open_review(conn, inbound_message_id=None, reasons=["no_customer" if i % 2 else "ambiguous"],
                               intent="opt_out", language="es" if i < 3 else "en",
                               deadline=timedelta(hours=48 - 10 * i), received_at=now - timedelta(hours=i),
                               now=now - timedelta(hours=i))
    reader = engine.execution_options(readonly=True)
    with reader.connect() as conn:
        _check_queue(conn, now)


def _check_queue(conn, now) -> None:
    page = review.list_open(conn, review.QueueFilter(), now, per_page=4)
    assert (page.total, page.open_total, page.pages, len(page.rows)) == (10, 10, 3, 4)
    assert [r.created_at for r in page.rows] == sorted(r.created_at for r in page.rows)  # oldest first
    assert page.rows[0].created_at <= now - timedelta(hours=9)
    assert page.by_reason == {"ambiguous": 5, "no_customer": 5} and page.by_language == {"en": 7, "es": 3}
    # due = received + 48 - 10i hours -> (48 - 11i) hours left: items 5..9 are overdue
    assert page.overdue == 5 and all(r.overdue for r in page.rows)
    by_left = review.list_open(conn, review.QueueFilter(sort="time_left"), now, per_page=10)
    assert [r.seconds_left for r in by_left.rows] == sorted(r.seconds_left for r in by_left.rows)
    f = review.QueueFilter(reason="no_customer", language="en", min_age_hours=4.5)
    rows = review.list_open(conn, f, now).rows
    assert {r.id for r in rows} and all(r.reasons == ["no_customer"] and r.language == "en" for r in rows)
    assert len(rows) == 3  # i in 5, 7, 9
    assert review.list_open(conn, review.QueueFilter(overdue_only=True), now).total == 5
    last = review.list_open(conn, review.QueueFilter(page=99), now, per_page=4)
    assert last.page == 3 and len(last.rows) == 2


def test_customer_search_and_page(store):
    engine, settings = store
    [item] = queue(engine, settings, jane_unknown_sender())
    review.resolve_item(engine, item, "opt_out", "1000200001", "alice", settings=settings)
    with engine.connect() as conn:
        for query in ("1000-2000-01", "415.867.5309", "JANE@example.net", "jane d"):
            hits = review.search_customers(conn, query, "opted_in")
            assert [h.account_number for h in hits] == ["1000200001"], query
            assert hits[0].state == "opted_out"
        assert review.search_customers(conn, "nobody here", "opted_in") == []
        assert review.search_customers(conn, "a%", "opted_in") == []  # a wildcard is a character
        assert len(review.search_customers(conn, "a", "opted_in")) == 0  # one letter is too little
        assert {h.account_number for h in review.search_customers(conn, "ma", "opted_in")} == {"1000200003"}
        page = review.customer_page(conn, "1000 2000 01", "opted_in")
    assert page.consent.state.value == "opted_out"
    [event] = page.events
    assert event["decided_by"] == "operator:alice"
    assert event["source"]["subject"] == "Privacy" and event["source"]["mail_from"] == "x@example.org"
