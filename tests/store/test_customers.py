"""Customer import: all or nothing, bad rows named by line, E.164 phones, addresses of record."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from optout_daemon.store.customers import DbDirectory, ImportError_, import_rows, read_csv
from optout_daemon.store.tables import Customer, CustomerEmail, utcnow

HEADER = "account_number,name,emails,phones,postal_zip\n"


def test_import_normalises_and_upserts(sqlite_engine, tmp_path):
    f = tmp_path / "c.csv"
    f.write_text(HEADER + "1234-5678-90,Ann Lee,ANN@Example.com;ann2@example.com,(415) 867-5309;+1 212 736 5000,94105\n")
    import_rows(sqlite_engine, read_csv(f, "US"))
    with sqlite_engine.connect() as conn:
        d = DbDirectory(conn)
        rec = d.by_account("1234 5678 90")
        assert rec and rec.name == "Ann Lee" and rec.account_number == "1234567890"
        assert [r.customer_id for r in d.by_phone("+14158675309")] == [rec.customer_id]
        assert [r.customer_id for r, _ in d.by_email("ann@example.com")] == [rec.customer_id]
    f.write_text(HEADER + "1234567890,Ann Lee-Smith,ann3@example.com,,94105\n")
    report = import_rows(sqlite_engine, read_csv(f, "US"))
    assert (report.created, report.updated, report.emails_added) == (0, 1, 1)
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(Customer.name)).scalar_one() == "Ann Lee-Smith"
        since = dict(conn.execute(select(CustomerEmail.email, CustomerEmail.on_record_since)).all())
    # Addresses from the first import count as of record; one added later only after 30 days.
    assert since["ann@example.com"] < utcnow() - timedelta(days=365)
    assert since["ann3@example.com"] > utcnow() - timedelta(minutes=5)


def test_a_bad_row_imports_nothing_and_names_its_line(sqlite_engine, tmp_path):
    f = tmp_path / "c.csv"
    f.write_text(HEADER + "1,A,a@example.com,,\n2,B,not-an-email,,\n3,C,c@example.com,12,\n1,D,d@example.com,,\n")
    with pytest.raises(ImportError_) as err:
        read_csv(f, "US")
    message = str(err.value)
    assert "3 bad row(s), nothing imported" in message
    assert "line 3: email 'not-an-email' is not an address" in message
    assert "line 4: phone '12' is not a valid number for region US" in message
    assert "line 5: account_number 1 already on line 2" in message
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(Customer)).first() is None


def test_missing_columns_are_named(tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("account,name\n1,A\n")
    with pytest.raises(ImportError_, match="missing column"):
        read_csv(f, "US")
