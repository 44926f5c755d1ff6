"""The stages in order: parse -> screen -> classify -> resolve, then decide with the consent context.

`Pipeline` holds what is loaded once (the classifier, the policies). The worker and `analyze` both
call it, so the command line shows exactly what the daemon would do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from optout_daemon.pipeline.classify import Classifier, classify, load_classifier
from optout_daemon.pipeline.decide import CustomerContext, DecidePolicy, decide
from optout_daemon.pipeline.parse import parse
from optout_daemon.pipeline.resolve import CustomerDirectory, ResolvePolicy, resolve
from optout_daemon.pipeline.screen import screen
from optout_daemon.pipeline.types import (
    Classification,
    ConsentStateValue,
    Decision,
    ParsedMessage,
    Resolution,
    Screening,
)
from optout_daemon.settings import Settings


@dataclass
class Analysis:
    parsed: ParsedMessage
    screening: Screening
    classification: Classification | None
    resolution: Resolution | None
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds


class Pipeline:
    def __init__(self, classifier: Classifier, resolve_policy: ResolvePolicy, decide_policy: DecidePolicy,
                 default_consent: str = "opted_in") -> None:
        self.classifier = classifier
        self.resolve_policy = resolve_policy
        self.decide_policy = decide_policy
        self.default_consent = default_consent

    @classmethod
    def from_settings(cls, settings: Settings, classifier: Classifier | None = None) -> "Pipeline":
        p = settings.policy
        return cls(
            classifier or load_classifier(settings.classifier.kind, settings.classifier.model_path),
            ResolvePolicy(p.account_pattern, p.default_region.upper(), p.address_of_record_days),
            policy_from_settings(settings),
            p.default_consent,
        )

    def analyze(self, raw: bytes, directory: CustomerDirectory, now: datetime) -> Analysis:
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        parsed = parse(raw)
        t1 = time.perf_counter()
        timings["parse"] = t1 - t0
        screening = screen(parsed)
        t2 = time.perf_counter()
        timings["screen"] = t2 - t1
        if screening.screened_out:
            return Analysis(parsed, screening, None, None, timings)
        classification = classify(parsed, self.classifier)
        t3 = time.perf_counter()
        timings["classify"] = t3 - t2
        resolution = resolve(parsed, directory, self.resolve_policy, now)
        timings["resolve"] = time.perf_counter() - t3
        return Analysis(parsed, screening, classification, resolution, timings)

    def decide(self, analysis: Analysis, context: CustomerContext | None, now: datetime) -> Decision:
        return decide(analysis.parsed, analysis.screening, analysis.classification, analysis.resolution,
                      context, self.decide_policy, now)


def policy_from_settings(settings: Settings) -> DecidePolicy:
    p = settings.policy
    return DecidePolicy(
        opt_out_threshold=p.opt_out_threshold, opt_in_threshold=p.opt_in_threshold,
        opt_out_floor=p.opt_out_floor, ignore_unrelated_threshold=p.ignore_unrelated_threshold,
        opt_in_floor=p.opt_in_floor,
        trusted_authserv_ids=tuple(t.lower() for t in p.trusted_authserv_ids),
        reconfirm_interval=timedelta(hours=settings.notices.reconfirm_interval_hours))


def customer_context(directory: Any, state: ConsentStateValue, last_confirmed_at: datetime | None,
                     customer_id: int, now: datetime, record_days: int) -> CustomerContext:
    return CustomerContext(state=state, last_confirmed_at=last_confirmed_at,
                           record_addresses=directory.record_addresses(customer_id, now - timedelta(days=record_days)))


def outcome(analysis: Analysis, decision: Decision) -> dict[str, Any]:
    """The `analyze` contract: one JSON object per message."""
    resolution = analysis.resolution
    candidates = [c.account_number for c in resolution.candidates] if resolution else []
    return {
        "intent": decision.intent.value,
        "confidence": round(float(decision.confidence), 4),
        "customer": decision.customer.account_number if decision.customer else None,
        "candidates": candidates,
        "decision": decision.action.value,
        "reasons": list(decision.reasons),
    }
