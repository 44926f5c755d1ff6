"""Helpers for tests: real servers and a daemon on free loopback ports."""

from __future__ import annotations

import asyncio
import os
import smtplib
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Callable

import pytest
from aiosmtpd.controller import Controller

from optout_daemon.settings import Settings

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_server(name: str, install: str, available: Callable[[], bool]) -> None:
    """Skip when a needed server is missing, saying what to install; under CI=true, fail instead."""
    if available():
        return
    message = f"{name} is not available: install {install}"
    if IN_CI:
        pytest.fail(f"CI=true and {message}")
    pytest.skip(message)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")


def make_message(*, sender: str = "Jane Doe <jane@example.net>", to: str = "marketing@example.com",
                 subject: str = "Privacy", body: str = "Please stop using my information for marketing.",
                 message_id: str | None = None, headers: dict[str, str] | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or f"<{time.monotonic_ns()}.{os.getpid()}@example.net>"
    for k, v in (headers or {}).items():
        msg[k] = v
    msg.set_content(body)
    return msg


def send(port: int, msg: EmailMessage, host: str = "127.0.0.1") -> dict:
    with smtplib.SMTP(host, port, timeout=30) as client:
        return client.send_message(msg)


class SmtpSink:
    """A real SMTP server (aiosmtpd) that records what it receives, to stand in for the relay."""

    def __init__(self, reply: Callable[[Any], str] | None = None) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.connections: set[Any] = set()  # the client's (host, port) of each connection that sent mail
        self.reply = reply
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
                sink.connections.add(session.peer)
                if sink.reply:
                    answer = sink.reply(envelope)
                    if not answer.startswith("250"):
                        return answer
                sink.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, ready_timeout=10)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


class DaemonThread:
    """The real Daemon with its own event loop in a thread: real sockets, real store."""

    def __init__(self, settings: Settings, pipeline: Any = None, migrate: bool = True) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.migrate = migrate
        self.daemon: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.exit_code: int | None = None

    def _run(self) -> None:
        from optout_daemon.service import Daemon

        async def main() -> int:
            self.daemon = Daemon(self.settings, pipeline=self.pipeline)
            if self.migrate:
                from optout_daemon.store.db import upgrade

                upgrade(self.daemon.engine)
            self.loop = asyncio.get_running_loop()
            await self.daemon.start()
            self.ready.set()
            await self.daemon.stopping.wait()
            self.daemon.stopping.clear()
            await self.daemon.drain()
            return self.daemon.exit_code

        try:
            self.exit_code = asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001
            self.error = exc
            self.ready.set()

    def start(self) -> "DaemonThread":
        self.thread.start()
        if not self.ready.wait(30):
            raise AssertionError("daemon did not start")
        if self.error:
            raise self.error
        return self

    @property
    def smtp_port(self) -> int:
        return self.daemon.smtp_port

    @property
    def http_port(self) -> int:
        wait_for(lambda: self.daemon.http_port, what="http port")
        return self.daemon.http_port

    def stop(self) -> None:
        if self.loop and self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.daemon.stopping.set)
            self.thread.join(30)


def maildir_files(path: Path) -> list[Path]:
    return sorted((path / "new").glob("*")) + sorted((path / "cur").glob("*"))
