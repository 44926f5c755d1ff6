"""Assembles and runs the daemon: intake, worker, outbox, HTTP (console, health, API), signals.

One supervisor owns the named tasks; if one dies the daemon stops loudly (exit code 1) rather than
limping on. Signals become events in the loop: SIGTERM/SIGINT drain and stop, SIGHUP reloads.
Blocking work (SQLite, spaCy, IMAP) runs on threads, never on the loop that answers SMTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from sqlalchemy import Engine, func, select

from optout_daemon.intake.smtp import Committer, MailboxHandler, lmtp_factory, smtp_factory
from optout_daemon.logs import get_logger
from optout_daemon.metrics import Metrics
from optout_daemon.notify.outbox import Outbox, make_sender
from optout_daemon.pipeline.run import Pipeline
from optout_daemon.settings import Settings
from optout_daemon.store.db import make_engine
from optout_daemon.store.tables import InboundMessage, MessageStatus, Notice, ReviewItem, utcnow
from optout_daemon.systemd import Notifier, backlog_status, stale_loops
from optout_daemon.worker import Worker, apply_observation, worker_id
from optout_daemon.worker_process import WorkerProcesses

log = get_logger("optout.service")


@dataclass
class Health:
    """What the loops report about themselves, read by /healthz, /readyz and the watchdog."""

    started_at: float = field(default_factory=time.monotonic)
    heartbeats: dict[str, float] = field(default_factory=dict)  # loop name -> monotonic time
    ready: bool = False
    store_ok: bool = True
    problems: dict[str, str] = field(default_factory=dict)  # component -> what is wrong

    def beat(self, name: str) -> None:
        self.heartbeats[name] = time.monotonic()


class Daemon:
    def __init__(self, settings: Settings, pipeline: Pipeline | None = None, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or make_engine(settings.database.url, settings.database.pool_size,
                                             settings.database.busy_timeout_seconds)
        self.metrics = Metrics()
        self.health = Health()
        # With worker processes the pipeline (and the model) lives in them, not here.
        in_thread = settings.worker.processes == 0 or pipeline is not None
        self.pipeline = pipeline or (Pipeline.from_settings(settings) if in_thread else None)
        self.worker = Worker(self.engine, self.pipeline, settings, self.metrics) if self.pipeline else None
        self.worker_processes: WorkerProcesses | None = None
        self.outbox = Outbox(self.engine, settings, make_sender(settings), self.metrics,
                             ident=f"outbox:{worker_id()}")
        self.wake_worker = asyncio.Event()
        self.wake_outbox = asyncio.Event()
        self.committer = Committer(self.engine, settings.smtp.commit_batch_max, on_commit=self._wake_workers,
                                   metrics=self.metrics)
        self.handler = MailboxHandler(settings, self.committer, "smtp", self.metrics)
        self.lmtp_handler = MailboxHandler(settings, self.committer, "lmtp", self.metrics)
        self.stopping = asyncio.Event()
        self.reload_requested = asyncio.Event()
        self.servers: list[asyncio.AbstractServer] = []
        self.smtp_port: int | None = None
        self.http_port: int | None = None
        self.exit_code = 0
        self.early_signals: list[int] = []  # SIGTERM/SIGINT received before serve() took the signals
        self.notifier: Notifier | None = None  # systemd notify; serve() reads it from the environment
        self.last_stats: dict[str, float] | None = None  # the monitor loop's latest backlog figures
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._extra: list[tuple[str, Callable[[], Awaitable[None]]]] = []

    # --- parts ------------------------------------------------------------------------------------

    def add_task(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        """Register a long-running coroutine (IMAP intake, HTTP server...) owned by the supervisor."""
        self._extra.append((name, factory))

    def _wake_workers(self) -> None:
        self.wake_worker.set()
        if self.worker_processes:
            self.worker_processes.wake.set()

    async def _worker_processes_loop(self) -> None:
        """Watch the worker processes: heartbeats, metrics, and a loud stop if one dies."""
        procs = self.worker_processes
        assert procs is not None
        stale_after = max(30.0, self.settings.worker.lease_seconds)
        while not self.stopping.is_set():
            for obs in await asyncio.to_thread(procs.drain_observations):
                apply_observation(self.metrics, *obs)
            dead = procs.dead()
            if dead and not self.stopping.is_set():
                raise RuntimeError("; ".join(dead))
            starved_after = self.settings.worker.starved_after_seconds
            starved = procs.starved(starved_after) if not self.stopping.is_set() else []
            if starved:
                for name in await asyncio.to_thread(procs.replace, starved):
                    log.warning("worker_starved", worker=name, heartbeat_older_than_s=starved_after,
                                action="replaced by a worker at nice 5 (not SCHED_IDLE) until the daemon restarts",
                                hint="other processes keep every core busy; worker.yield_to_intake = false "
                                     "starts workers at nice 5")
            if procs.oldest_heartbeat_age() < stale_after:
                self.health.beat("worker")
            await self._sleep(0.5)

    async def _worker_loop(self) -> None:
        s = self.settings.worker
        await asyncio.to_thread(self.worker.release_dead_claims)
        while not self.stopping.is_set():
            self.health.beat("worker")
            try:
                claimed = await asyncio.to_thread(self.worker.run_batch)
                self.health.store_ok = True
                self.health.problems.pop("worker", None)
            except Exception as exc:  # noqa: BLE001 - the store is down: wait and try again
                self.health.store_ok = False
                self.health.problems["worker"] = f"store: {type(exc).__name__}"
                log.error("worker_store_error", error=str(exc)[:300])
                claimed = 0
                await self._sleep(min(5.0, s.idle_poll_seconds * 10))
            if claimed:
                self.wake_outbox.set()
                continue
            self.wake_worker.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake_worker.wait(), timeout=s.idle_poll_seconds)

    async def _outbox_loop(self) -> None:
        last_recover = 0.0
        while not self.stopping.is_set():
            self.health.beat("outbox")
            try:
                if time.monotonic() - last_recover > 30:  # notices left `sending` by a dead process
                    await asyncio.to_thread(self.outbox.recover)
                    last_recover = time.monotonic()
                result = await asyncio.to_thread(self.outbox.drain_once)
                self.health.problems.pop("outbox", None)
            except Exception as exc:  # noqa: BLE001
                self.health.problems["outbox"] = f"store: {type(exc).__name__}"
                log.error("outbox_store_error", error=str(exc)[:300])
                await self._sleep(5.0)
                continue
            if result.sent or result.retried or result.failed:
                continue
            self.wake_outbox.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake_outbox.wait(), timeout=1.0)

    async def _monitor_loop(self) -> None:
        """Backlog and review gauges; an error event while the oldest message is too old (R5)."""
        last_alarm = 0.0
        while not self.stopping.is_set():
            self.health.beat("monitor")
            try:
                stats = await asyncio.to_thread(backlog_stats, self.engine)
            except Exception as exc:  # noqa: BLE001
                self.health.store_ok = False
                self.health.problems["store"] = f"{type(exc).__name__}"
                await self._sleep(2.0)
                continue
            self.health.store_ok = True
            self.health.problems.pop("store", None)
            self.last_stats = stats
            m = self.metrics
            m.backlog.set(stats["backlog"])
            m.oldest_unprocessed_age.set(stats["oldest_age"])
            m.review_open.set(stats["review_open"])
            m.review_oldest_age.set(stats["review_oldest_age"])
            m.review_overdue.set(stats["review_overdue"])
            m.notices_pending.set(stats["notices_pending"])
            limit = self.settings.service.max_backlog_age_seconds
            if stats["oldest_age"] > limit:
                self.health.problems["backlog"] = (f"oldest unprocessed message is {int(stats['oldest_age'])} s old "
                                                   f"(limit {int(limit)} s)")
                if time.monotonic() - last_alarm > 60:
                    last_alarm = time.monotonic()
                    log.error("backlog_too_old", oldest_age_s=int(stats["oldest_age"]), backlog=stats["backlog"],
                              limit_s=int(limit))
            else:
                self.health.problems.pop("backlog", None)
            await self._sleep(1.0)

    async def _systemd_loop(self) -> None:
        """READY=1 once intake listens and the store answers; then WATCHDOG=1 while the loops are
        healthy (every heartbeat fresh) and STATUS= with the backlog."""
        notifier = self.notifier
        assert notifier is not None
        while not self.stopping.is_set():
            listening = self.http_port is not None or not self.settings.console.enabled
            try:
                self.last_stats = stats = await asyncio.to_thread(backlog_stats, self.engine)
            except Exception as exc:  # noqa: BLE001 - not ready until the store answers
                log.warning("not_ready_store", error=f"{type(exc).__name__}: {str(exc)[:200]}")
                await self._sleep(1.0)
                continue
            if listening:
                break
            await self._sleep(0.05)
        if self.stopping.is_set():
            return
        notifier.ready(backlog_status(stats))
        log.info("systemd_ready", watchdog_s=notifier.watchdog_interval * 2)
        interval = self.settings.service.watchdog_interval_seconds or notifier.watchdog_interval or 5.0
        stale_after = max(30.0, 4 * interval)
        while not self.stopping.is_set():
            stuck = stale_loops(self.health.heartbeats, stale_after)
            if stuck:  # systemd restarts us after WatchdogSec without a ping
                log.error("watchdog_withheld", stale_loops=stuck, stale_after_s=stale_after)
            elif notifier.watchdog_usec or self.settings.service.watchdog_interval_seconds:
                notifier.watchdog()
            if self.last_stats is not None:
                notifier.status(backlog_status(self.last_stats))
            await self._sleep(interval)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)

    # --- life cycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        s = self.settings
        self._spawn("committer", self.committer.run)
        if s.smtp.enabled:
            server = await loop.create_server(smtp_factory(s, self.handler), host=s.smtp.host, port=s.smtp.port)
            self.servers.append(server)
            self.smtp_port = server.sockets[0].getsockname()[1]
            log.info("smtp_listening", host=s.smtp.host, port=self.smtp_port)
        if s.smtp.lmtp_socket:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(s.smtp.lmtp_socket)
            server = await loop.create_unix_server(lmtp_factory(s, self.lmtp_handler), path=s.smtp.lmtp_socket)
            self.servers.append(server)
            log.info("lmtp_listening", path=s.smtp.lmtp_socket)
        if s.worker.enabled and self.worker is not None:
            self._spawn("worker", self._worker_loop)
        elif s.worker.enabled:
            self.worker_processes = WorkerProcesses(s, s.worker.processes)
            await asyncio.to_thread(self.worker_processes.start)
            self.health.beat("worker")
            self._spawn("worker", self._worker_processes_loop)
        self._spawn("outbox", self._outbox_loop)
        self._spawn("monitor", self._monitor_loop)
        if s.imap.enabled:
            from optout_daemon.intake.imap import run_imap_intake  # noqa: PLC0415

            self._spawn("imap", lambda: run_imap_intake(self))
        if s.console.enabled:
            from optout_daemon.console.app import serve_http  # noqa: PLC0415

            self._spawn("http", lambda: serve_http(self))
        for name, factory in self._extra:
            self._spawn(name, factory)
        if self.notifier is not None and self.notifier.enabled:
            self._spawn("systemd", self._systemd_loop)
        self.health.ready = True

    def _spawn(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        task = asyncio.create_task(factory(), name=name)
        task.add_done_callback(self._task_done)
        self._tasks[name] = task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled() or self.stopping.is_set():
            return
        exc = task.exception()
        log.error("task_died", task=task.get_name(), error=repr(exc) if exc else "returned")
        self.exit_code = 1
        self.stopping.set()

    async def drain(self) -> None:
        """Stop accepting (421), finish what is in flight within the grace period, stop the loops."""
        grace = self.settings.service.shutdown_grace_seconds
        self.handler.draining = self.lmtp_handler.draining = True
        for server in self.servers:
            server.close()
        deadline = time.monotonic() + grace
        while self.committer.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.stopping.set()
        self.wake_worker.set()
        self.wake_outbox.set()
        if self.worker_processes:
            await asyncio.to_thread(self.worker_processes.shutdown, max(0.5, deadline - time.monotonic()))
        background = [t for n, t in self._tasks.items() if n in ("worker", "outbox")]
        if background:
            _, pending = await asyncio.wait(background, timeout=max(0.1, deadline - time.monotonic()))
            for t in pending:
                t.cancel()
        for name, task in self._tasks.items():
            if not task.done():
                task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        for server in self.servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), timeout=1.0)
        self.engine.dispose()

    async def serve(self) -> int:
        loop = asyncio.get_running_loop()
        if self.notifier is None:  # read (and removed) before any worker process is started
            self.notifier = Notifier.from_environ()
        for sig, handler in ((signal.SIGTERM, self.stopping.set), (signal.SIGINT, self.stopping.set),
                             (signal.SIGHUP, self.reload_requested.set)):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, handler)
        if self.early_signals:
            self.stopping.set()
        await self.start()
        log.info("daemon_started", smtp_port=self.smtp_port, database=self.engine.dialect.name)
        while not self.stopping.is_set():
            reload_wait = asyncio.ensure_future(self.reload_requested.wait())
            stop_wait = asyncio.ensure_future(self.stopping.wait())
            await asyncio.wait([reload_wait, stop_wait], return_when=asyncio.FIRST_COMPLETED)
            reload_wait.cancel()
            stop_wait.cancel()
            if self.reload_requested.is_set() and not self.stopping.is_set():
                self.reload_requested.clear()
                self.notifier.reloading()
                self.reload()
                self.notifier.ready()
        log.info("daemon_stopping")
        self.notifier.stopping("draining: intake answers 421, finishing in-flight work")
        # The stop event is also what the loops watch; clear it so that drain sequences the stop.
        self.stopping.clear()
        await self.drain()
        log.info("daemon_stopped", exit_code=self.exit_code)
        return self.exit_code

    def reload(self) -> None:
        """SIGHUP: reload what can change safely (log level, thresholds, notice templates), here and
        in every worker process."""
        from optout_daemon.reload import reload_pipeline  # noqa: PLC0415

        result = reload_pipeline(self.settings, self.pipeline, log)
        if result is None:
            return
        reloaded, restart = result
        if self.worker_processes:
            self.worker_processes.reload()
        log.info("reloaded", reloaded=reloaded, not_reloaded_restart_needed=restart)


def backlog_stats(engine: Engine) -> dict[str, float]:
    now = utcnow()
    im, ri, nt = InboundMessage.__table__, ReviewItem.__table__, Notice.__table__
    with engine.execution_options(readonly=True).connect() as conn:
        backlog, oldest = conn.execute(select(func.count(), func.min(im.c.received_at))
                                       .where(im.c.status == MessageStatus.RECEIVED)).one()
        review_open, review_oldest = conn.execute(select(func.count(), func.min(ri.c.created_at))
                                                  .where(ri.c.status == "open")).one()
        overdue = conn.execute(select(func.count()).where(ri.c.status == "open", ri.c.due_at < now)).scalar_one()
        pending = conn.execute(select(func.count()).where(nt.c.status == "pending")).scalar_one()
    return {
        "backlog": backlog, "oldest_age": _age(oldest, now), "review_open": review_open,
        "review_oldest_age": _age(review_oldest, now), "review_overdue": overdue, "notices_pending": pending,
    }


def _age(then: Any, now: Any) -> float:
    if then is None:
        return 0.0
    if isinstance(then, str):  # SQLite aggregate results come back as text
        from datetime import datetime, timezone  # noqa: PLC0415

        then = datetime.fromisoformat(then)
    if then.tzinfo is None:
        from datetime import timezone  # noqa: PLC0415

        then = then.replace(tzinfo=timezone.utc)
    return max(0.0, (now - then).total_seconds())
