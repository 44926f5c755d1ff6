"""Workers in their own processes, so that parsing and classifying never hold the GIL of the
process that answers SMTP.

The daemon starts `worker.processes` children (spawned, not forked). Each loads the pipeline once and
runs Worker.run_batch until told to stop. The parent wakes them after each commit, reads their
heartbeats for the watchdog and /readyz, and receives their per-message observations for /metrics.
A child exits when its parent disappears, so a SIGKILLed daemon leaves no stray worker behind.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import queue
import signal
import time
from typing import Any

from optout_daemon.settings import Settings

_PR_SET_PDEATHSIG = 1
# Workers run at a lower CPU priority than the process that answers SMTP and IMAP; on an idle
# machine they still get every cycle they want.
WORKER_NICENESS = 5


class WorkerProcesses:
    def __init__(self, settings: Settings, count: int) -> None:
        self.ctx = mp.get_context("spawn")
        self.settings = settings
        self.wake = self.ctx.Event()
        self.stop = self.ctx.Event()
        self.observations: Any = self.ctx.Queue(maxsize=10000)
        self.heartbeats = [self.ctx.Value("d", 0.0, lock=False) for _ in range(count)]
        # Whether each worker runs under SCHED_IDLE; a starved one is replaced by one that does not.
        self.idle_class = [settings.worker.yield_to_intake and hasattr(os, "SCHED_IDLE")] * count
        self.processes = [self._process(i) for i in range(count)]
        self.started_at = [0.0] * count

    def _process(self, i: int) -> Any:
        return self.ctx.Process(target=_child_main, name=f"optout-worker-{i}", daemon=False,
                                args=(self.settings, self.wake, self.stop, self.observations, self.heartbeats[i],
                                      os.getpid(), self.idle_class[i]))

    def start(self) -> None:
        for p in self.processes:
            p.start()
        self.started_at = [time.time()] * len(self.processes)

    def dead(self) -> list[str]:
        return [f"{p.name} exited with code {p.exitcode}" for p in self.processes if not p.is_alive()]

    def oldest_heartbeat_age(self) -> float:
        now = time.time()
        return max((now - hb.value) if hb.value else 0.0 for hb in self.heartbeats)

    def starved(self, starved_after: float) -> list[int]:
        """The SCHED_IDLE workers whose heartbeat is older than starved_after (before its first heartbeat,
        a worker loading the model is measured from its start). Cheap: called every half second."""
        now = time.time()
        return [i for i, p in enumerate(self.processes)
                if self.idle_class[i] and now - (self.heartbeats[i].value or self.started_at[i]) > starved_after
                and p.is_alive()]

    def replace(self, starved: list[int]) -> list[str]:
        """Replace those workers by workers at nice 5 (blocking: kill, join, spawn).

        An idle-class worker only gets the CPU time nothing else wants: on a host whose other work
        keeps every core busy it makes almost no progress, and its stale heartbeat would at last
        withhold the watchdog and restart the whole daemon. Killing it is safe (the state of every
        message is in the database; the replacement releases the dead worker's claims), and the
        replacement keeps nice 5 until the daemon restarts.
        """
        replaced = []
        for i in starved:
            p = self.processes[i]
            p.kill()
            p.join(5)
            self.idle_class[i] = False
            self.heartbeats[i].value = 0.0
            self.processes[i] = self._process(i)
            self.processes[i].start()
            self.started_at[i] = time.time()
            replaced.append(p.name)
        return replaced

    def drain_observations(self, limit: int = 5000) -> list[tuple]:
        out = []
        for _ in range(limit):
            try:
                out.append(self.observations.get_nowait())
            except (queue.Empty, OSError, ValueError):
                break
        return out

    def reload(self) -> None:
        """Pass SIGHUP on: each worker re-reads the config between two batches."""
        for p in self.processes:
            if p.is_alive() and p.pid:
                try:
                    os.kill(p.pid, signal.SIGHUP)
                except ProcessLookupError:
                    pass

    def shutdown(self, grace: float) -> None:
        self.stop.set()
        self.wake.set()
        deadline = time.monotonic() + grace
        for p in self.processes:
            p.join(max(0.1, deadline - time.monotonic()))
        for p in self.processes:
            if p.is_alive():  # past the grace period: its claims expire and are replayed on restart
                p.kill()
                p.join(5)
        self.observations.cancel_join_thread()


def _child_main(settings: Settings, wake: Any, stop: Any, observations: Any, heartbeat: Any, parent: int,
                idle_class: bool) -> None:
    try:  # Linux: the kernel sends us SIGTERM when the daemon dies, even by SIGKILL
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    hangups: list[int] = []
    signal.signal(signal.SIGHUP, lambda *_: hangups.append(1))
    os.environ.pop("NOTIFY_SOCKET", None)
    try:  # intake first: a sender waiting for its 250 matters more than a message waiting to be read
        os.nice(WORKER_NICENESS)
        if idle_class:
            # nice alone still lets a busy worker delay the event loop's wake-ups by a scheduler
            # slice; an idle-class task is preempted at once (bench/smtp_load.py: 0.65x -> 0.72x)
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except OSError:
        pass

    from optout_daemon.logs import configure_logging, get_logger
    from optout_daemon.pipeline.run import Pipeline
    from optout_daemon.store.db import make_engine
    from optout_daemon.worker import Worker

    s = settings.logging
    configure_logging(s.level, s.format, s.debug_unredacted)
    log = get_logger("optout.worker")
    engine = make_engine(settings.database.url, 2, settings.database.busy_timeout_seconds)
    worker = Worker(engine, Pipeline.from_settings(settings), settings, observer=_observer(observations))
    worker.release_dead_claims()
    log.info("worker_started", pid=os.getpid())
    while not stop.is_set() and os.getppid() == parent:
        heartbeat.value = time.time()
        if hangups:
            hangups.clear()
            _reload(settings, worker, log)
        try:
            claimed = worker.run_batch()
        except Exception as exc:  # noqa: BLE001 - the store is down: wait, try again
            log.error("worker_store_error", error=str(exc)[:300])
            stop.wait(min(5.0, settings.worker.idle_poll_seconds * 10))
            continue
        if claimed:
            continue
        wake.clear()
        wake.wait(settings.worker.idle_poll_seconds)
    engine.dispose()
    # Observations are best effort: never block the exit on a full pipe the parent no longer reads.
    observations.cancel_join_thread()
    log.info("worker_stopped", pid=os.getpid())


def _reload(settings: Settings, worker: Any, log: Any) -> None:
    from optout_daemon.reload import reload_pipeline

    result = reload_pipeline(settings, worker.pipeline, log)
    if result is not None:
        log.info("worker_reloaded", pid=os.getpid(), reloaded=result[0])


def _observer(observations: Any):  # noqa: ANN202
    def observe(status: str, new_state: str | None, timings: dict[str, float], failed_stage: str | None) -> None:
        try:
            observations.put_nowait((status, new_state, timings, failed_stage))
        except queue.Full:
            pass  # metrics are best effort; the database holds the truth

    return observe
