"""store.fast.execute: on SQLite the same rows and effects as Connection.execute, in the caller's
transaction; anything it cannot run itself goes to Connection.execute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, insert, select, update

from optout_daemon.store import fast, ledger
from optout_daemon.store.customers import (
    _BY_EMAIL,
    _RECORD_ADDRESSES,
    import_rows,
    read_csv,
)
from optout_daemon.store.db import make_engine, upgrade
from optout_daemon.store.tables import ConsentState, Customer, utcnow
from optout_daemon.worker import _FINISH

S = ConsentState.__table__
C = Customer.__table__


@pytest.fixture
def engine(store_url: str):  # noqa: ANN201
    engine = make_engine(store_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def test_reads_give_what_sqlalchemy_gives(engine, customers_csv) -> None:  # noqa: ANN001
    import_rows(engine, read_csv(customers_csv, "US"))
    with engine.connect() as conn:
        juan = conn.execute(select(C.c.id).where(C.c.name == "Juan Pérez")).scalar()
        for statement, params in [(_BY_EMAIL, {"b_value": "jp@example.com"}),
                                  (_RECORD_ADDRESSES, {"b_value": juan, "b_cutoff": utcnow()}),
                                  (_BY_EMAIL, {"b_value": "nobody@example.com"})]:
            expected = [tuple(r) for r in conn.execute(statement, params).all()]
            got = fast.execute(conn, statement, params).all()
            assert [tuple(r) for r in got] == expected
            assert expected or params["b_value"] == "nobody@example.com"
        row = fast.execute(conn, _BY_EMAIL, {"b_value": "jp@example.com"}).first()
        assert row is not None and isinstance(row.on_record_since, datetime) and row.on_record_since.tzinfo


def test_writes_are_in_the_callers_transaction(engine, customers_csv) -> None:  # noqa: ANN001
    import_rows(engine, read_csv(customers_csv, "US"))
    with engine.connect() as conn:
        cid = conn.execute(select(C.c.id)).scalar()
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        fast.execute(conn, ledger._INSERT_STATE, {"customer_id": cid, "state": "opted_out", "since": now,
                                                   "last_event_id": None, "last_confirmed_at": None})
        raise RuntimeError("roll back")
    with engine.connect() as conn:
        assert conn.execute(select(S)).all() == []  # rolled back with the transaction
    with engine.begin() as conn:
        fast.execute(conn, ledger._INSERT_STATE, {"customer_id": cid, "state": "opted_out", "since": now,
                                                   "last_event_id": None, "last_confirmed_at": now})
        updated = fast.execute(conn, ledger._UPDATE_CONFIRMED, {"b_cid": cid, "b_now": now + timedelta(days=1)})
        assert updated.rowcount == 1
    with engine.connect() as conn:
        state = ledger.current_consent(conn, cid, "opted_in")
    assert (state.state.value, state.since, state.last_confirmed_at) == ("opted_out", now, now + timedelta(days=1))


def test_returning_and_fixed_values_in_the_statement(engine) -> None:  # noqa: ANN001
    with engine.begin() as conn:
        new_id = fast.execute(conn, insert(C).returning(C.c.id), {
            "account_number": "X1", "name": "X", "postal_zip": "", "created_at": utcnow(),
            "updated_at": utcnow()}).scalar_one()
        assert conn.execute(select(C.c.account_number).where(C.c.id == new_id)).scalar() == "X1"
    # _FINISH binds status=received itself: the plan carries that value, the caller gives the rest
    with engine.connect() as conn:
        plan = fast._plan(_FINISH, conn.dialect, frozenset({"b_id", "b_me", "b_status", "b_now", "b_outcome"}))
    if engine.dialect.name == "sqlite":
        assert plan is not None and "received" in plan.fixed


def test_a_statement_it_cannot_run_goes_to_sqlalchemy(engine) -> None:  # noqa: ANN001
    statement = update(C).where(C.c.id == bindparam("b_id")).values(name=bindparam("b_name"))
    with engine.connect() as conn:
        # a parameter the caller did not give: SQLAlchemy raises its own error, as conn.execute would
        with pytest.raises(Exception, match="b_name"):
            fast.execute(conn, statement, {"b_id": 1})


def test_the_group_commits_executemany_stores_what_sqlalchemy_stores(tmp_path) -> None:  # noqa: ANN001
    from optout_daemon.store.db import _SQLITE_INSERT  # noqa: PLC0415
    from optout_daemon.store.tables import InboundMessage, MessageStatus  # noqa: PLC0415

    now = datetime(2026, 11, 29, 12, 0, 0, 123456, tzinfo=UTC)
    rows = [{"natural_key": f"smtp:<{n}@x>:{n}", "sha256": f"{n:064x}", "message_id": f"<{n}@x>", "source": "smtp",
             "mail_from": "a@example.com", "rcpt_to": "marketing@carrier.example", "size": 3, "raw": b"x\xff\n",
             "received_at": now, "status": MessageStatus.RECEIVED, "attempts": 0, "last_error": "",
             "claimed_by": "", "outcome": ""} for n in range(3)]
    stored = []
    for name, direct in (("direct", True), ("sqlalchemy", False)):
        engine = make_engine(f"sqlite:///{tmp_path / name}.db")
        upgrade(engine)
        if direct:
            raw = engine.raw_connection()
            cursor = raw.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            fast.executemany(cursor, engine.dialect, _SQLITE_INSERT, rows + rows[:1])  # a repeat: no conflict error
            cursor.execute("COMMIT")
            raw.close()
        else:
            with engine.begin() as conn:
                conn.execute(_SQLITE_INSERT, rows + rows[:1])
        with engine.connect() as conn:
            stored.append(conn.execute(select(InboundMessage.__table__).order_by("id")).all())
        engine.dispose()
    assert stored[0] == stored[1] and len(stored[0]) == 3
    assert stored[0][0].received_at == now and stored[0][0].status == "received"
    with pytest.raises(ValueError, match="conn.execute"):
        fast.executemany(None, make_engine("sqlite://").dialect, select(C.c.id), [{"b": 1}])
