"""Logs never leak (R8): a full daemon run's output holds none of the customers' addresses, names,
subjects or message texts, unless logging.debug_unredacted is on (which shows the test can fail)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.helpers import make_message, send, wait_for
from tests.service.support import DaemonProcess, base_env, prepare_store

ADDRESSES = ["jane@example.net", "juan.perez@example.org", "jp@example.com", "mary@example.net",
             "stranger@example.org"]
NAMES = ["Jane Doe", "Juan Pérez", "Mary Major"]
MESSAGES = [
    ("Jane Doe <jane@example.net>", "Zebra quarterly request 8841",
     "Please stop using my information for marketing. Lavender umbrella 5521."),
    ("Juan Pérez <jp@example.com>", "Baja por favor 7302",
     "Dejen de usar mis datos para publicidad. Cuenta 1000-2000-02. Girasol azul 6610."),
    ("Mary Major <mary@example.net>", "Quick question 9917",
     "What plans do you have for fiber in my area? Copper kettle 4471."),
    ("Stranger Person <stranger@example.org>", "Remove me 3358",
     "Take me off your marketing lists please. Marble staircase 2290."),
]


def _needles() -> list[str]:
    out = list(ADDRESSES) + list(NAMES)
    for _, subject, body in MESSAGES:
        out.append(subject)
        out += [sentence.strip() for sentence in body.split(".") if len(sentence.strip()) > 8]
    return out


def _wait_processed(db: Path, count: int) -> None:
    def done() -> bool:
        with sqlite3.connect(db) as conn:
            rows = conn.execute("select status from inbound_messages").fetchall()
        return len(rows) == count and all(r[0] != "received" for r in rows)

    wait_for(done, timeout=60, what="every message processed")


@pytest.mark.parametrize("unredacted", [False, True], ids=["redacted", "debug_unredacted"])
def test_full_run_logs_hold_no_personal_data(tmp_path: Path, unredacted: bool) -> None:
    env = base_env(tmp_path, OPTOUT_LOGGING_LEVEL="debug",
                   OPTOUT_LOGGING_DEBUG_UNREDACTED="true" if unredacted else "false")
    prepare_store(tmp_path, env)
    daemon = DaemonProcess(env)
    try:
        daemon.wait_http()
        for sender, subject, body in MESSAGES:
            assert send(daemon.smtp_port, make_message(sender=sender, subject=subject, body=body)) == {}
        _wait_processed(tmp_path / "optout.db", len(MESSAGES))
        wait_for(lambda: len(list((tmp_path / "notices" / "new").glob("*"))) >= 2, what="notices written")
        wait_for(lambda: daemon.events("notice_sent"), what="notice_sent logged")
    finally:
        code = daemon.stop()
    assert code == 0
    logs = daemon.logs()
    for line in daemon.stdout:  # JSON lines on stdout under systemd
        json.loads(line)
    assert daemon.events("message_processed"), "the run must have logged its work"
    leaks = [n for n in _needles() if n.lower() in logs.lower()]
    if unredacted:
        assert set(ADDRESSES[:3]) & set(leaks), "debug_unredacted must show addresses: the grep is broken"
    else:
        assert leaks == [], f"personal data in the logs: {leaks}"
    # The grep itself works on real output: the notices the run wrote do hold a needle.
    notices = "".join(p.read_text(errors="replace") for p in (tmp_path / "notices" / "new").glob("*"))
    assert any(n.lower() in notices.lower() for n in ADDRESSES)
