"""The newcomer's path over real sockets: smtplib -> daemon -> consent recorded -> notice out."""

from __future__ import annotations

import email
import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from optout_daemon.store.customers import import_rows, read_csv
from optout_daemon.store.db import make_engine
from optout_daemon.store.tables import ConsentEvent, ConsentState, InboundMessage, Notice
from tests.conftest import make_settings
from tests.helpers import make_message, send, wait_for


@pytest.mark.parametrize("processes", ["0", "1"], ids=["worker in the daemon", "worker process (the default)"])
def test_opt_out_over_smtp_is_recorded_and_confirmed_through_the_relay(tmp_path, customers_csv, smtp_sink,
                                                                        daemon_thread, processes):
    settings = make_settings(tmp_path, OPTOUT_NOTICES_RELAY_HOST="127.0.0.1",
                             OPTOUT_NOTICES_RELAY_PORT=str(smtp_sink.port), OPTOUT_NOTICES_RELAY_STARTTLS="false",
                             OPTOUT_WORKER_PROCESSES=processes)
    d = daemon_thread(settings)
    import_rows(d.daemon.engine, read_csv(customers_csv, "US"))

    request = make_message(subject="Stop", body="Please stop using my info for your ads.\n\nJane",
                           message_id="<req-1@example.net>")
    refused = send(d.smtp_port, request)
    assert refused == {}

    wait_for(lambda: smtp_sink.messages, what="the confirmation at the relay")
    mail_from, rcpts, raw = smtp_sink.messages[0]
    assert rcpts == ["jane@example.net"]
    notice = email.message_from_bytes(raw)
    assert notice["Auto-Submitted"] == "auto-replied"
    assert notice["In-Reply-To"] == "<req-1@example.net>"
    body = notice.get_payload(decode=True).decode()
    assert "1000200001" not in body and "1000-2000-01" not in body  # no CPNI, not even the account

    engine = make_engine(settings.database.url).execution_options(readonly=True)
    with engine.connect() as conn:
        events = conn.execute(select(ConsentEvent)).all()
        assert [(e.old_state, e.new_state, e.method, e.decided_by) for e in events] == [
            ("opted_in", "opted_out", "email", "daemon")]
        assert conn.execute(select(ConsentState.state)).scalar_one() == "opted_out"
        assert conn.execute(select(InboundMessage.status)).scalar_one() == "processed"

    def notice_status():
        with engine.connect() as conn:
            return conn.execute(select(Notice.status)).scalar_one()

    wait_for(lambda: notice_status() == "sent", what="notice sent")
    if processes == "1":  # worker.yield_to_intake (default): the worker uses only what intake leaves
        assert [os.sched_getscheduler(p.pid) for p in d.daemon.worker_processes.processes] == [os.SCHED_IDLE]


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux's")
def test_a_worker_starved_by_other_work_is_replaced_at_nice_5_and_the_mail_is_processed(tmp_path, customers_csv,
                                                                                        daemon_thread):
    settings = make_settings(tmp_path, OPTOUT_WORKER_PROCESSES="1", OPTOUT_WORKER_STARVED_AFTER_SECONDS="2")
    d = daemon_thread(settings)
    import_rows(d.daemon.engine, read_csv(customers_csv, "US"))
    procs = d.daemon.worker_processes
    wait_for(lambda: os.sched_getscheduler(procs.processes[0].pid) == os.SCHED_IDLE, timeout=120,
             what="the worker process under SCHED_IDLE")
    starved = procs.processes[0].pid
    cpu = {min(os.sched_getaffinity(0))}
    # Another process of the host keeps the worker's only CPU busy: an idle-class task barely runs.
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        os.sched_setaffinity(hog.pid, cpu)
        os.sched_setaffinity(starved, cpu)
        for i in range(20):
            assert send(d.smtp_port, make_message(subject="Stop", body="Please stop using my info for your ads.",
                                                  message_id=f"<starved-{i}@example.net>")) == {}
        wait_for(lambda: procs.processes[0].pid != starved, timeout=120, what="the starved worker replaced")
        replacement = procs.processes[0].pid
        wait_for(lambda: os.getpriority(os.PRIO_PROCESS, replacement) == 5, timeout=60, what="the replacement at nice 5")

        engine = make_engine(settings.database.url).execution_options(readonly=True)

        def statuses():
            with engine.connect() as conn:
                return conn.execute(select(InboundMessage.status)).scalars().all()

        wait_for(lambda: sorted(statuses()) == ["processed"] * 20, timeout=120, what="every message processed")
        assert os.sched_getscheduler(replacement) == os.SCHED_OTHER  # and stays so: it would starve again
        with engine.connect() as conn:
            assert conn.execute(select(ConsentState.state)).scalars().all() == ["opted_out"]
            assert len(conn.execute(select(ConsentEvent)).all()) == 1  # replayed claims: recorded once
    finally:
        hog.kill()
        hog.wait()


def test_opt_out_from_another_address_confirms_to_sender_and_address_of_record(tmp_path, customers_csv,
                                                                               daemon_thread):
    settings = make_settings(tmp_path)
    d = daemon_thread(settings)
    import_rows(d.daemon.engine, read_csv(customers_csv, "US"))
    send(d.smtp_port, make_message(sender="Juan <juan.trabajo@example.com>", subject="Privacidad",
                                   body="Por favor dejen de usar mis datos para publicidad. Cuenta 1000-2000-02"))
    engine = make_engine(settings.database.url).execution_options(readonly=True)

    def statuses():
        with engine.connect() as conn:
            return conn.execute(select(Notice.status)).scalars().all()

    wait_for(lambda: statuses() == ["sent"] * 3, what="3 notices")
    with engine.connect() as conn:
        recipients = conn.execute(select(Notice.recipient, Notice.language)).all()
    assert sorted(recipients) == [("jp@example.com", "es"), ("juan.perez@example.org", "es"),
                                  ("juan.trabajo@example.com", "es")]
    for path in (tmp_path / "notices" / "new").iterdir():
        msg = email.message_from_bytes(path.read_bytes())
        text = msg.get_payload(decode=True).decode()
        assert "CPNI" in text and "1000" not in text and "646" not in text
        assert msg["Content-Language"] == "es"
