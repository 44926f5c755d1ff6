"""Retention: remove raw message bodies older than `retention.raw_message_days`.

What is purged: the raw bytes of an inbound message (`raw` set to NULL, `raw_purged_at` set); its
row stays, with the SHA-256 of the bytes, so a consent event keeps its evidence hash (R2).
What is kept, whatever its age: messages not yet processed, and messages whose review item is
still open (an operator needs to read them). Consent events and consent states are never touched:
purge does not change anyone's consent (R1), and the database refuses any change to an event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, exists, func, select, update

from optout_daemon.store.tables import ConsentEvent, InboundMessage, MessageStatus, ReviewItem, utcnow

IM = InboundMessage.__table__
RI = ReviewItem.__table__
EV = ConsentEvent.__table__
BATCH = 1000  # rows per transaction, so that SMTP intake never waits long for the write lock


@dataclass
class PurgeReport:
    cutoff: datetime
    dry_run: bool
    purged: int = 0
    purged_bytes: int = 0
    kept_unprocessed: int = 0
    kept_in_review: int = 0
    consent_events: int = 0

    def lines(self) -> list[str]:
        verb = "would purge" if self.dry_run else "purged"
        return [
            f"{verb} the raw bodies of {self.purged} message(s) received before {self.cutoff:%Y-%m-%d %H:%M} UTC "
            f"({self.purged_bytes} bytes); their rows and SHA-256 hashes stay",
            f"kept {self.kept_unprocessed} old message(s) not yet processed and {self.kept_in_review} with an "
            f"open review item",
            f"consent events: {self.consent_events}, none changed or deleted (consent states untouched)",
        ]


def _old_with_raw(cutoff: datetime):  # noqa: ANN202
    return and_(IM.c.raw.is_not(None), IM.c.received_at < cutoff)


def _open_review():  # noqa: ANN202
    return exists().where(RI.c.inbound_message_id == IM.c.id, RI.c.status == "open")


def _purgeable(cutoff: datetime):  # noqa: ANN202
    return and_(_old_with_raw(cutoff), IM.c.status != MessageStatus.RECEIVED, ~_open_review())


def purge_raw_messages(engine: Engine, raw_message_days: int, dry_run: bool = False,
                       now: datetime | None = None) -> PurgeReport:
    now = now or utcnow()
    report = PurgeReport(cutoff=now - timedelta(days=raw_message_days), dry_run=dry_run)
    cutoff = report.cutoff
    with engine.execution_options(readonly=True).connect() as conn:
        report.kept_unprocessed = conn.execute(select(func.count()).where(
            _old_with_raw(cutoff), IM.c.status == MessageStatus.RECEIVED)).scalar_one()
        report.kept_in_review = conn.execute(select(func.count()).where(
            _old_with_raw(cutoff), IM.c.status != MessageStatus.RECEIVED, _open_review())).scalar_one()
        report.consent_events = conn.execute(select(func.count()).select_from(EV)).scalar_one()
        if dry_run:
            count, size = conn.execute(select(func.count(), func.coalesce(func.sum(IM.c.size), 0))
                                       .where(_purgeable(cutoff))).one()
            report.purged, report.purged_bytes = count, int(size)
            return report
    while True:
        with engine.begin() as conn:
            rows = conn.execute(select(IM.c.id, IM.c.size).where(_purgeable(cutoff)).order_by(IM.c.id)
                                .limit(BATCH)).all()
            if not rows:
                return report
            conn.execute(update(IM).where(IM.c.id.in_([r.id for r in rows]), _purgeable(cutoff))
                         .values(raw=None, raw_purged_at=now))
        report.purged += len(rows)
        report.purged_bytes += sum(r.size for r in rows)
