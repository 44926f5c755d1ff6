"""status, export, tokens, purge and doctor, run as the operator runs them."""

from __future__ import annotations

import csv
import io
import json
import socket
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from optout_daemon.cli import main
from optout_daemon.pipeline.types import ConsentStateValue
from optout_daemon.store import ledger
from optout_daemon.store.customers import import_rows, read_csv
from optout_daemon.store.db import Arrival, make_engine, store_arrivals, upgrade
from optout_daemon.store.tables import ApiToken, ConsentEvent, ConsentState, Customer, InboundMessage, utcnow
from optout_daemon.store.tokens import check_token
from tests.helpers import free_port
from tests.service.support import base_env, cli

IM = InboundMessage.__table__


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, customers_csv: Path) -> dict[str, str]:
    values = {k: v for k, v in base_env(tmp_path).items() if k.startswith("OPTOUT_")}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("OPTOUT_CONFIG", raising=False)
    engine = make_engine(values["OPTOUT_DATABASE_URL"])
    upgrade(engine)
    import_rows(engine, read_csv(customers_csv, "US"))
    engine.dispose()
    return values


def _engine(env: dict[str, str]):
    return make_engine(env["OPTOUT_DATABASE_URL"])


def _opt_out(engine, account: str) -> None:
    with engine.begin() as conn:
        cid = conn.execute(select(Customer.__table__.c.id).where(
            Customer.__table__.c.account_number == account)).scalar_one()
        ledger.apply_consent(conn, customer_id=cid, new_state=ConsentStateValue.OPTED_OUT, method="operator",
                             decided_by="operator:test", default="opted_in")


def test_status_exit_codes(env, capsys) -> None:
    assert main(["status", "1000-2000-01"]) == 0
    assert "ALLOWED" in capsys.readouterr().out
    _opt_out(_engine(env), "1000200001")
    assert main(["status", "1000-2000-01"]) == 3
    out = capsys.readouterr().out
    assert "NOT ALLOWED (opted_out since 20" in out
    assert main(["status", "5555-5555-55"]) == 3
    assert "no such customer" in capsys.readouterr().out
    assert main(["status", "--json", "1000200002"]) == 0
    assert json.loads(capsys.readouterr().out)["marketing_allowed"] is True


def test_status_as_a_subprocess_exit_code_and_store_unreachable(env, tmp_path) -> None:
    full = base_env(tmp_path, **env)
    assert cli(full, "status", "9999", check=False).returncode == 3
    full["OPTOUT_DATABASE_URL"] = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    result = cli(full, "status", "1000-2000-01", check=False)
    assert result.returncode not in (0, 3) and "database" in result.stderr


def test_export_csv_and_jsonl(env, tmp_path, capsys) -> None:
    _opt_out(_engine(env), "1000200002")
    assert main(["export", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["account"], r["state"], r["explicit"], r["emails"]) for r in rows] == [
        ("1000200002", "opted_out", "yes", "jp@example.com;juan.perez@example.org")]
    assert rows[0]["since"].endswith("Z")
    out = tmp_path / "suppression.jsonl"
    assert main(["export", "--format", "jsonl", "--output", str(out)]) == 0
    assert "exported 1 customer" in capsys.readouterr().err
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0]["account"] == "1000200002" and lines[0]["since"] and "id" not in lines[0]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".suppression")] == []


def test_tokens_add_list_revoke(env, capsys) -> None:
    assert main(["tokens", "add", "crm"]) == 0
    captured = capsys.readouterr()
    token = captured.out.strip()
    assert token.startswith("odt_") and "shown only this once" in captured.err
    with _engine(env).connect() as conn:
        stored = conn.execute(select(ApiToken.__table__)).one()
    assert token not in str(tuple(stored))
    assert main(["tokens", "add", "crm"]) == 1
    assert "is in use: revoke it first ('optout-daemon tokens revoke crm')" in capsys.readouterr().err
    assert main(["tokens", "list"]) == 0
    assert "crm\tactive" in capsys.readouterr().out
    assert main(["tokens", "revoke", "crm"]) == 0
    assert main(["tokens", "list"]) == 0
    assert "crm\trevoked" in capsys.readouterr().out
    assert main(["tokens", "revoke", "nobody"]) == 1
    # The name is free again once revoked; the old token stays listed as revoked and stays refused.
    assert main(["tokens", "add", "crm"]) == 0
    new_token = capsys.readouterr().out.strip()
    assert main(["tokens", "list"]) == 0
    listed = capsys.readouterr().out
    assert "crm\tactive" in listed and "crm.revoked-1\trevoked" in listed
    with _engine(env).connect() as conn:
        assert check_token(conn, token) is None and check_token(conn, new_token)[1] == "crm"


def test_purge_removes_old_bodies_only_and_never_touches_consent(env, capsys) -> None:
    engine = _engine(env)
    ids = store_arrivals(engine, [Arrival(raw=f"Subject: {i}\r\n\r\nbody {i}".encode(), source="smtp")
                                  for i in range(4)])
    old = utcnow() - timedelta(days=200)
    with engine.begin() as conn:
        conn.execute(update(IM).where(IM.c.id.in_(ids[:3])).values(received_at=old))
        conn.execute(update(IM).where(IM.c.id.in_([ids[0], ids[3]])).values(status="processed"))
        conn.execute(update(IM).where(IM.c.id == ids[2]).values(status="review"))
        ledger.open_review(conn, inbound_message_id=ids[2], reasons=["test"])
        ledger.apply_consent(conn, customer_id=1, new_state=ConsentStateValue.OPTED_OUT, method="email",
                             decided_by="daemon", default="opted_in", inbound_message_id=ids[0])
    with engine.connect() as conn:
        before = (conn.execute(select(ConsentEvent.__table__)).all(), conn.execute(select(ConsentState.__table__)).all())

    assert main(["purge", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would purge the raw bodies of 1 message(s)" in out
    with engine.connect() as conn:
        assert conn.execute(select(IM.c.raw).where(IM.c.id == ids[0])).scalar_one() is not None

    assert main(["purge"]) == 0
    out = capsys.readouterr().out
    assert "purged the raw bodies of 1 message(s)" in out
    assert "kept 1 old message(s) not yet processed and 1 with an open review item" in out
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(IM.c.id, IM.c.raw, IM.c.raw_purged_at, IM.c.sha256))}
        after = (conn.execute(select(ConsentEvent.__table__)).all(), conn.execute(select(ConsentState.__table__)).all())
    assert rows[ids[0]].raw is None and rows[ids[0]].raw_purged_at is not None and rows[ids[0]].sha256
    assert all(rows[i].raw is not None for i in ids[1:])
    assert after == before
    assert main(["purge"]) == 0
    assert "purged the raw bodies of 0 message(s)" in capsys.readouterr().out


