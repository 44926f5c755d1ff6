"""The command line as an operator uses it: analyze, customers, db; errors say what to do."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import make_message


def run(env, *args, cwd=None):
    full = {k: v for k, v in os.environ.items() if not k.startswith("OPTOUT_")}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "optout_daemon", *args], env=full, capture_output=True, text=True,
                          timeout=120, cwd=cwd)


@pytest.fixture
def env(tmp_path, customers_csv):
    env = {"OPTOUT_DATABASE_URL": f"sqlite:///{tmp_path}/optout.db", "OPTOUT_CLASSIFIER_KIND": "keywords"}
    assert run(env, "db", "upgrade").returncode == 0
    imported = run(env, "customers", "import", str(customers_csv))
    assert imported.returncode == 0, imported.stderr
    assert "3 new" in imported.stdout
    return env


def test_analyze_prints_one_json_object_per_file_and_writes_nothing(env, tmp_path):
    files = {
        "optout.eml": make_message(body="Please stop using my data for marketing."),
        "stranger.eml": make_message(sender="x@nowhere.example", body="Unsubscribe me from marketing. Acct 1000-2000-02"),
        "bounce.eml": make_message(sender="MAILER-DAEMON@mx.example.net", subject="Undelivered Mail Returned to Sender",
                                   body="This is the mail system at host mx.example.net.\nI'm sorry to have to "
                                        "inform you that your message could not be delivered."),
        "vacation.eml": make_message(subject="Out of office", body="I am out of the office until Monday.",
                                     headers={"Auto-Submitted": "auto-replied"}),
    }
    paths = []
    for name, msg in files.items():
        (tmp_path / name).write_bytes(msg.as_bytes())
        paths.append(str(tmp_path / name))
    before = (tmp_path / "optout.db").read_bytes()
    proc = run(env, "analyze", *paths)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [set(line) for line in lines] == [
        {"file", "intent", "confidence", "customer", "candidates", "decision", "reasons"}] * 4
    by_name = {os.path.basename(line["file"]): line for line in lines}
    assert by_name["optout.eml"]["intent"] == "opt_out" and by_name["optout.eml"]["decision"] == "apply"
    assert by_name["optout.eml"]["customer"] == "1000200001"
    assert by_name["stranger.eml"]["customer"] == "1000200002"
    assert by_name["bounce.eml"]["intent"] == "bounce" and by_name["bounce.eml"]["decision"] == "ignore"
    assert by_name["vacation.eml"]["intent"] == "auto_reply" and by_name["vacation.eml"]["decision"] == "ignore"
    assert all(0 <= line["confidence"] <= 1 for line in lines)
    assert (tmp_path / "optout.db").read_bytes() == before


def test_customers_show_and_errors_that_say_what_to_do(env, tmp_path):
    shown = run(env, "customers", "show", "1000-2000-02")
    assert shown.returncode == 0
    assert "Juan Pérez" in shown.stdout and "+16465553890" in shown.stdout and "opted_in (default)" in shown.stdout
    missing = run(env, "customers", "show", "999")
    assert missing.returncode == 1
    assert "no customer with account number 999" in missing.stderr and "customers import" in missing.stderr
    unreadable = run(env, "analyze", str(tmp_path / "nope.eml"))
    assert unreadable.returncode == 1 and "cannot read" in unreadable.stdout


def test_a_database_without_schema_says_to_migrate(tmp_path):
    proc = run({"OPTOUT_DATABASE_URL": f"sqlite:///{tmp_path}/fresh.db"}, "customers", "show", "1")
    assert proc.returncode == 1
    assert "run 'optout-daemon db upgrade' first" in proc.stderr
