"""The systemd notify protocol: a test plays systemd with a real Unix datagram socket."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from pathlib import Path

from optout_daemon.systemd import Notifier, stale_loops
from tests.conftest import make_settings
from tests.helpers import wait_for
from tests.service.support import DaemonProcess, NotifySocket, base_env, prepare_store


def test_daemon_subprocess_sends_ready_watchdog_status_and_stopping(tmp_path: Path) -> None:
    systemd = NotifySocket(tmp_path / "notify.sock")
    env = base_env(tmp_path, OPTOUT_WORKER_PROCESSES="1", NOTIFY_SOCKET=str(systemd.path),
                   WATCHDOG_USEC="400000")  # WatchdogSec=0.4s: a ping every 0.2 s
    prepare_store(tmp_path, env, customers=False)
    daemon = DaemonProcess(env)
    try:
        wait_for(lambda: systemd.count("READY=1"), timeout=60, what="READY=1")
        daemon.wait_http()  # READY=1 came after intake listens: /healthz answers
        ready_at = systemd.lines().index("READY=1")
        assert any(line.startswith("STATUS=backlog 0 message(s)") for line in systemd.lines())
        wait_for(lambda: systemd.lines()[ready_at:].count("WATCHDOG=1") >= 3, what="periodic WATCHDOG=1")
        assert "WATCHDOG=1" not in systemd.lines()[:ready_at]
        # The worker process does not inherit NOTIFY_SOCKET: it was removed before it was spawned.
        for child in _children(daemon.proc.pid):
            environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
            assert not any(v.startswith((b"NOTIFY_SOCKET=", b"WATCHDOG_USEC=")) for v in environ), child
        assert _children(daemon.proc.pid), "expected a worker process"
    finally:
        code = daemon.stop()
        systemd.close()
    lines = systemd.lines()
    assert code == 0, daemon.logs()[-3000:]
    assert "STOPPING=1" in lines and lines.index("STOPPING=1") > lines.index("READY=1")
    assert [e["event"] for e in daemon.events()][-1] == "daemon_stopped"


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def test_environment_is_read_once_and_removed() -> None:
    environ = {"NOTIFY_SOCKET": "/run/x.sock", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid()),
               "PATH": "/bin"}
    n = Notifier.from_environ(environ)
    assert environ == {"PATH": "/bin"}
    assert n.enabled and n.watchdog_interval == 15.0
    n.close()


def test_watchdog_is_off_when_watchdog_pid_is_another_process() -> None:
    environ = {"NOTIFY_SOCKET": "/run/x.sock", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}
    n = Notifier.from_environ(environ)
    assert n.enabled and n.watchdog_interval == 0.0
    n.close()


def test_outside_systemd_every_call_is_a_no_op() -> None:
    n = Notifier.from_environ({})
    assert not n.enabled and n.ready() is False and n.watchdog() is False and n.stopping() is False


def test_abstract_socket_name() -> None:
    name = f"optout-test-{os.getpid()}-{time.monotonic_ns()}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind("\0" + name)
    server.settimeout(10)
    n = Notifier.from_environ({"NOTIFY_SOCKET": "@" + name})
    assert n.ready("up")
    assert server.recv(1024) == b"READY=1\nSTATUS=up"
    n.close()
    server.close()


def test_stale_loops() -> None:
    assert stale_loops({"worker": 100.0, "outbox": 70.0}, limit=20, now=105.0) == ["outbox"]
    assert stale_loops({"worker": 100.0}, limit=20, now=105.0) == []


def test_watchdog_is_withheld_while_a_loop_is_stuck(tmp_path: Path) -> None:
    """A loop that stops beating stops WATCHDOG=1 (systemd would restart us); it resumes after."""
    from optout_daemon.service import Daemon
    from optout_daemon.store.db import upgrade

    systemd = NotifySocket(tmp_path / "n.sock")
    settings = make_settings(tmp_path, OPTOUT_SERVICE_WATCHDOG_INTERVAL_SECONDS="0.05")
    box: dict = {}
    started = threading.Event()

    async def main() -> None:
        daemon = Daemon(settings)
        upgrade(daemon.engine)
        daemon.notifier = Notifier(str(systemd.path), watchdog_usec=100_000)
        box["daemon"], box["loop"] = daemon, asyncio.get_running_loop()
        await daemon.start()
        started.set()
        await daemon.stopping.wait()
        daemon.stopping.clear()
        await daemon.drain()

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    try:
        assert started.wait(30)
        wait_for(lambda: systemd.count("WATCHDOG=1") >= 2, what="watchdog pings")
        health = box["daemon"].health
        box["loop"].call_soon_threadsafe(health.heartbeats.__setitem__, "stuck", time.monotonic() - 3600)
        wait_for(lambda: "stuck" in health.heartbeats)
        mark = len(systemd.datagrams)
        # Each tick checks the loops, pings only if healthy, then sends STATUS: between two STATUS
        # lines that follow the stall there must be no WATCHDOG=1.
        statuses = lambda: [i for i, d in enumerate(systemd.datagrams[mark:]) if d[0].startswith("STATUS=")]  # noqa: E731
        wait_for(lambda: len(statuses()) >= 3, what="status lines after the stall")
        first, second = statuses()[1], statuses()[2]
        between = [line for d in systemd.datagrams[mark + first + 1:mark + second] for line in d]
        assert "WATCHDOG=1" not in between
        box["loop"].call_soon_threadsafe(health.heartbeats.pop, "stuck")
        mark = len(systemd.datagrams)
        wait_for(lambda: any(d == ["WATCHDOG=1"] for d in systemd.datagrams[mark:]), what="pings resume")
    finally:
        box["loop"].call_soon_threadsafe(box["daemon"].stopping.set)
        thread.join(30)
        systemd.close()
