"""The CLI twin: `optout-daemon review ...` and `operators ...` call the same store functions.

The same message, sent to two identical daemons, decided once in the console and once with the
CLI, leaves identical ledger rows, notices and resolutions apart from the operator and the time.
"""

from __future__ import annotations

import io
from typing import Any

from sqlalchemy import select

from optout_daemon.cli import main
from optout_daemon.console.auth import verify_operator
from optout_daemon.store.tables import ConsentEvent, ConsentState, InboundMessage, Notice, ReviewItem
from tests.console.support import csrf_of, review_via_smtp, sign_in, start_console

TABLES = {
    ConsentEvent.__table__: {"occurred_at", "decided_by"},
    ConsentState.__table__: {"since", "last_confirmed_at"},
    Notice.__table__: {"created_at", "next_attempt_at", "status", "attempts", "sent_at", "claimed_by",
                       "claim_expires_at", "last_error"},  # the outbox may already have sent one of them
    ReviewItem.__table__: {"created_at", "due_at", "resolved_at", "resolved_by", "claimed_by", "claim_expires_at"},
    InboundMessage.__table__: {"received_at", "processed_at", "raw", "natural_key", "sha256", "claim_expires_at"},
}
MESSAGE = dict(sender="Jane Doe <jane.other@elsewhere.example>", subject="Privacy",
               body="Please stop using my information for marketing.", message_id="<twin@elsewhere.example>")


def rows(engine: Any) -> dict[str, list[dict[str, Any]]]:
    with engine.connect() as conn:
        return {t.name: [{k: v for k, v in r.items() if k not in skip}
                         for r in conn.execute(select(t).order_by(*t.primary_key.columns)).mappings()]
                for t, skip in TABLES.items()}


def use_cli(monkeypatch: Any, settings: Any) -> None:
    monkeypatch.setenv("OPTOUT_DATABASE_URL", settings.database.url)
    monkeypatch.setenv("OPTOUT_CLASSIFIER_KIND", "keywords")


def test_console_and_cli_decisions_leave_identical_ledger_rows(daemon_thread, tmp_path, customers_csv,
                                                                monkeypatch, capsys):
    (tmp_path / "web").mkdir()
    (tmp_path / "cli").mkdir()
    web, web_engine = start_console(daemon_thread, tmp_path / "web", customers_csv)
    cli, cli_engine = start_console(daemon_thread, tmp_path / "cli", customers_csv)
    web_item = review_via_smtp(web, web_engine, **MESSAGE)
    cli_item = review_via_smtp(cli, cli_engine, **MESSAGE)
    assert web_item == cli_item
    client = sign_in(f"http://127.0.0.1:{web.http_port}")
    token = csrf_of(client.get(f"/review/{web_item}").text)
    answer = client.post(f"/review/{web_item}/resolve", data={"csrf": token, "action": "opt_out",
                                                              "account": "1000-2000-01", "note": "phoned in"})
    assert answer.status_code == 303
    use_cli(monkeypatch, cli.settings)
    assert main(["review", "resolve", str(cli_item), "--action", "opt_out", "--customer", "1000-2000-01",
                 "--note", "phoned in", "--operator", "bob"]) == 0
    assert "consent event 1, 2 notice(s) queued) by operator:bob" in capsys.readouterr().out
    web_rows, cli_rows = rows(web_engine), rows(cli_engine)
    assert web_rows == cli_rows
    assert len(web_rows["consent_events"]) == 1 and len(web_rows["notices"]) == 2
    with web_engine.connect() as a, cli_engine.connect() as b:
        who = select(ConsentEvent.__table__.c.decided_by)
        assert (a.execute(who).scalar_one(), b.execute(who).scalar_one()) == ("operator:alice", "operator:bob")


def test_review_list_show_and_clear_errors(daemon_thread, tmp_path, customers_csv, monkeypatch, capsys):
    d, engine = start_console(daemon_thread, tmp_path, customers_csv)
    item = review_via_smtp(d, engine, **MESSAGE)
    use_cli(monkeypatch, d.settings)
    assert main(["review", "list"]) == 0
    out = capsys.readouterr().out
    assert f"{item:>7}" in out and "several_candidates" in out and "1 open, 0 overdue" in out
    assert main(["review", "list", "--json", "--language", "es"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["review", "show", str(item)]) == 0
    out = capsys.readouterr().out
    assert "candidate 1000200001: name=Jane Doe (supporting)" in out
    assert "Please stop using my information for marketing." in out
    assert main(["review", "resolve", str(item), "--action", "opt_out", "--operator", "bob"]) == 1
    assert "needs an account number" in capsys.readouterr().err
    assert main(["review", "show", "999"]) == 1
    assert "review item 999 does not exist" in capsys.readouterr().err
    assert main(["review", "resolve", str(item), "--action", "no_action", "--operator", "bob"]) == 0
    assert main(["review", "resolve", str(item), "--action", "opt_out", "--customer", "1000200001"]) == 1
    assert "already resolved: a decision is final" in capsys.readouterr().err


def test_operators_add_with_password_on_stdin_or_asked_twice(daemon_thread, tmp_path, customers_csv,
                                                             monkeypatch, capsys):
    d, engine = start_console(daemon_thread, tmp_path, customers_csv)
    use_cli(monkeypatch, d.settings)
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["operators", "add", "bob", "--password-stdin"]) == 0
    assert verify_operator(engine, "bob", "a long enough password")
    assert not verify_operator(engine, "bob", "a wrong password")
    monkeypatch.setattr("sys.stdin", io.StringIO("another password\n"))
    assert main(["operators", "add", "bob", "--password-stdin"]) == 1
    assert "operator bob already exists" in capsys.readouterr().err
    answers = iter(["first password!", "second password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["operators", "add", "carol"]) == 1
    assert "the two passwords differ" in capsys.readouterr().err
    answers = iter(["short", "short"])
    assert main(["operators", "add", "carol"]) == 1
    assert "too short" in capsys.readouterr().err
    assert main(["operators", "add", "bad name!", "--password-stdin"]) == 1
    assert main(["operators", "disable", "bob"]) == 0
    assert not verify_operator(engine, "bob", "a long enough password")
    assert main(["operators", "list"]) == 0
    assert "bob\tdisabled" in capsys.readouterr().out