def test_doctor_all_ok(env, capsys, smtp_sink, monkeypatch) -> None:
    monkeypatch.setenv("OPTOUT_NOTICES_RELAY_HOST", "127.0.0.1")
    monkeypatch.setenv("OPTOUT_NOTICES_RELAY_PORT", str(smtp_sink.port))
    monkeypatch.setenv("OPTOUT_NOTICES_RELAY_STARTTLS", "false")
    code = main(["doctor"])
    out = capsys.readouterr().out
    print(out)
    assert code == 0, out
    for what in ("configuration", "store", "migrations", "classifier (keywords)", "smtp.port", "console.port",
                 "relay"):
        assert f"OK   {what}" in out, what
    assert "answers EHLO" in out


def test_doctor_says_what_to_fix(env, capsys, monkeypatch, tmp_path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    monkeypatch.setenv("OPTOUT_SMTP_PORT", str(taken.getsockname()[1]))
    monkeypatch.setenv("OPTOUT_NOTICES_RELAY_HOST", "127.0.0.1")
    monkeypatch.setenv("OPTOUT_NOTICES_RELAY_PORT", str(free_port()))
    (tmp_path / "empty.db").touch()
    monkeypatch.setenv("OPTOUT_DATABASE_URL", f"sqlite:///{tmp_path}/empty.db")
    try:
        code = main(["doctor"])
    finally:
        taken.close()
    out = capsys.readouterr().out
    print(out)
    assert code == 1
    assert "FAIL migrations: schema at none" in out and "optout-daemon db upgrade" in out
    assert "FAIL smtp.port" in out and "taken by another program" in out
    assert "FAIL relay" in out and "notices.relay_host" in out


def test_doctor_says_each_fix_once_on_one_line_and_creates_nothing(env, capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("OPTOUT_DATABASE_URL", f"sqlite:///{tmp_path}/missing/optout.db")
    monkeypatch.setenv("OPTOUT_CLASSIFIER_KIND", "model")
    monkeypatch.setenv("OPTOUT_CLASSIFIER_MODEL_PATH", str(tmp_path / "no-model"))
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL store: no database at" in out and "run 'optout-daemon db upgrade'" in out
    assert not (tmp_path / "missing").exists()
    model_line = next(line for line in out.splitlines() if line.startswith("FAIL classifier"))
    assert model_line.count("optout-daemon model train") == 1 and "no-model" in model_line
    assert "overridden by OPTOUT_CLASSIFIER_KIND, OPTOUT_CLASSIFIER_MODEL_PATH" in out

    monkeypatch.setenv("OPTOUT_DATABASE_URL", "postgresql+psycopg://nosuchrole@127.0.0.1:1/none")
    assert main(["doctor"]) == 1
    store_line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL store"))
    assert store_line.endswith("check database.url and that the database server runs")
    assert "Background on this error" not in store_line and "sqlalche.me" not in store_line


def test_doctor_bad_configuration(env, capsys, monkeypatch) -> None:
    monkeypatch.setenv("OPTOUT_SMTP_PORT", "seventy")
    assert main(["doctor"]) == 1
    assert "FAIL configuration: smtp.port" in capsys.readouterr().out


def test_doctor_imap_account_unreachable(env, capsys, monkeypatch, tmp_path) -> None:
    config = tmp_path / "optout.toml"
    config.write_text(f'[imap]\nenabled = true\n[[imap.accounts]]\nname = "main"\nhost = "127.0.0.1"\n'
                      f'port = {free_port()}\ntls = "none"\nusername = "u"\npassword = "p"\n', encoding="utf-8")
    assert main(["--config", str(config), "doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL imap account main (127.0.0.1:" in out


def test_doctor_ports_held_by_a_running_daemon_are_ok(env, capsys, monkeypatch, daemon_thread, tmp_path) -> None:
    from tests.conftest import make_settings

    d = daemon_thread(make_settings(tmp_path / "d", OPTOUT_DATABASE_URL=env["OPTOUT_DATABASE_URL"]))
    monkeypatch.setenv("OPTOUT_SMTP_PORT", str(d.smtp_port))
    monkeypatch.setenv("OPTOUT_CONSOLE_PORT", str(d.http_port))
    monkeypatch.setenv("OPTOUT_CLASSIFIER_KIND", "model")
    monkeypatch.setenv("OPTOUT_CLASSIFIER_MODEL_PATH", str(tmp_path / "no-model"))
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    print(out)
    assert f"OK   smtp.port: 127.0.0.1:{d.smtp_port} is held by a running optout-daemon" in out
    assert f"OK   console.port: 127.0.0.1:{d.http_port} is held by a running optout-daemon" in out
    assert "FAIL classifier (model): no trained model at" in out and "optout-daemon model train" in out
