"""The whole pipeline on the held-out set: what the daemon would *do*, not only what it would read.

Each held-out example (models/training/heldout.jsonl) becomes realistic raw emails (headers, a
plain or HTML-only body, the quoted notice kept) in several scenarios, and runs through
parse -> screen -> classify -> resolve -> decide against an in-memory customer directory:

- `record_dmarc`: sent from the customer's address of record; our MTA's Authentication-Results
  shows DMARC pass (trusted authserv-id). Opt-ins may be applied here, and only here.
- `unknown_account`: sent from an address we do not know, with the account number written in it.
- `spoofed_record`: From is the address of record but DMARC fails (a forgery).
- `recent_address`: DMARC passes, but the address was added to the account 5 days ago (not yet
  an address of record, 64.2003(b)).

For the model and the keyword baseline side by side it counts: opt-outs missed (neither applied nor
queued), wrong automatic actions (applied with the wrong intent or to the wrong customer, or an
opt-out/opt-in request ignored), opt-ins applied without authentication, and the share of requests
the policy allows to automate (every opt-out; opt-ins in `record_dmarc`) that were applied without a
person. Run: `python -m optout_daemon.pipeline.evaluate_policy [--heldout PATH] [--keywords-only]`.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime
from pathlib import Path

from optout_daemon.pipeline.classify import (
    Classifier,
    KeywordClassifier,
    load_classifier,
    shipped_model_dir,
)
from optout_daemon.pipeline.decide import CustomerContext, DecidePolicy, decide
from optout_daemon.pipeline.parse import split_reply
from optout_daemon.pipeline.resolve import (
    CustomerRecord,
    ResolvePolicy,
    find_account_numbers,
)
from optout_daemon.pipeline.run import Analysis, Pipeline
from optout_daemon.pipeline.types import Action, ConsentStateValue, Intent
from optout_daemon.settings import PolicySettings

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
TRUSTED = "mx.carrier.example"
SCENARIOS = ("record_dmarc", "unknown_account", "spoofed_record", "recent_address")
HELDOUT = Path(__file__).resolve().parents[2] / "models" / "training" / "heldout.jsonl"


@dataclass
class _Customer:
    record: CustomerRecord
    emails: dict[str, datetime]  # address -> on the account since
    phones: tuple[str, ...] = ()


class MemoryDirectory:
    """A CustomerDirectory (resolve.py's protocol) held in memory."""

    def __init__(self, customers: list[_Customer]) -> None:
        self.customers = {c.record.customer_id: c for c in customers}

    def by_email(self, email: str) -> list[tuple[CustomerRecord, datetime]]:
        email = email.lower()
        return [(c.record, c.emails[email]) for c in self.customers.values() if email in c.emails]

    def by_account(self, account_number: str) -> CustomerRecord | None:
        return next((c.record for c in self.customers.values() if c.record.account_number == account_number), None)

    def by_phone(self, e164: str) -> list[CustomerRecord]:
        return [c.record for c in self.customers.values() if e164 in c.phones]

    def by_name(self, name: str) -> list[CustomerRecord]:
        key = " ".join(name.lower().split())
        return [c.record for c in self.customers.values() if c.record.name.lower() == key]

    def get(self, customer_id: int) -> CustomerRecord | None:
        c = self.customers.get(customer_id)
        return c.record if c else None

    def record_addresses(self, customer_id: int, cutoff: datetime) -> tuple[str, ...]:
        c = self.customers.get(customer_id)
        return tuple(a for a, since in c.emails.items() if since <= cutoff) if c else ()


def _distractors() -> list[_Customer]:
    old = datetime(1970, 1, 1, tzinfo=UTC)
    return [_Customer(CustomerRecord(900, "9000000001", "Pat Other", "10001"), {"pat@other.example": old},
                      ("+12025550101",)),
            _Customer(CustomerRecord(901, "9000000002", "Lee Else", "94105"), {"lee@else.example": old})]


@dataclass
class Case:
    raw: bytes
    directory: MemoryDirectory
    customer_id: int
    label: str
    scenario: str
    authenticated_record: bool  # the only situation in which an opt-in may be applied


def _body_with_account(body: str, account: str) -> str:
    """Put the account number where a customer writes it: at the end of their own text."""
    new, _, _ = split_reply(body)
    if new and new in body:
        at = body.index(new) + len(new)
        return f"{body[:at]}\nAccount number {account}{body[at:]}"
    return f"Account number {account}\n\n{body}"


def _raw(example: dict, sender: str, body: str, auth: str, html_only: bool, n: int) -> bytes:
    if html_only:
        quoted = "\n".join(f"<blockquote>{html.escape(line[1:].strip())}</blockquote>" if line.startswith(">")
                           else f"<div>{html.escape(line)}</div>" for line in body.split("\n"))
        msg = MIMEMultipart("alternative")
        msg.attach(MIMEText(f"<html><body>{quoted}</body></html>", "html", "utf-8"))
    else:
        msg = MIMEText(body, "plain", "utf-8")
    msg["From"] = sender
    msg["To"] = "marketing@carrier.example"
    msg["Subject"] = example["subject"]
    msg["Date"] = format_datetime(NOW - timedelta(minutes=5))
    msg["Message-ID"] = f"<eval.{n}@{sender.rsplit('@', 1)[-1].rstrip('>')}>"
    if auth:
        msg["Authentication-Results"] = auth
    return msg.as_bytes()


def cases(example: dict, n: int) -> list[Case]:
    """The scenarios for one held-out example; customer n has its own address, account and phone."""
    cid = n + 1
    address, domain = f"customer{cid}@mail{cid % 7}.example", f"mail{cid % 7}.example"
    new_text = split_reply(example["body"])[0]
    written = find_account_numbers(f"{example['subject']}\n{new_text}", PolicySettings().account_pattern)
    account = written[0] if written else f"{7_000_000_000 + cid}"
    body = example["body"] if written else _body_with_account(example["body"], account)
    old, recent = datetime(1970, 1, 1, tzinfo=UTC), NOW - timedelta(days=5)
    name = "Sam Customer"
    passes = f"{TRUSTED}; dkim=pass header.d={domain}; spf=pass smtp.mailfrom={domain}; dmarc=pass header.from={domain}"
    fails = f"{TRUSTED}; dkim=fail header.d={domain}; spf=fail smtp.mailfrom={domain}; dmarc=fail header.from={domain}"
    stranger = f"stranger{cid}@elsewhere.example"
    plans = {
        "record_dmarc": ({address: old}, address, example["body"], passes, True),
        "unknown_account": ({address: old}, stranger, body,
                            passes.replace(domain, "elsewhere.example"), False),
        "spoofed_record": ({address: old}, address, example["body"], fails, False),
        "recent_address": ({address: recent}, address, example["body"], passes, False),
    }
    out = []
    for scenario, (emails, sender, text, auth, authenticated) in plans.items():
        customer = _Customer(CustomerRecord(cid, account, name, "60601"), emails)
        raw = _raw(example, f"{name} <{sender}>", text, auth, html_only=(n % 6 == 5), n=n)
        out.append(Case(raw, MemoryDirectory([customer, *_distractors()]), cid, example["label"], scenario,
                        authenticated))
    return out


@dataclass
class Tally:
    cases: int = 0
    opt_out_requests: int = 0
    opt_out_missed: int = 0
    wrong_automatic: int = 0
    opt_in_unauthenticated: int = 0
    automatable: int = 0
    automated: int = 0
    reviewed: int = 0
    examples: list[str] = field(default_factory=list)  # ids of the dangerous mistakes, for a person

    @property
    def automated_share(self) -> float:
        return self.automated / self.automatable if self.automatable else 0.0


def _score(analysis: Analysis, case: Case, policy: DecidePolicy, tally: Tally, example_id: str) -> None:
    customer = analysis.resolution.customer if analysis.resolution else None
    context = None
    if customer is not None:
        state = ConsentStateValue.OPTED_OUT if case.label == Intent.OPT_IN.value else ConsentStateValue.OPTED_IN
        context = CustomerContext(state, None, case.directory.record_addresses(customer.customer_id, NOW - timedelta(days=30)))
    d = decide(analysis.parsed, analysis.screening, analysis.classification, analysis.resolution, context, policy, NOW)
    tally.cases += 1
    applied = d.action is Action.APPLY
    tally.reviewed += d.action is Action.REVIEW
    wrong = applied and (d.intent.value != case.label or d.customer is None or d.customer.customer_id != case.customer_id)
    if d.action is Action.IGNORE and case.label in (Intent.OPT_OUT.value, Intent.OPT_IN.value):
        wrong = True
    if case.label == Intent.OPT_OUT.value:
        tally.opt_out_requests += 1
        if not (d.action is Action.REVIEW or (applied and d.intent is Intent.OPT_OUT)):
            tally.opt_out_missed += 1
    if applied and d.intent is Intent.OPT_IN and not case.authenticated_record:
        tally.opt_in_unauthenticated += 1
    if case.label == Intent.OPT_OUT.value or (case.label == Intent.OPT_IN.value and case.authenticated_record):
        tally.automatable += 1
        tally.automated += applied and not wrong
    if wrong:
        tally.wrong_automatic += 1
        tally.examples.append(f"{example_id}/{case.scenario}: {case.label} -> {d.action.value} {d.intent.value}")


def decide_policy(opt_out_threshold: float | None = None, opt_in_threshold: float | None = None) -> DecidePolicy:
    """The shipped defaults (settings.PolicySettings), trusting our test MTA's authserv-id."""
    s = PolicySettings()
    return DecidePolicy(opt_out_threshold=opt_out_threshold or s.opt_out_threshold,
                        opt_in_threshold=opt_in_threshold or s.opt_in_threshold, opt_out_floor=s.opt_out_floor,
                        ignore_unrelated_threshold=s.ignore_unrelated_threshold, opt_in_floor=s.opt_in_floor,
                        trusted_authserv_ids=(TRUSTED,))


def analyze_all(classifier: Classifier, examples: list[dict]) -> list[tuple[str, Case, Analysis]]:
    """parse -> screen -> classify -> resolve for every example and scenario (decide comes after)."""
    pipeline = Pipeline(classifier, ResolvePolicy(PolicySettings().account_pattern, "US", 30), decide_policy())
    return [(example["id"], case, pipeline.analyze(case.raw, case.directory, NOW))
            for n, example in enumerate(examples) for case in cases(example, n)]


def score(analyzed: list[tuple[str, Case, Analysis]], policy: DecidePolicy) -> Tally:
    tally = Tally()
    for example_id, case, analysis in analyzed:
        _score(analysis, case, policy, tally, example_id)
    return tally


def evaluate(classifier: Classifier, examples: list[dict]) -> Tally:
    return score(analyze_all(classifier, examples), decide_policy())


def sweep(analyzed: list[tuple[str, Case, Analysis]]) -> str:
    """What other opt-out / opt-in thresholds would do: the trade-off an operator chooses."""
    out = [("| opt_out_threshold | opt_in_threshold | opt-outs missed | wrong automatic | unauthenticated opt-ins "
            "| applied without a person |"), "|---:|---:|---:|---:|---:|---:|"]
    for out_t in (0.6, 0.7, 0.8, 0.9, 0.95):
        for in_t in (0.8, 0.9, 0.95):
            t = score(analyzed, decide_policy(out_t, in_t))
            out.append(f"| {out_t} | {in_t} | {t.opt_out_missed} | {t.wrong_automatic} | {t.opt_in_unauthenticated} "
                       f"| {100 * t.automated_share:.1f}% |")
    return "\n".join(out)


def table(results: dict[str, Tally]) -> str:
    names = list(results)
    rows = [
        ("messages (examples x scenarios)", lambda t: f"{t.cases}"),
        ("opt-out requests", lambda t: f"{t.opt_out_requests}"),
        ("**opt-outs missed** (neither applied nor queued; must be 0)", lambda t: f"{t.opt_out_missed}"),
        ("**wrong automatic actions** (must be 0)", lambda t: f"{t.wrong_automatic}"),
        ("**opt-ins applied without authentication** (must be 0)", lambda t: f"{t.opt_in_unauthenticated}"),
        ("requests the policy may automate", lambda t: f"{t.automatable}"),
        ("**applied without a person** (target >= 90%)",
         lambda t: f"{t.automated} ({100 * t.automated_share:.1f}%)"),
        ("queued for review (all messages)", lambda t: f"{t.reviewed}"),
    ]
    out = ["| measure | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    out += [f"| {label} | " + " | ".join(fn(results[n]) for n in names) + " |" for label, fn in rows]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--heldout", type=Path, default=HELDOUT)
    parser.add_argument("--keywords-only", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--sweep", action="store_true", help="also show the model under other thresholds")
    parser.add_argument("--show", type=int, default=10, help="wrong decisions listed per classifier")
    args = parser.parse_args(argv)
    examples = [json.loads(line) for line in args.heldout.read_text(encoding="utf-8").splitlines() if line.strip()]
    results: dict[str, Tally] = {}
    note, model_analyzed = "", None
    if not args.keywords_only and (shipped_model_dir() / "meta.json").exists():
        model_analyzed = analyze_all(load_classifier("model"), examples)
        results["model"] = score(model_analyzed, decide_policy())
    else:
        note = f"(no model column: no trained model at {shipped_model_dir()})"
    results["keyword baseline"] = evaluate(KeywordClassifier(), examples)
    if args.json:
        print(json.dumps({k: {**vars(v), "automated_share": v.automated_share} for k, v in results.items()}, indent=1))
        return 0
    print(f"{len(examples)} held-out examples x {len(SCENARIOS)} scenarios ({', '.join(SCENARIOS)}) {note}\n")
    print(table(results))
    for name, tally in results.items():
        for line in tally.examples[:args.show]:
            print(f"  {name}: {line}")
    if args.sweep and model_analyzed is not None:
        print("\nThe model with other thresholds:\n")
        print(sweep(model_analyzed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
