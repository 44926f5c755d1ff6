"""SIGHUP reloads the log level and the thresholds from the TOML file, and says what it did not
reload; systemd hears RELOADING=1 and READY=1 around it."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import pytest

from tests.helpers import make_message, send, wait_for
from tests.service.support import DaemonProcess, NotifySocket, base_env, prepare_store

CONFIG = """
[database]
url = "sqlite:///{tmp}/optout.db"
[smtp]
port = {smtp}
hostname = "{hostname}"
[console]
port = {http}
secret_key_file = "{tmp}/console.key"
[mailbox]
addresses = ["marketing@example.com"]
[notices]
maildir = "{tmp}/notices"
[worker]
processes = {processes}
idle_poll_seconds = 0.05
[classifier]
kind = "model"
[logging]
level = "{level}"
format = "json"
[policy]
opt_out_threshold = {threshold}
"""


def _status_of(db: Path, sender: str) -> str | None:
    with sqlite3.connect(db) as conn:
        row = conn.execute("select status from inbound_messages where mail_from = ?", (sender,)).fetchone()
    return row[0] if row and row[0] != "received" else None


@pytest.mark.parametrize("processes", [0, 1], ids=["worker in the daemon", "worker process"])
def test_sighup_reloads_level_and_thresholds(tmp_path: Path, processes: int) -> None:
    env = {k: v for k, v in base_env(tmp_path).items() if not k.startswith("OPTOUT_")}
    ports = base_env(tmp_path)
    config = tmp_path / "optout.toml"

    def write(level: str, threshold: float, hostname: str) -> None:
        config.write_text(CONFIG.format(tmp=tmp_path, smtp=ports["OPTOUT_SMTP_PORT"], http=ports["OPTOUT_CONSOLE_PORT"],
                                        hostname=hostname, level=level, threshold=threshold, processes=processes),
                          encoding="utf-8")

    write("warning", 1.0, "before.example")
    systemd = NotifySocket(tmp_path / "notify.sock")
    env.update(NOTIFY_SOCKET=str(systemd.path), OPTOUT_CONFIG=str(config))
    prepare_store(tmp_path, env)
    daemon = DaemonProcess({**env, "OPTOUT_SMTP_PORT": ports["OPTOUT_SMTP_PORT"],
                            "OPTOUT_CONSOLE_PORT": ports["OPTOUT_CONSOLE_PORT"]}, "--config", str(config))
    db = tmp_path / "optout.db"
    try:
        wait_for(lambda: systemd.count("READY=1"), timeout=90, what="READY=1")
        # Threshold 1.0: the model's opt-out (confidence just under 1) waits for a person.
        send(daemon.smtp_port, make_message(sender="Jane Doe <jane@example.net>"))
        # (a worker process loads the model after READY: on a loaded machine that alone can take 15 s)
        assert wait_for(lambda: _status_of(db, "jane@example.net"), timeout=90, what="jane's message") == "review"
        assert not daemon.events("daemon_started"), "level warning: no info lines yet"

        write("info", 0.6, "after.example")
        daemon.signal(signal.SIGHUP)
        reloaded = wait_for(lambda: daemon.events("reloaded"), what="the reloaded event")[0]
        assert {"logging", "policy thresholds"} <= set(reloaded["reloaded"])
        assert reloaded["not_reloaded_restart_needed"] == ["smtp"]  # hostname: needs a restart
        if processes:  # the worker process takes the new thresholds too, before its next batch
            worker = wait_for(lambda: daemon.events("worker_reloaded"), timeout=90, what="the worker_reloaded event")[0]
            assert "policy thresholds" in worker["reloaded"]
        lines = systemd.lines()
        assert "RELOADING=1" in lines and lines.count("READY=1") == 2
        assert lines.index("RELOADING=1") < len(lines) - 1 - lines[::-1].index("READY=1")

        # Threshold 0.6 now: the same kind of message is applied.
        send(daemon.smtp_port, make_message(sender="Mary Major <mary@example.net>"))
        assert wait_for(lambda: _status_of(db, "mary@example.net"), what="mary's message") == "processed"
        assert daemon.events("message_processed"), "level info now: the canonical line is logged"
    finally:
        code = daemon.stop()
        systemd.close()
    assert code == 0, daemon.logs()[-3000:]
