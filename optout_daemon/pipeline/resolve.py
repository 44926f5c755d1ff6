"""resolve: which customer a message is about -> Resolution.

Strong evidence identifies a customer: the sender's address on the account, an account number
written in the text (any common form; the pattern is configurable), a phone number in any format.
Name and postal code only corroborate. One customer when all strong evidence agrees; several
candidates when it conflicts (never a guess); none when nothing matches. A name alone yields
candidates for a person to choose from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import phonenumbers

from optout_daemon.pipeline.types import Candidate, Evidence, ParsedMessage, Resolution


@dataclass(frozen=True)
class CustomerRecord:
    customer_id: int
    account_number: str
    name: str = ""
    postal_zip: str = ""


class CustomerDirectory(Protocol):
    """Look-ups resolve needs; store.customers.DbDirectory answers them from the database."""

    def by_email(self, email: str) -> list[tuple[CustomerRecord, datetime]]:
        """Customers with this address, and since when each has had it on the account."""

    def by_account(self, account_number: str) -> CustomerRecord | None: ...

    def by_phone(self, e164: str) -> list[CustomerRecord]: ...

    def by_name(self, name: str) -> list[CustomerRecord]: ...

    def get(self, customer_id: int) -> CustomerRecord | None: ...


@dataclass(frozen=True)
class ResolvePolicy:
    account_pattern: str
    default_region: str = "US"
    address_of_record_days: int = 30


def normalize_account(value: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", value).upper()


def find_account_numbers(text: str, pattern: str) -> list[str]:
    found: list[str] = []
    for m in re.finditer(pattern, text):
        value = normalize_account(m.group(0))
        if value and value not in found:
            found.append(value)
    return found


def find_phones(text: str, region: str) -> list[str]:
    found: list[str] = []
    try:
        for match in phonenumbers.PhoneNumberMatcher(text[:5000], region, leniency=phonenumbers.Leniency.VALID):
            e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
            if e164 not in found:
                found.append(e164)
    except Exception:  # noqa: BLE001 - phonenumbers on hostile text: no phones found
        return found
    return found


def _name_tokens(name: str) -> set[str]:
    return {t for t in re.findall(r"[^\W\d_]{2,}", name.lower())}


def resolve(message: ParsedMessage, directory: CustomerDirectory, policy: ResolvePolicy,
            now: datetime) -> Resolution:
    evidence: dict[int, list[Evidence]] = {}
    records: dict[int, CustomerRecord] = {}
    reasons: list[str] = []
    record_cutoff = now - timedelta(days=policy.address_of_record_days)
    sender_of_record: set[int] = set()

    def add(record: CustomerRecord, ev: Evidence) -> None:
        records[record.customer_id] = record
        evidence.setdefault(record.customer_id, []).append(ev)

    if message.from_address:
        for record, since in directory.by_email(message.from_address):
            add(record, Evidence("address_of_record" if since <= record_cutoff else "address_on_account",
                                 message.from_address))
            if since <= record_cutoff:
                sender_of_record.add(record.customer_id)

    searchable = f"{message.subject}\n{message.new_text}\n{message.signature}"
    accounts_written = find_account_numbers(searchable, policy.account_pattern)
    for number in accounts_written:
        record = directory.by_account(number)
        if record:
            add(record, Evidence("account_number", number))
    if accounts_written and not any(
            ev.kind == "account_number" for evs in evidence.values() for ev in evs):
        reasons.append("account_number_not_found")

    # Digits already taken as an account number are not also read as a phone number.
    phone_text = searchable
    for number in accounts_written:
        phone_text = phone_text.replace(number, " ")
    for e164 in find_phones(phone_text, policy.default_region):
        for record in directory.by_phone(e164):
            add(record, Evidence("phone", e164))

    strong = sorted(evidence)
    # Supporting evidence: the name the sender signs or shows, and the ZIP code in the text.
    words = _name_tokens(f"{message.from_name}\n{message.new_text}\n{message.signature}")
    zips = set(re.findall(r"\b\d{5}\b", searchable))
    for cid in strong:
        rec = records[cid]
        tokens = _name_tokens(rec.name)
        if tokens and tokens <= words:
            evidence[cid].append(Evidence("name", rec.name, strength="supporting"))
        if rec.postal_zip and rec.postal_zip[:5] in zips:
            evidence[cid].append(Evidence("postal_zip", rec.postal_zip, strength="supporting"))

    if not strong:
        name = message.from_name.strip()
        if name and len(_name_tokens(name)) >= 2:
            for rec in directory.by_name(name):
                add(rec, Evidence("name", rec.name, strength="supporting"))
        candidates = tuple(Candidate(cid, records[cid].account_number, tuple(evidence[cid]))
                           for cid in sorted(evidence))
        reasons.append("name_only_candidates" if candidates else "no_customer_found")
        return Resolution(customer=None, candidates=candidates, reasons=tuple(reasons))

    candidates = tuple(Candidate(cid, records[cid].account_number, tuple(evidence[cid])) for cid in strong)
    if len(strong) == 1:
        only = candidates[0]
        kinds = sorted({ev.kind for ev in only.evidence})
        reasons.append("customer_found_by_" + "+".join(kinds))
        return Resolution(customer=only, candidates=candidates,
                          sender_is_address_of_record=only.customer_id in sender_of_record,
                          reasons=tuple(reasons))
    reasons.append("conflicting_customers")
    return Resolution(customer=None, candidates=candidates, reasons=tuple(reasons))
