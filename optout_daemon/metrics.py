"""Prometheus metrics, in one registry per daemon (tests create several daemons in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages_received = Counter("optout_messages_received", "Messages stored, by intake",
                                         ["source"], registry=r)
        self.messages_rejected = Counter("optout_messages_rejected", "Messages refused at intake, by reason",
                                         ["reason"], registry=r)
        self.messages_processed = Counter("optout_messages_processed", "Messages processed, by outcome",
                                          ["outcome"], registry=r)
        self.message_failures = Counter("optout_message_failures", "Stage exceptions while processing",
                                        ["stage"], registry=r)
        self.notices = Counter("optout_notices", "Notices by result (sent, retry, failed)", ["result"], registry=r)
        self.consent_changes = Counter("optout_consent_changes", "Consent events recorded, by new state",
                                       ["state"], registry=r)
        self.stage_seconds = Histogram("optout_stage_seconds", "Time spent in each pipeline stage", ["stage"],
                                       buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                0.5, 1.0, 5.0), registry=r)
        self.backlog = Gauge("optout_backlog_messages", "Messages stored but not yet processed", registry=r)
        self.oldest_unprocessed_age = Gauge("optout_oldest_unprocessed_age_seconds",
                                            "Age of the oldest unprocessed message", registry=r)
        self.review_open = Gauge("optout_review_open_items", "Open review items", registry=r)
        self.review_oldest_age = Gauge("optout_review_oldest_age_seconds", "Age of the oldest open review item",
                                       registry=r)
        self.review_overdue = Gauge("optout_review_overdue_items", "Open review items past their deadline",
                                    registry=r)
        self.notices_pending = Gauge("optout_notices_pending", "Notices waiting in the outbox", registry=r)
