"""The daemon as systemd sees it: a subprocess (`python -m optout_daemon run`) on free ports, with a
Unix datagram socket standing in for systemd's NOTIFY_SOCKET and its JSON log lines collected."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import CUSTOMERS_CSV
from tests.helpers import free_port, wait_for

PYTHON = sys.executable


class NotifySocket:
    """Plays systemd: binds a datagram socket and records every notification, in order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.datagrams: list[list[str]] = []
        self._closed = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._closed:
            try:
                data = self.sock.recv(4096)
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            self.datagrams.append(data.decode().split("\n"))

    def lines(self) -> list[str]:
        return [line for d in list(self.datagrams) for line in d]

    def count(self, line: str) -> int:
        return self.lines().count(line)

    def close(self) -> None:
        self._closed = True
        self._thread.join(2)
        self.sock.close()


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTOUT_") and k not in (
        "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
    env.update({
        "OPTOUT_DATABASE_URL": f"sqlite:///{tmp_path}/optout.db",
        "OPTOUT_SMTP_PORT": str(free_port()),
        "OPTOUT_CONSOLE_PORT": str(free_port()),
        "OPTOUT_NOTICES_MAILDIR": str(tmp_path / "notices"),
        "OPTOUT_CONSOLE_SECRET_KEY_FILE": str(tmp_path / "console.key"),
        "OPTOUT_CLASSIFIER_KIND": "keywords",
        "OPTOUT_MAILBOX_ADDRESSES": "marketing@example.com",
        "OPTOUT_WORKER_IDLE_POLL_SECONDS": "0.05",
        "OPTOUT_WORKER_PROCESSES": "0",
        "OPTOUT_LOGGING_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


def cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([PYTHON, "-m", "optout_daemon", *args], env=env, capture_output=True, text=True,
                            timeout=120, cwd=Path(__file__).resolve().parents[2])
    if check and result.returncode != 0:
        raise AssertionError(f"optout-daemon {' '.join(args)} exited {result.returncode}: {result.stderr}")
    return result


def prepare_store(tmp_path: Path, env: dict[str, str], customers: bool = True) -> None:
    cli(env, "db", "upgrade")
    if customers:
        path = tmp_path / "customers.csv"
        path.write_text(CUSTOMERS_CSV, encoding="utf-8")
        cli(env, "customers", "import", str(path))


class DaemonProcess:
    """`python -m optout_daemon run` with its stdout (JSON log lines) and stderr collected."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.env = env
        self.smtp_port = int(env["OPTOUT_SMTP_PORT"])
        self.http_port = int(env["OPTOUT_CONSOLE_PORT"])
        self.proc = subprocess.Popen([PYTHON, "-m", "optout_daemon", *args, "run"], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     cwd=Path(__file__).resolve().parents[2])
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._threads = [threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout), daemon=True),
                         threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr), daemon=True)]
        for t in self._threads:
            t.start()

    @staticmethod
    def _pump(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line)

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        out = []
        for line in list(self.stdout):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if name is None or record.get("event") == name:
                out.append(record)
        return out

    def wait_http(self) -> None:
        def up() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}: {''.join(self.stderr)[-2000:]}")
            try:
                return httpx.get(f"http://127.0.0.1:{self.http_port}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, timeout=60, what="the daemon's /healthz")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        for t in self._threads:
            t.join(5)
        return code

    def logs(self) -> str:
        return "".join(self.stdout) + "".join(self.stderr)
