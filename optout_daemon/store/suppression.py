"""What marketing systems ask before using a customer's CPNI (47 CFR 64.2009(a), R3).

One place answers for the HTTP API, `optout-daemon status` and `optout-daemon export`:
- `consent_answer`: may we use this account's CPNI? An unknown account means no (fail closed).
- `suppression_page` / `iter_suppression`: every customer whose CPNI may NOT be used, with
  since-when; customers without any consent event count as `policy.default_consent` says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Iterator

from sqlalchemy import Connection, and_, or_, select

from optout_daemon.pipeline.resolve import normalize_account
from optout_daemon.store.tables import ConsentState, Customer, CustomerEmail

C = Customer.__table__
S = ConsentState.__table__
E = CustomerEmail.__table__
OPTED_OUT = "opted_out"
MAX_PAGE = 1000


@dataclass(frozen=True)
class ConsentAnswer:
    account: str  # as normalized for the look-up
    known: bool
    state: str  # opted_in / opted_out; opted_out when the account is unknown
    since: datetime | None  # when the current state was recorded; None for the default or unknown
    explicit: bool  # False when no consent event was ever recorded for the customer
    reason: str

    @property
    def marketing_allowed(self) -> bool:
        return self.known and self.state != OPTED_OUT

    def as_dict(self) -> dict[str, Any]:
        return {"account": self.account, "known": self.known, "marketing_allowed": self.marketing_allowed,
                "state": self.state, "since": _iso(self.since), "explicit": self.explicit, "reason": self.reason}


def consent_answer(conn: Connection, account: str, default: str) -> ConsentAnswer:
    number = normalize_account(account)
    row = conn.execute(select(C.c.id, S.c.state, S.c.since).select_from(C.outerjoin(S, S.c.customer_id == C.c.id))
                       .where(C.c.account_number == number)).first() if number else None
    if row is None:
        return ConsentAnswer(number, False, OPTED_OUT, None, False,
                             "unknown account: marketing use is not allowed until the customer is known")
    if row.state is None:
        return ConsentAnswer(number, True, default, None, False,
                             f"no consent event recorded: the default ({default}) applies")
    reason = ("the customer opted out" if row.state == OPTED_OUT else "the customer's approval is on record")
    return ConsentAnswer(number, True, row.state, _aware(row.since), True, reason)


def _suppressed_query(default: str) -> Any:
    base = select(C.c.id, C.c.account_number, S.c.since, S.c.state)
    if default == OPTED_OUT:  # everyone without an opt-in on record
        return base.select_from(C.outerjoin(S, S.c.customer_id == C.c.id)).where(
            or_(S.c.state == OPTED_OUT, S.c.state.is_(None)))
    return base.select_from(S.join(C, C.c.id == S.c.customer_id)).where(S.c.state == OPTED_OUT)


def suppression_page(conn: Connection, default: str, *, after_id: int | None = None, offset: int = 0,
                     limit: int = 100, with_emails: bool = True) -> list[dict[str, Any]]:
    """One page in customer-id order: keyset (`after_id`, the previous page's last `id`) or offset."""
    limit = max(1, min(limit, MAX_PAGE))
    query = _suppressed_query(default)
    if after_id is not None:
        query = query.where(and_(C.c.id > after_id))
    rows = conn.execute(query.order_by(C.c.id).offset(offset if after_id is None else 0).limit(limit)).all()
    emails: dict[int, list[str]] = {}
    if with_emails and rows:
        for cid, email in conn.execute(select(E.c.customer_id, E.c.email)
                                       .where(E.c.customer_id.in_([r.id for r in rows])).order_by(E.c.email)):
            emails.setdefault(cid, []).append(email)
    return [{"id": r.id, "account": r.account_number, "state": OPTED_OUT, "since": _iso(_aware(r.since)),
             "explicit": r.state is not None, "emails": emails.get(r.id, [])} for r in rows]


def iter_suppression(conn: Connection, default: str, batch: int = MAX_PAGE) -> Iterator[dict[str, Any]]:
    after: int | None = None
    while True:
        page = suppression_page(conn, default, after_id=after if after is not None else 0, limit=batch)
        yield from page
        if len(page) < batch:
            return
        after = page[-1]["id"]


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite may hand back text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None
