"""The console's pages over HTTP against a real daemon: filters, bulk decisions, search, messages."""

from __future__ import annotations

from sqlalchemy import func, select

from optout_daemon.cli import main

from optout_daemon.store.tables import ConsentEvent, Notice
from tests.console.support import RI, csrf_of, review_via_smtp, sign_in, start_console
from tests.helpers import maildir_files, wait_for


def test_bulk_decision_search_and_filters(daemon_thread, tmp_path, customers_csv):
    d, engine = start_console(daemon_thread, tmp_path, customers_csv)
    janes = [review_via_smtp(d, engine, sender="Jane Doe <jane.other@elsewhere.example>", subject=f"Stop {n}",
                             body="Please stop using my information for marketing.") for n in range(3)]
    other = review_via_smtp(d, engine, sender="Someone <who@elsewhere.example>",
                            body="Hola, una pregunta sobre la privacidad de mis datos y publicidad.")
    client = sign_in(f"http://127.0.0.1:{d.http_port}")
    queue = client.get("/review")
    assert queue.headers["content-security-policy"].startswith("default-src 'none'")
    assert "4 open" in queue.text and "0 overdue" in queue.text
    spanish = client.get("/review", params={"language": "es"}).text
    assert f"/review/{other}" in spanish and f"/review/{janes[0]}" not in spanish
    by_reason = client.get("/review", params={"reason": "several_candidates", "sort": "time_left"}).text
    assert all(f"/review/{i}" in by_reason for i in janes) and f"/review/{other}" not in by_reason
    answer = client.post("/review/bulk", data={"csrf": csrf_of(queue.text), "item_ids": [str(i) for i in janes],
                                               "action": "opt_out", "account": "1000-2000-01", "note": "3 mails"})
    assert answer.status_code == 303
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ConsentEvent.__table__)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(Notice.__table__)).scalar_one() == 2
        assert conn.execute(select(RI.c.status).where(RI.c.id == other)).scalar_one() == "open"
    assert "1 open" in client.get("/review").text
    # the outbox sends the confirmations at once, as for an automatic decision
    notices = wait_for(lambda: len(maildir_files(tmp_path / "notices")) == 2 and maildir_files(tmp_path / "notices"),
                       what="two notices in the maildir")
    assert all(b"1000200001" not in f.read_bytes() for f in notices)  # no CPNI, not even the account
    assert 'optout_consent_changes_total{state="opted_out"} 1.0' in client.get("/metrics").text
    refused = client.post("/review/bulk", data={"csrf": csrf_of(queue.text), "item_ids": [str(janes[0]), str(other)],
                                                "action": "no_action"})
    assert refused.status_code == 409 and "already resolved" in refused.text
    hits = client.get("/customers", params={"q": "(415) 867-5309"}).text
    assert "/customers/1000200001" in hits and "opted_out" in hits
    assert "No customer matches" in client.get("/customers", params={"q": "nobody"}).text
    page = client.get("/customers/1000200001").text
    assert "operator:alice" in page and "3 mails" in page and "/messages/" in page
    assert client.get("/customers/0000").status_code == 404
    assert client.get("/review/9999").status_code == 404


def test_an_item_shows_the_scores_of_its_decision_with_the_worker_in_its_own_process(daemon_thread, tmp_path,
                                                                                    customers_csv, capsys,
                                                                                    monkeypatch):
    # worker.processes = 1, the default: the console's process has no classifier of its own.
    d, engine = start_console(daemon_thread, tmp_path, customers_csv, OPTOUT_WORKER_PROCESSES="1")
    item = review_via_smtp(d, engine, sender="Someone <who@elsewhere.example>",
                           body="Please stop using my information for marketing.")
    client = sign_in(f"http://127.0.0.1:{d.http_port}")
    page = client.get(f"/review/{item}")
    assert page.status_code == 200, page.text
    assert "Classifier scores (keywords)" in page.text and "<th>opt_out</th>" in page.text
    with engine.connect() as conn:
        stored = conn.execute(select(RI.c.scores, RI.c.classifier).where(RI.c.id == item)).one()
    assert stored.classifier == "keywords" and '"opt_out"' in stored.scores

    monkeypatch.setenv("OPTOUT_DATABASE_URL", d.settings.database.url)
    assert main(["review", "show", str(item)]) == 0
    assert "scores (keywords): ambiguous" in capsys.readouterr().out
