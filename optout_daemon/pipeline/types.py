"""The typed values that flow between pipeline stages.

parse -> ParsedMessage -> screen -> Screening -> classify -> Classification
      -> resolve -> Resolution -> decide -> Decision

Each stage is a function from these values to the next one; the worker does the I/O around them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Intent(str, enum.Enum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    AMBIGUOUS = "ambiguous"
    UNRELATED = "unrelated"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"


class Action(str, enum.Enum):
    APPLY = "apply"
    REVIEW = "review"
    IGNORE = "ignore"


class ConsentStateValue(str, enum.Enum):
    """Whether the carrier may use the customer's CPNI for marketing."""

    OPTED_IN = "opted_in"
    OPTED_OUT = "opted_out"


@dataclass(frozen=True)
class AuthResult:
    """One method result from a trusted Authentication-Results header (RFC 8601)."""

    authserv_id: str
    method: str  # dmarc, dkim, spf
    result: str  # pass, fail, none, ...
    domain: str = ""  # header.from / header.d / smtp.mailfrom


@dataclass
class ParsedMessage:
    message_id: str
    subject: str
    from_address: str  # lower-cased addr-spec, "" when absent or unreadable
    from_name: str
    reply_to: str
    to: list[str]
    date: str
    headers: dict[str, list[str]]  # lower-cased header name -> values, decoded to str
    text: str  # the whole readable text (plain part, or HTML turned into text)
    new_text: str  # what the sender wrote: quotes and signature removed
    quoted_text: str = ""
    signature: str = ""
    forwarded_text: str = ""
    content_type: str = "text/plain"
    in_reply_to: str = ""
    references: str = ""
    language: str = "en"  # "en" or "es"
    auth_results: list[AuthResult] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)  # content types of all leaf parts
    inner_headers: dict[str, list[str]] = field(default_factory=dict)  # of attached messages / rfc822-headers

    def header(self, name: str) -> str:
        values = self.headers.get(name.lower())
        return values[0] if values else ""


@dataclass(frozen=True)
class Screening:
    """Automatic mail that must never be answered, or `kind=None` for mail from a person."""

    kind: str | None  # "bounce", "auto_reply", "feedback_report", "own_notice", or None
    rule: str = ""  # which rule fired, for the explanation

    @property
    def screened_out(self) -> bool:
        return self.kind is not None


@dataclass(frozen=True)
class Classification:
    intent: Intent  # one of OPT_OUT, OPT_IN, AMBIGUOUS, UNRELATED
    confidence: float  # 0..1, the score of `intent`
    scores: dict[str, float] = field(default_factory=dict)
    classifier: str = "keywords"  # "keywords" or "model:<name>"
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Evidence:
    kind: str  # "address_of_record", "account_number", "phone", "name", "postal_zip"
    value: str  # what was matched (kept out of logs)
    strength: str = "strong"  # "strong" identifies; "supporting" only corroborates


@dataclass(frozen=True)
class Candidate:
    customer_id: int
    account_number: str
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class Resolution:
    customer: Candidate | None  # exactly one customer, when evidence agrees
    candidates: tuple[Candidate, ...] = ()  # every customer the evidence pointed at
    sender_is_address_of_record: bool = False  # sender is a record address (>= 30 days) of `customer`
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class NoticeRequest:
    kind: str  # "opt_out_confirmation", "opt_in_confirmation", "opt_out_reconfirmation", "support_forward"
    recipient: str
    language: str


@dataclass(frozen=True)
class Decision:
    action: Action
    intent: Intent
    confidence: float
    customer: Candidate | None
    new_state: ConsentStateValue | None  # the state to record, None when nothing changes
    notices: tuple[NoticeRequest, ...] = ()
    reasons: tuple[str, ...] = ()
    review_reasons: tuple[str, ...] = ()  # why a person must look, when action is REVIEW
