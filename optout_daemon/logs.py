"""structlog set-up: JSON lines in production, readable text on a terminal, redaction by default.

Redaction: values under keys that can hold personal data (addresses, subjects, bodies, names,
phone numbers) are replaced by a short stable hash unless `logging.debug_unredacted` is on, and
email addresses inside any other string value are masked too.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
from typing import Any

import structlog

SENSITIVE_KEYS = frozenset({
    "address", "addresses", "body", "email", "emails", "from_address", "mail_from", "name", "phone",
    "phones", "rcpt", "rcpt_to", "recipient", "recipients", "sender", "subject", "text", "to",
    "username", "password", "token", "value",
})
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def fingerprint(value: Any) -> str:
    """A short stable hash that lets operators correlate log lines without seeing the value."""
    return "h:" + hashlib.sha256(str(value).encode("utf-8", "replace")).hexdigest()[:10]


def redact_processor(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    for key, value in list(event.items()):
        if key in SENSITIVE_KEYS and value not in (None, "", [], ()):
            if key in ("password", "token"):
                event[key] = "[redacted]"
            elif isinstance(value, (list, tuple)):
                event[key] = [fingerprint(v) for v in value]
            else:
                event[key] = fingerprint(value)
        elif isinstance(value, str) and "@" in value and key != "event":
            event[key] = _EMAIL.sub(lambda m: fingerprint(m.group(0)), value)
    return event


def _redact_exception_text(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    exc = event.get("exception")
    if isinstance(exc, str) and "@" in exc:
        event["exception"] = _EMAIL.sub(lambda m: fingerprint(m.group(0)), exc)
    return event


def configure_logging(level: str = "info", fmt: str = "auto", debug_unredacted: bool = False,
                      stream: Any = None) -> None:
    stream = stream or sys.stdout
    use_json = fmt == "json" or (fmt == "auto" and not (hasattr(stream, "isatty") and stream.isatty()))
    numeric = getattr(logging, level.upper(), logging.INFO)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if not debug_unredacted:
        shared.append(redact_processor)
    if use_json:
        tail: list[Any] = [structlog.processors.dict_tracebacks]
        if not debug_unredacted:
            tail.append(_redact_exception_text)
        renderer: Any = structlog.processors.JSONRenderer()
    else:
        tail = []
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[*shared, *tail, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    # Libraries (aiosmtpd, SQLAlchemy, uvicorn) log through stdlib logging: send it through structlog.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processor=renderer,
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared, *tail],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.INFO) if numeric > logging.DEBUG else logging.INFO)
    # aiosmtpd logs every SMTP command with addresses at INFO; keep it to warnings.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def get_logger(name: str | None = None, **bound: Any) -> Any:
    return structlog.get_logger(name).bind(**bound) if bound else structlog.get_logger(name)
