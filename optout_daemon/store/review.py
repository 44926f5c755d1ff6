"""The review queue: what the console and `optout-daemon review` both call.

Reading: `list_open` (filters, sort, pages, counts), `get_item`, `search_customers`, `customer_page`.
Writing: `claim_item` (an operator holds an item for console.claim_minutes; two operators never
decide the same item) and `resolve_items` / `resolve_item`: the consent event (through
ledger.apply_consent, method "operator"), the notices (same kinds and key scheme as the worker),
the item's resolution and the message's new status commit in ONE transaction. A resolution is final.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Sequence

from sqlalchemy import Connection, Engine, func, or_, select, update

from optout_daemon.pipeline.decide import CustomerContext, _notices
from optout_daemon.pipeline.parse import parse
from optout_daemon.pipeline.resolve import normalize_account
from optout_daemon.pipeline.types import ConsentStateValue, ParsedMessage
from optout_daemon.settings import Settings
from optout_daemon.store import ledger
from optout_daemon.store.customers import DbDirectory
from optout_daemon.store.review_views import (  # noqa: F401 - the console and the CLI import them from here
    MessageView, aware, customer_page, get_message, render_message, search_customers,
)
from optout_daemon.store.tables import Customer, InboundMessage, MessageStatus, ReviewItem, utcnow

RI, IM, C = ReviewItem.__table__, InboundMessage.__table__, Customer.__table__
ACTIONS = ("opt_out", "opt_in", "unrelated", "no_action")
SORTS = ("oldest", "time_left")
PER_PAGE = 50


class ReviewError(Exception):
    """A decision that cannot be made; str() says why and what to do."""


class ClaimConflict(ReviewError):
    """Another operator holds the item (or it is already resolved)."""


@dataclass(frozen=True)
class QueueFilter:
    reason: str = ""
    language: str = ""
    min_age_hours: float = 0.0
    overdue_only: bool = False
    sort: str = "oldest"
    page: int = 1


@dataclass
class QueueRow:
    id: int
    intent: str
    confidence: float
    reasons: list[str]
    language: str
    created_at: datetime
    due_at: datetime
    mail_from: str
    candidates: int
    claimed_by: str
    seconds_left: float
    age_seconds: float

    @property
    def overdue(self) -> bool:
        return self.seconds_left < 0


@dataclass
class QueuePage:
    rows: list[QueueRow]
    total: int  # matching the filter
    open_total: int
    overdue: int
    by_reason: dict[str, int]
    by_language: dict[str, int]
    page: int
    pages: int


def _filtered(f: QueueFilter, now: datetime) -> list[Any]:
    where: list[Any] = [RI.c.status == "open"]
    if f.reason:
        where.append(RI.c.reasons.contains(json.dumps(f.reason), autoescape=True))
    if f.language:
        where.append(RI.c.language == f.language)
    if f.min_age_hours > 0:
        where.append(RI.c.created_at <= now - timedelta(hours=f.min_age_hours))
    if f.overdue_only:
        where.append(RI.c.due_at < now)
    return where


def list_open(conn: Connection, f: QueueFilter, now: datetime | None = None, per_page: int = PER_PAGE) -> QueuePage:
    """One page of open items and the queue's counts; cost grows with the page, not the queue."""
    now = now or utcnow()
    where = _filtered(f, now)
    total = conn.execute(select(func.count()).select_from(RI).where(*where)).scalar_one()
    pages = max(1, -(-total // per_page))
    page = min(max(1, f.page), pages)
    order = [RI.c.due_at, RI.c.id] if f.sort == "time_left" else [RI.c.created_at, RI.c.id]
    query = (select(RI.c.id, RI.c.intent, RI.c.confidence, RI.c.reasons, RI.c.language, RI.c.created_at,
                    RI.c.due_at, RI.c.candidates, RI.c.claimed_by, RI.c.claim_expires_at, IM.c.mail_from)
             .select_from(RI.outerjoin(IM, IM.c.id == RI.c.inbound_message_id))
             .where(*where).order_by(*order).limit(per_page).offset((page - 1) * per_page))
    rows = []
    for r in conn.execute(query):
        due, created = aware(r.due_at), aware(r.created_at)
        held = r.claimed_by if r.claim_expires_at and aware(r.claim_expires_at) > now else ""
        rows.append(QueueRow(r.id, r.intent, r.confidence, json.loads(r.reasons or "[]"), r.language,
                             created, due, r.mail_from or "", len(json.loads(r.candidates or "[]")),
                             held, (due - now).total_seconds(), (now - created).total_seconds()))
    by_reason: dict[str, int] = {}
    for reasons, n in conn.execute(select(RI.c.reasons, func.count()).where(RI.c.status == "open")
                                   .group_by(RI.c.reasons)):
        for reason in json.loads(reasons or "[]"):
            by_reason[reason] = by_reason.get(reason, 0) + n
    by_language = dict(conn.execute(select(RI.c.language, func.count()).where(RI.c.status == "open")
                                    .group_by(RI.c.language)).all())
    open_total = sum(by_language.values())
    overdue = conn.execute(select(func.count()).select_from(RI).where(
        RI.c.status == "open", RI.c.due_at < now)).scalar_one()
    return QueuePage(rows, total, open_total, overdue, dict(sorted(by_reason.items())),
                     dict(sorted(by_language.items())), page, pages)


@dataclass
class ItemView:
    id: int
    status: str
    intent: str
    confidence: float
    reasons: list[str]
    candidates: list[dict[str, Any]]
    language: str
    created_at: datetime
    due_at: datetime
    seconds_left: float
    claimed_by: str
    claim_expires_at: datetime | None
    resolution: dict[str, Any]
    inbound_message_id: int | None
    notice_id: int | None
    outcome: dict[str, Any]
    message: MessageView | None
    scores: dict[str, float] = field(default_factory=dict)
    classifier: str = ""

    @property
    def overdue(self) -> bool:
        return self.status == "open" and self.seconds_left < 0


def get_item(conn: Connection, item_id: int, now: datetime | None = None) -> ItemView | None:
    """The item with its message rendered safely and the scores the classifier gave when it was opened."""
    now = now or utcnow()
    r = conn.execute(select(RI).where(RI.c.id == item_id)).mappings().first()
    if r is None:
        return None
    msg = conn.execute(select(IM.c.raw, IM.c.outcome, IM.c.mail_from, IM.c.received_at).where(
        IM.c.id == r["inbound_message_id"])).first() if r["inbound_message_id"] else None
    message = render_message(msg.raw) if msg is not None and msg.raw else None
    due = aware(r["due_at"])
    resolution = {k: r[k] for k in ("resolution", "resolved_by", "resolved_at", "resolution_customer_id",
                                    "consent_event_id", "note")} if r["status"] != "open" else {}
    view = ItemView(r["id"], r["status"], r["intent"], r["confidence"], json.loads(r["reasons"] or "[]"),
                    json.loads(r["candidates"] or "[]"), r["language"], aware(r["created_at"]), due,
                    (due - now).total_seconds(), r["claimed_by"], aware(r["claim_expires_at"]), resolution,
                    r["inbound_message_id"], r["notice_id"],
                    json.loads(msg.outcome) if msg is not None and msg.outcome else {}, message)
    view.scores, view.classifier = json.loads(r["scores"] or "{}"), r["classifier"]
    return view


def claim_item(engine: Engine, item_id: int, operator: str, minutes: float, now: datetime | None = None) -> str:
    """Hold an open item for `minutes`; return the holder (== operator when the claim is ours)."""
    now = now or utcnow()
    free = or_(RI.c.claimed_by == "", RI.c.claimed_by == operator, RI.c.claim_expires_at.is_(None),
               RI.c.claim_expires_at < now)
    with engine.begin() as conn:
        done = conn.execute(update(RI).where(RI.c.id == item_id, RI.c.status == "open", free).values(
            claimed_by=operator, claim_expires_at=now + timedelta(minutes=minutes))).rowcount
        if done:
            return operator
        row = conn.execute(select(RI.c.status, RI.c.claimed_by).where(RI.c.id == item_id)).first()
    if row is None:
        raise ReviewError(f"review item {item_id} does not exist")
    if row.status != "open":
        raise ClaimConflict(f"review item {item_id} is already resolved")
    return row.claimed_by


def release_item(engine: Engine, item_id: int, operator: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(RI).where(RI.c.id == item_id, RI.c.status == "open", RI.c.claimed_by == operator)
                     .values(claimed_by="", claim_expires_at=None))


@dataclass
class Resolved:
    item_id: int
    action: str
    customer_id: int | None
    consent_event_id: int | None
    notice_ids: list[int]


def resolve_item(engine: Engine, item_id: int, action: str, account_number: str | None, operator: str,
                 note: str = "", *, settings: Settings, now: datetime | None = None) -> Resolved:
    return resolve_items(engine, [item_id], action, account_number, operator, note, settings=settings, now=now)[0]


def resolve_items(engine: Engine, item_ids: Sequence[int], action: str, account_number: str | None,
                  operator: str, note: str = "", *, settings: Settings, now: datetime | None = None) -> list[Resolved]:
    """Decide one or several items (sharing customer and intent) in one transaction: all or nothing."""
    if action not in ACTIONS:
        raise ReviewError(f"unknown action {action!r}: use one of {', '.join(ACTIONS)}")
    operator = " ".join((operator or "").split())
    if not operator:
        raise ReviewError("no operator name: say who decides (--operator NAME)")
    if not item_ids:
        raise ReviewError("no review item selected")
    now = now or utcnow()
    with engine.begin() as conn:
        customer_id = _customer_id(conn, account_number, required=action in ("opt_out", "opt_in"))
        items = _lock_items(conn, item_ids, operator, now)
        if len({i.intent for i in items}) > 1:
            raise ReviewError("the selected items have different intents: decide them one by one")
        return [_resolve_one(conn, item, action, customer_id, operator, note, settings, now) for item in items]


def _customer_id(conn: Connection, account_number: str | None, required: bool) -> int | None:
    if not account_number:
        if required:
            raise ReviewError("choose a customer: an opt-out or opt-in needs an account number")
        return None
    cid = conn.execute(select(C.c.id).where(C.c.account_number == normalize_account(account_number))).scalar()
    if cid is None:
        raise ReviewError(f"no customer with account number {account_number}: check the number or search first")
    return cid


def _lock_items(conn: Connection, item_ids: Sequence[int], operator: str, now: datetime) -> list[Any]:
    query = select(RI.c.id, RI.c.status, RI.c.intent, RI.c.confidence, RI.c.reasons, RI.c.candidates,
                   RI.c.language, RI.c.claimed_by, RI.c.claim_expires_at, RI.c.inbound_message_id,
                   ).where(RI.c.id.in_(list(item_ids))).order_by(RI.c.id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    items = conn.execute(query).all()
    missing = set(item_ids) - {i.id for i in items}
    if missing:
        raise ReviewError(f"review item {min(missing)} does not exist")
    for i in items:
        if i.status != "open":
            raise ClaimConflict(f"review item {i.id} is already resolved: a decision is final")
        held = i.claimed_by and i.claimed_by != operator and i.claim_expires_at and aware(i.claim_expires_at) > now
        if held:
            raise ClaimConflict(f"review item {i.id} is being decided by {i.claimed_by}: pick another item")
    return items


def _resolve_one(conn: Connection, item: Any, action: str, customer_id: int | None, operator: str, note: str,
                 settings: Settings, now: datetime) -> Resolved:
    policy = settings.policy
    msg = conn.execute(select(IM.c.id, IM.c.raw, IM.c.sha256, IM.c.mail_from, IM.c.status).where(
        IM.c.id == item.inbound_message_id)).first() if item.inbound_message_id else None
    event_id, notice_ids = None, []
    if action in ("opt_out", "opt_in") and customer_id is not None:
        new_state = ConsentStateValue.OPTED_OUT if action == "opt_out" else ConsentStateValue.OPTED_IN
        current = ledger.current_consent(conn, customer_id, policy.default_consent, lock=True)
        event_id = ledger.apply_consent(
            conn, customer_id=customer_id, new_state=new_state, method="operator",
            decided_by=f"operator:{operator}", default=policy.default_consent,
            inbound_message_id=msg.id if msg else None, message_sha256=msg.sha256 if msg else "",
            evidence=_evidence(item, customer_id), note=note, now=now)
        kind = _notice_kind(action, event_id, current, now, settings)
        if kind:
            notice_ids = _queue(conn, kind, msg, item, customer_id, event_id, settings, now)
    conn.execute(update(RI).where(RI.c.id == item.id, RI.c.status == "open").values(
        status="resolved", resolved_at=now, resolved_by=f"operator:{operator}", resolution=action,
        resolution_customer_id=customer_id, consent_event_id=event_id, note=note, claimed_by="",
        claim_expires_at=None))
    if msg is not None:
        status = MessageStatus.IGNORED if action == "unrelated" else MessageStatus.PROCESSED
        conn.execute(update(IM).where(IM.c.id == msg.id, IM.c.status.in_(
            [MessageStatus.REVIEW, MessageStatus.FAILED])).values(status=status, processed_at=now))
    return Resolved(item.id, action, customer_id, event_id, notice_ids)


def _notice_kind(action: str, event_id: int | None, current: Any, now: datetime, settings: Settings) -> str:
    """As the worker decides: a confirmation for a change; an opt-out again is reconfirmed when due."""
    if event_id is not None:
        return f"{action}_confirmation"
    if action == "opt_out":
        interval = timedelta(hours=settings.notices.reconfirm_interval_hours)
        last = aware(current.last_confirmed_at)
        if last is None or now - last >= interval:
            return "opt_out_reconfirmation"
    return ""


def _queue(conn: Connection, kind: str, msg: Any, item: Any, customer_id: int, event_id: int | None,
           settings: Settings, now: datetime) -> list[int]:
    parsed = parse(msg.raw) if msg is not None and msg.raw else None
    cutoff = now - timedelta(days=settings.policy.address_of_record_days)
    context = CustomerContext(state=ConsentStateValue.OPTED_OUT,
                              record_addresses=DbDirectory(conn).record_addresses(customer_id, cutoff))
    if parsed is None:  # an item about a notice, or a purged message: the addresses of record only
        parsed = ParsedMessage(message_id="", subject="", from_address="", from_name="", reply_to="", to=[],
                               date="", headers={}, text="", new_text="", language=item.language or "en")
    requests = _notices(kind, parsed, context)
    origin = f"msg{msg.id}" if msg is not None else f"review{item.id}"
    ids = ledger.queue_notices(conn, requests, origin=origin, customer_id=customer_id,
                               inbound_message_id=msg.id if msg else None, consent_event_id=event_id,
                               in_reply_to=parsed.message_id,
                               references=f"{parsed.references} {parsed.message_id}".strip(), now=now)
    if requests:
        ledger.mark_confirmed(conn, customer_id, settings.policy.default_consent, now)
    return ids


def _evidence(item: Any, customer_id: int) -> dict[str, Any]:
    candidates = json.loads(item.candidates or "[]")
    chosen = [c.get("evidence", []) for c in candidates if c.get("customer_id") == customer_id]
    return {"review_item": item.id, "intent": item.intent, "confidence": round(float(item.confidence), 4),
            "reasons": json.loads(item.reasons or "[]"), "customer_evidence": chosen[0] if chosen else [],
            "candidate": bool(chosen)}

