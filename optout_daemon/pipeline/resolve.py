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


_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")
_NAME_WORDS = re.compile(r"[^\W\d_]{2,}")
_ZIP = re.compile(r"\b\d{5}\b")


def normalize_account(value: str) -> str:
    return _NOT_ALNUM.sub("", value).upper()


def find_account_numbers(text: str, pattern: str) -> list[str]:
    found: list[str] = []
    for m in re.finditer(pattern, text):
        value = normalize_account(m.group(0))
        if value and value not in found:
            found.append(value)
    return found


_SEPARATED_RUN = re.compile(r"[0-9A-Za-z](?:[ \-.]?[0-9A-Za-z])*")


def blank_out(text: str, number: str) -> str:
    """Each place `number` is written, with at most one space, dash or dot between its characters,
    replaced by a space. A pattern compiled per account number cost a third of a millisecond (re's
    parser is Python, and every message brings new numbers); one run pattern and a find do the same."""

    def blank(m: re.Match[str]) -> str:
        run = m.group(0)
        if number not in run.replace(" ", "").replace("-", "").replace(".", ""):
            return run  # most runs (every sentence is one): no per-character work
        at = [i for i, ch in enumerate(run) if ch not in " -."]
        chars = "".join(run[i] for i in at)
        out, last, k = [], 0, chars.find(number)
        while k >= 0:
            out += [run[last:at[k]], " "]
            last = at[k + len(number) - 1] + 1
            k = chars.find(number, k + len(number))
        out.append(run[last:])
        return "".join(out)

    return _SEPARATED_RUN.sub(blank, text) if number else text


_PHONE_CANDIDATE = re.compile(r"\+?[\d(][\d().\- ]*")  # one character class: linear, no backtracking
_NANP = frozenset({"US", "CA"})


def find_phones(text: str, region: str) -> list[str]:
    """Phone numbers in any format, as E.164 (a directory look-up decides whether one is a customer's).

    Fast path: a digit-run regex finds candidates; North American numbers (10 digits, or 11 with the
    leading 1) and "+<digits>" become E.164 directly. Anything else goes to phonenumbers.parse with
    the default region; phonenumbers' own matcher over the whole text cost milliseconds per message.
    """
    found: list[str] = []
    text = text[:5000]
    for m in _PHONE_CANDIDATE.finditer(text):
        span = m.group(0).rstrip(" .-(")
        end = m.start() + len(span)
        if (m.start() and text[m.start() - 1].isalnum()) or (end < len(text) and text[end].isalpha()):
            continue  # part of a word or code ("A1234567", "4158675309x")
        digits = "".join(ch for ch in span if ch.isdigit())
        if not 7 <= len(digits) <= 15:
            continue
        e164 = _fast_e164(span, digits, region)
        if not e164 and _phonenumbers_could_accept(span, digits, region):
            e164 = _slow_e164(span, region)
        if e164 and e164 not in found:
            found.append(e164)
    return found


def _fast_e164(span: str, digits: str, region: str) -> str:
    if span.startswith("+"):
        return "+" + digits if 8 <= len(digits) <= 15 and digits[0] != "0" else ""
    if region in _NANP:
        if len(digits) == 10 and digits[0] in "23456789" and digits[3] in "23456789":
            return "+1" + digits
        if len(digits) == 11 and digits[0] == "1" and digits[1] in "23456789" and digits[4] in "23456789":
            return "+" + digits
    return ""


def _phonenumbers_could_accept(span: str, digits: str, region: str) -> bool:
    """False only where _slow_e164 is sure to return "" (it costs 0.1-0.2 ms: is_valid_number tries the
    patterns of every NANP region): a span for a NANP region written without "+" whose digit count
    leaves no room for a valid number.

    Such a span holds only ASCII digits, spaces, dots, dashes and parentheses, so phonenumbers finds no
    extension in it and keeps every digit, and the national number it validates is the digits less at
    most three leading ones (the country code 1, the national prefix 1, twice) unless they start with
    the international call prefix 011 (then any country). A valid NANP number has 10 digits, or 7
    starting with 310 (Canada's UAN): tests/pipeline/test_resolve.py checks that against the metadata.
    """
    if region not in _NANP or span.startswith("+") or not digits.isascii() or digits.startswith("011"):
        return True
    return 10 <= len(digits) <= 13 or digits[-7:].startswith("310")


def _slow_e164(span: str, region: str) -> str:
    try:
        number = phonenumbers.parse(span, region)
    except Exception:  # noqa: BLE001 - phonenumbers on hostile text: not a phone
        return ""
    if not phonenumbers.is_valid_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _name_tokens(name: str) -> set[str]:
    return set(_NAME_WORDS.findall(name.lower()))


