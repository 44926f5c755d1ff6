"""The systemd notify protocol (sd_notify(3)) with no dependency.

systemd passes a Unix datagram socket in NOTIFY_SOCKET (a path, or an abstract name starting with
'@'); the daemon sends it newline-separated KEY=VALUE lines:
- READY=1 once intake listens and the store answers (Type=notify waits for it);
- WATCHDOG=1 at half of WatchdogSec, only while the daemon's loops are healthy; systemd restarts a
  daemon that stops sending it (WATCHDOG_USEC says the period; WATCHDOG_PID, when set, names the
  process that must send it: a child that inherited the variables must stay silent);
- STATUS=... a line shown by `systemctl status` (here: the backlog);
- RELOADING=1 ... READY=1 around a SIGHUP reload, STOPPING=1 on shutdown.

The variables are removed from the environment when read, so that children (worker processes,
OAuth token commands) do not inherit them and talk to systemd in our name.
Outside systemd (no NOTIFY_SOCKET) every call does nothing.
"""

from __future__ import annotations

import os
import socket
import time
from typing import MutableMapping

from optout_daemon.logs import get_logger

log = get_logger("optout.systemd")

ENV_KEYS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


class Notifier:
    """Sends notifications to systemd; a no-op when the daemon was not started by systemd."""

    def __init__(self, address: str | None, watchdog_usec: int = 0) -> None:
        self.address = _socket_address(address) if address else None
        self.watchdog_usec = watchdog_usec
        self._sock: socket.socket | None = None
        if self.address is not None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @classmethod
    def from_environ(cls, environ: MutableMapping[str, str] | None = None) -> "Notifier":
        """Read and remove NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID."""
        environ = os.environ if environ is None else environ
        address, usec, pid = (environ.pop(key, None) for key in ENV_KEYS)
        watchdog = 0
        if usec and (not pid or _int(pid) == os.getpid()):
            watchdog = max(0, _int(usec))
        return cls(address or None, watchdog)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    @property
    def watchdog_interval(self) -> float:
        """Seconds between WATCHDOG=1 (half of WatchdogSec), or 0 when systemd wants none."""
        return self.watchdog_usec / 2_000_000 if self.watchdog_usec else 0.0

    def notify(self, *lines: str) -> bool:
        """Send one datagram; False when not under systemd or when the socket refused it."""
        if self._sock is None or self.address is None:
            return False
        try:
            self._sock.sendto("\n".join(lines).encode("utf-8", "replace"), self.address)
            return True
        except OSError as exc:  # systemd gone or the socket full: never fatal for the daemon
            log.warning("systemd_notify_failed", error=str(exc)[:200])
            return False

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def reloading(self) -> bool:
        # MONOTONIC_USEC lets systemd (>= 253, Type=notify-reload) match this to the reload it asked for.
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={_one_line(text)}")

    def stopping(self, status: str = "") -> bool:
        return self.notify("STOPPING=1", *([f"STATUS={_one_line(status)}"] if status else []))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def stale_loops(heartbeats: dict[str, float], limit: float, now: float | None = None) -> list[str]:
    """Names of the loops whose last heartbeat is older than `limit` seconds."""
    now = time.monotonic() if now is None else now
    return sorted(name for name, beat in heartbeats.items() if now - beat > limit)


def backlog_status(stats: dict[str, float]) -> str:
    """The STATUS= line: what an operator wants to see first in `systemctl status`."""
    return (f"backlog {int(stats['backlog'])} message(s), oldest {int(stats['oldest_age'])} s; "
            f"review {int(stats['review_open'])} open ({int(stats['review_overdue'])} overdue); "
            f"notices pending {int(stats['notices_pending'])}")


def _socket_address(value: str) -> str:
    if value.startswith("@"):  # an abstract socket: a leading NUL byte instead of '@'
        return "\0" + value[1:]
    return value


def _one_line(text: str) -> str:
    return " ".join(text.split())[:400]


def _int(value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        return 0
