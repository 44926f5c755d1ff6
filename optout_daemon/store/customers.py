"""Customers: CSV import (all or nothing), look-ups for resolve, and what `customers show` prints."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import phonenumbers
from sqlalchemy import Connection, Engine, bindparam, func, insert, select, update

from optout_daemon.pipeline.resolve import CustomerRecord, normalize_account
from optout_daemon.store.fast import execute
from optout_daemon.store.tables import Customer, CustomerEmail, CustomerPhone, utcnow

COLUMNS = ("account_number", "name", "emails", "phones", "postal_zip")
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")

C = Customer.__table__
E = CustomerEmail.__table__
P = CustomerPhone.__table__


class ImportError_(Exception):
    """A file that cannot be imported; str() names the line and what to fix. Nothing was written."""


@dataclass
class CustomerRow:
    line: int
    account_number: str
    name: str
    emails: list[str]
    phones: list[str]
    postal_zip: str


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    emails_added: int = 0
    phones_added: int = 0
    errors: list[str] = field(default_factory=list)


def read_csv(path: Path, region: str) -> list[CustomerRow]:
    """Parse and check the whole file; raise ImportError_ listing every bad row."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ImportError_(f"{path}: no such file; give the path of a CSV file") from None
    except UnicodeDecodeError:
        raise ImportError_(f"{path}: not UTF-8 text; save the file as UTF-8 CSV") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ImportError_(f"{path}: line 1: missing column(s) {', '.join(missing)}; the header must be "
                           f"{','.join(COLUMNS)}")
    rows: list[CustomerRow] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        record = {(k or "").strip(): (v or "").strip() for k, v in record.items() if k}
        account = normalize_account(record["account_number"])
        problems = []
        if not account:
            problems.append("account_number is empty")
        elif account in seen:
            problems.append(f"account_number {record['account_number']} already on line {seen[account]}")
        emails = [e.strip().lower() for e in record["emails"].split(";") if e.strip()]
        for e in emails:
            if not _EMAIL.match(e):
                problems.append(f"email {e!r} is not an address")
        phones = []
        for raw in (p.strip() for p in record["phones"].split(";") if p.strip()):
            try:
                number = phonenumbers.parse(raw, region)
                if not phonenumbers.is_valid_number(number):
                    raise phonenumbers.NumberParseException(0, "invalid")
                phones.append(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
            except phonenumbers.NumberParseException:
                problems.append(f"phone {raw!r} is not a valid number for region {region}")
        if problems:
            errors.append(f"line {line}: " + "; ".join(problems))
            continue
        seen[account] = line
        rows.append(CustomerRow(line, account, record["name"], emails, phones, record["postal_zip"]))
    if errors:
        shown = errors[:20] + ([f"... and {len(errors) - 20} more"] if len(errors) > 20 else [])
        raise ImportError_(f"{path}: {len(errors)} bad row(s), nothing imported; fix them and run again:\n  "
                           + "\n  ".join(shown))
    return rows


def import_rows(engine: Engine, rows: list[CustomerRow]) -> ImportReport:
    """Upsert by account number in one transaction. Addresses and phones are added, never removed.

    An address new to an account gets on_record_since = now; the first import ever (an empty
    customers table) counts as of record already (64.2003(b): the carrier has held those
    addresses), so its addresses get since = the start of the epoch.
    """
    report = ImportReport()
    now = utcnow()
    with engine.begin() as conn:
        first_import = conn.execute(select(func.count()).select_from(C)).scalar_one() == 0
        since = datetime(1970, 1, 1, tzinfo=now.tzinfo) if first_import else now
        existing = dict(conn.execute(select(C.c.account_number, C.c.id)).all())
        for row in rows:
            cid = existing.get(row.account_number)
            if cid is None:
                cid = conn.execute(insert(C).values(account_number=row.account_number, name=row.name,
                                                    postal_zip=row.postal_zip, created_at=now,
                                                    updated_at=now).returning(C.c.id)).scalar_one()
                existing[row.account_number] = cid
                report.created += 1
            else:
                conn.execute(update(C).where(C.c.id == cid).values(name=row.name, postal_zip=row.postal_zip,
                                                                    updated_at=now))
                report.updated += 1
            have_emails = set(conn.execute(select(E.c.email).where(E.c.customer_id == cid)).scalars())
            for email in row.emails:
                if email not in have_emails:
                    conn.execute(insert(E).values(customer_id=cid, email=email, on_record_since=since))
                    report.emails_added += 1
            have_phones = set(conn.execute(select(P.c.e164).where(P.c.customer_id == cid)).scalars())
            for phone in row.phones:
                if phone not in have_phones:
                    conn.execute(insert(P).values(customer_id=cid, e164=phone, on_record_since=since))
                    report.phones_added += 1
    return report


_COLUMNS = (C.c.id, C.c.account_number, C.c.name, C.c.postal_zip)
_BY_EMAIL = select(*_COLUMNS, E.c.on_record_since).join(E, E.c.customer_id == C.c.id).where(
    E.c.email == bindparam("b_value"))
_BY_ACCOUNT = select(*_COLUMNS).where(C.c.account_number == bindparam("b_value"))
_BY_PHONE = select(*_COLUMNS).join(P, P.c.customer_id == C.c.id).where(P.c.e164 == bindparam("b_value"))
_BY_NAME = select(*_COLUMNS).where(func.lower(C.c.name) == bindparam("b_value")).limit(10)
_BY_ID = select(*_COLUMNS).where(C.c.id == bindparam("b_value"))
_RECORD_ADDRESSES = select(E.c.email).where(E.c.customer_id == bindparam("b_value"),
                                            E.c.on_record_since <= bindparam("b_cutoff")).order_by(E.c.id)


def _record(row) -> CustomerRecord:  # noqa: ANN001
    return CustomerRecord(row.id, row.account_number, row.name, row.postal_zip)


class DbDirectory:
    """CustomerDirectory over a connection (the worker passes the one it holds)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def by_email(self, email: str) -> list[tuple[CustomerRecord, datetime]]:
        rows = execute(self.conn, _BY_EMAIL, {"b_value": email.lower()}).all()
        return [(_record(r), r.on_record_since) for r in rows]

    def by_account(self, account_number: str) -> CustomerRecord | None:
        row = execute(self.conn, _BY_ACCOUNT, {"b_value": normalize_account(account_number)}).first()
        return _record(row) if row else None

    def by_phone(self, e164: str) -> list[CustomerRecord]:
        rows = execute(self.conn, _BY_PHONE, {"b_value": e164}).all()
        return [_record(r) for r in rows]

    def by_name(self, name: str) -> list[CustomerRecord]:
        rows = execute(self.conn, _BY_NAME, {"b_value": " ".join(name.lower().split())}).all()
        return [_record(r) for r in rows]

    def get(self, customer_id: int) -> CustomerRecord | None:
        row = execute(self.conn, _BY_ID, {"b_value": customer_id}).first()
        return _record(row) if row else None

    def record_addresses(self, customer_id: int, cutoff: datetime) -> tuple[str, ...]:
        return tuple(execute(self.conn, _RECORD_ADDRESSES, {"b_value": customer_id, "b_cutoff": cutoff}).scalars())