class _Evidence:
    """Evidence gathered for a message: each strong item points at a set of customers."""

    def __init__(self) -> None:
        self.records: dict[int, CustomerRecord] = {}
        self.by_customer: dict[int, list[Evidence]] = {}
        self.strong: list[set[int]] = []  # one set per strong item (an address, a number, a phone)

    def add(self, records: list[CustomerRecord], ev: Evidence) -> None:
        ids = set()
        for record in records:
            self.records[record.customer_id] = record
            self.by_customer.setdefault(record.customer_id, []).append(ev)
            ids.add(record.customer_id)
        if ids and ev.strength == "strong":
            self.strong.append(ids)

    def candidates(self, ids: set[int] | list[int]) -> tuple[Candidate, ...]:
        return tuple(Candidate(cid, self.records[cid].account_number, tuple(self.by_customer[cid]))
                     for cid in sorted(ids))


def _searchable(message: ParsedMessage) -> str:
    """What the sender wrote: never the quoted or forwarded text (the carrier's own numbers are there)."""
    return f"{message.subject}\n{message.new_text}\n{message.signature}"


def _gather(message: ParsedMessage, directory: CustomerDirectory, policy: ResolvePolicy, now: datetime,
            reasons: list[str]) -> tuple[_Evidence, set[int]]:
    found = _Evidence()
    cutoff = now - timedelta(days=policy.address_of_record_days)
    sender_of_record: set[int] = set()
    if message.from_address:
        for record, since in directory.by_email(message.from_address):
            of_record = since <= cutoff
            found.add([record], Evidence("address_of_record" if of_record else "address_on_account",
                                         message.from_address))
            if of_record:
                sender_of_record.add(record.customer_id)
    text = _searchable(message)
    accounts_written = find_account_numbers(text, policy.account_pattern)
    matched: list[str] = []
    for number in accounts_written:
        record = directory.by_account(number)
        if record:
            matched.append(number)
            found.add([record], Evidence("account_number", number))
    if accounts_written and not matched:
        reasons.append("account_number_not_found")
    phone_text = text
    for number in matched:  # digits that are an account number are not also a phone number
        phone_text = blank_out(phone_text, number)
    for e164 in find_phones(phone_text, policy.default_region):
        found.add(directory.by_phone(e164), Evidence("phone", e164))
    return found, sender_of_record


def _supporting(message: ParsedMessage, found: _Evidence) -> None:
    """The name the sender shows or signs, and a ZIP code written: they corroborate, never identify."""
    if not found.by_customer:
        return  # nothing to corroborate
    words = _name_tokens(f"{message.from_name}\n{message.new_text}\n{message.signature}")
    zips = set(_ZIP.findall(_searchable(message)))
    for cid in list(found.by_customer):
        record = found.records[cid]
        tokens = _name_tokens(record.name)
        if tokens and tokens <= words:
            found.by_customer[cid].append(Evidence("name", record.name, strength="supporting"))
        if record.postal_zip and record.postal_zip[:5] in zips:
            found.by_customer[cid].append(Evidence("postal_zip", record.postal_zip, strength="supporting"))


def resolve(message: ParsedMessage, directory: CustomerDirectory, policy: ResolvePolicy,
            now: datetime) -> Resolution:
    """One customer when every strong item of evidence points at them; candidates when the items
    disagree or several customers share them (a family phone); none when nothing matches."""
    reasons: list[str] = []
    found, sender_of_record = _gather(message, directory, policy, now, reasons)
    _supporting(message, found)
    if not found.strong:
        name = message.from_name.strip()
        if name and len(_name_tokens(name)) >= 2:
            found.add(directory.by_name(name), Evidence("name", name, strength="supporting"))
        candidates = found.candidates(found.by_customer)
        reasons.append("name_only_candidates" if candidates else "no_customer_found")
        return Resolution(customer=None, candidates=candidates, reasons=tuple(reasons))
    agreed = set.intersection(*found.strong)
    mentioned = set().union(*found.strong)
    if len(agreed) == 1:
        only = found.candidates(agreed)[0]
        kinds = sorted({ev.kind for ev in only.evidence})
        reasons.append("customer_found_by_" + "+".join(kinds))
        return Resolution(customer=only, candidates=found.candidates(mentioned),
                          sender_is_address_of_record=only.customer_id in sender_of_record,
                          reasons=tuple(reasons))
    reasons.append("conflicting_customers" if not agreed else "several_customers_match")
    return Resolution(customer=None, candidates=found.candidates(mentioned), reasons=tuple(reasons))
