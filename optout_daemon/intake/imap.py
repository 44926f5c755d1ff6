"""IMAP intake: watch mailboxes on an existing mail server; nothing lost, nothing twice.

One watcher per configured account and mailbox. Each owns one connection, one IMAP thread and one
commit thread (imapclient blocks; the event loop never does). A round is: UID SEARCH, then per chunk
FETCH BODY.PEEK[] (the message stays unseen), commit the messages (keyed by account, mailbox,
UIDVALIDITY and UID, and not stored again when an IMAP message with the same SHA-256 is already
stored), and only after that commit move them to the processed folder (MOVE, else COPY + \\Deleted +
UID EXPUNGE); one chunk's commit overlaps the next chunk's fetch. A crash between commit and move
leaves the message in the mailbox; the next round finds its key stored and only moves it.
Between rounds: IDLE when the server has it (re-issued every idle_timeout_seconds, well within
RFC 2177's 29 minutes), else a poll every poll_interval_seconds.

Network and server errors: reconnect with exponential backoff and jitter. A refused login: an
error event and `health.problems["imap:<account>"]`, retried every auth_failure_retry_seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import DBAPIError

from optout_daemon.intake.imap_auth import AuthFailed, TokenSource, drop, open_session
from optout_daemon.logs import get_logger
from optout_daemon.settings import ImapAccountSettings
from optout_daemon.store.db import Arrival, StoreUnavailable, sha256_hex, store_arrivals
from optout_daemon.store.tables import ImapMailboxState, InboundMessage, utcnow

log = get_logger("optout.imap")

CHUNK = 500  # messages fetched, committed and moved together (one fsync, one MOVE)...
CHUNK_BYTES = 32 * 1024 * 1024  # ...unless they are larger than this in all
IDLE_CHECK_SECONDS = 1.0  # how quickly an idling thread notices that the daemon stops
MAX_IDLE_SECONDS = 1500.0  # 25 minutes: RFC 2177 servers may drop an IDLE after 29
HEARTBEAT_SECONDS = 5.0
DELETED = b"\\Deleted"

# Errors after which the connection is dropped and made again (with backoff).
TRANSIENT = (OSError, EOFError, imaplib.IMAP4.error, StoreUnavailable, DBAPIError)


@dataclass(frozen=True)
class Round:
    """What one fetch-commit-move round did."""

    stored: int = 0  # new rows committed
    already: int = 0  # natural key already stored (e.g. a crash after commit, before move)
    duplicates: int = 0  # same content as an IMAP message already stored (e.g. after a UIDVALIDITY reset)
    moved: int = 0

    def __add__(self, other: Round) -> Round:
        return Round(self.stored + other.stored, self.already + other.already,
                     self.duplicates + other.duplicates, self.moved + other.moved)


def natural_key(account: str, mailbox: str, uidvalidity: int, uid: int) -> str:
    return f"imap:{account}:{mailbox}:{uidvalidity}:{uid}"


# --- the store side ---------------------------------------------------------------------------------

_STORE_LOCK = threading.Lock()  # the duplicate check and the insert are one step per process


def store_imap_messages(engine: Engine, arrivals: list[Arrival]) -> Round:
    """Commit what is new; a message whose key, or (for IMAP) content, is already stored is skipped."""
    if not arrivals:
        return Round()
    digests = [sha256_hex(a.raw) for a in arrivals]
    im = InboundMessage.__table__
    with _STORE_LOCK:
        try:
            with engine.execution_options(readonly=True).connect() as conn:
                known_keys = set(conn.execute(select(im.c.natural_key).where(
                    im.c.natural_key.in_([a.natural_key for a in arrivals]))).scalars())
                known_hashes = set(conn.execute(select(im.c.sha256).where(
                    im.c.source == "imap", im.c.sha256.in_(set(digests)))).scalars())
        except DBAPIError as exc:
            raise StoreUnavailable(str(exc.orig) if exc.orig else str(exc)) from exc
        fresh: list[Arrival] = []
        already = duplicates = 0
        for arrival, digest in zip(arrivals, digests):
            if arrival.natural_key in known_keys:
                already += 1
            elif digest in known_hashes:
                duplicates += 1
                log.warning("imap_duplicate_content", key=arrival.natural_key, sha256=digest[:16])
            else:
                known_hashes.add(digest)
                fresh.append(arrival)
        if fresh:
            store_arrivals(engine, fresh)
    return Round(stored=len(fresh), already=already, duplicates=duplicates)


def remember_uidvalidity(engine: Engine, account: str, mailbox: str, value: int) -> int | None:
    """Record the mailbox's UIDVALIDITY; return the one recorded before (None the first time)."""
    t = ImapMailboxState.__table__
    try:
        with engine.begin() as conn:
            row = conn.execute(select(t.c.id, t.c.uidvalidity).where(
                t.c.account == account, t.c.mailbox == mailbox)).first()
            if row is None:
                conn.execute(insert(t).values(account=account, mailbox=mailbox, uidvalidity=value,
                                              updated_at=utcnow()))
                return None
            if row.uidvalidity != value:
                conn.execute(update(t).where(t.c.id == row.id).values(uidvalidity=value, updated_at=utcnow()))
            return int(row.uidvalidity)
    except DBAPIError as exc:
        raise StoreUnavailable(str(exc.orig) if exc.orig else str(exc)) from exc


# --- the IMAP side (blocking; one thread per session) ----------------------------------------------

class MailboxSession:
    """One logged-in connection watching one mailbox. Blocking: used from one thread only."""

    def __init__(self, acc: ImapAccountSettings, mailbox: str, engine: Engine, stop: threading.Event) -> None:
        self.acc, self.mailbox, self.engine, self.stop = acc, mailbox, engine, stop
        self.tokens = TokenSource(acc)
        self.client: Any = None
        self.caps: frozenset[bytes] = frozenset()
        self.uidvalidity = 0
        self.unfetchable: set[int] = set()
        self.committer = ThreadPoolExecutor(1, thread_name_prefix=f"imap-commit-{acc.name}")

    @property
    def can_idle(self) -> bool:
        return b"IDLE" in self.caps

    def open(self) -> None:
        self.client = open_session(self.acc, self.tokens)
        c = self.client
        self.caps = frozenset(cap.upper() for cap in c.capabilities())
        folder = self.acc.processed_folder
        if not c.folder_exists(folder):
            try:
                c.create_folder(folder)
                log.info("imap_folder_created", account=self.acc.name, folder=folder)
            except imaplib.IMAP4.error:
                if not c.folder_exists(folder):  # not a race with another watcher: a real refusal
                    raise
        info = c.select_folder(self.mailbox)
        self.uidvalidity = int(info[b"UIDVALIDITY"])
        self.unfetchable.clear()
        before = remember_uidvalidity(self.engine, self.acc.name, self.mailbox, self.uidvalidity)
        if before is not None and before != self.uidvalidity:
            log.warning("imap_uidvalidity_changed", account=self.acc.name, mailbox=self.mailbox,
                        old=before, new=self.uidvalidity)
        log.info("imap_connected", account=self.acc.name, mailbox=self.mailbox, uidvalidity=self.uidvalidity,
                 idle=self.can_idle, move=b"MOVE" in self.caps, uidplus=b"UIDPLUS" in self.caps)

    def drain(self, on_chunk: Callable[[Round], None] = lambda r: None) -> Round:
        """Fetch, commit and move what the mailbox holds now, CHUNK at a time; Round() when it is empty.

        The commit of one chunk (on the commit thread) overlaps the fetch of the next; a chunk is
        moved only after its own commit returned.
        """
        c = self.client
        if not self.can_idle:
            c.noop()  # let the server report new messages
        uids = sorted(u for u in c.search("ALL") if u not in self.unfetchable)
        done = Round()
        pending: tuple[list[int], Future[Round]] | None = None
        while uids and not self.stop.is_set():
            chunk = self._within_bytes(uids[:CHUNK])
            uids = uids[len(chunk):]
            got = self._fetch(chunk)
            commit = self.committer.submit(store_imap_messages, self.engine, [
                Arrival(raw=raw, source="imap", natural_key=natural_key(self.acc.name, self.mailbox,
                                                                        self.uidvalidity, uid))
                for uid, raw in got])
            if pending:
                done = done + self._move_committed(*pending, on_chunk)
            pending = ([uid for uid, _ in got], commit)
        if pending:
            done = done + self._move_committed(*pending, on_chunk)
        return done

    def _fetch(self, uids: list[int]) -> list[tuple[int, bytes]]:
        fetched = self.client.fetch(uids, ["BODY.PEEK[]"])
        got: list[tuple[int, bytes]] = []
        for uid in uids:
            raw = (fetched.get(uid) or {}).get(b"BODY[]")
            if raw is None:  # expunged meanwhile, or the server cannot produce it
                self.unfetchable.add(uid)
                log.warning("imap_unfetchable", account=self.acc.name, mailbox=self.mailbox, uid=uid)
                continue
            got.append((uid, bytes(raw)))
        return got

    def _move_committed(self, uids: list[int], commit: Future[Round], on_chunk: Callable[[Round], None]) -> Round:
        result = commit.result()  # raises (StoreUnavailable...) before anything is moved
        self.move(uids)
        result = Round(result.stored, result.already, result.duplicates, len(uids))
        log.info("imap_chunk", account=self.acc.name, mailbox=self.mailbox, stored=result.stored,
                 already_stored=result.already, duplicates=result.duplicates, moved=len(uids))
        on_chunk(result)
        return result

    def _within_bytes(self, uids: list[int]) -> list[int]:
        """The first UIDs whose messages add up to at most CHUNK_BYTES (always at least one)."""
        sizes = self.client.fetch(uids, ["RFC822.SIZE"])
        total, keep = 0, []
        for uid in uids:
            total += int((sizes.get(uid) or {}).get(b"RFC822.SIZE", 0))
            if keep and total > CHUNK_BYTES:
                break
            keep.append(uid)
        return keep

    def move(self, uids: list[int]) -> None:
        if not uids:
            return
        c, folder = self.client, self.acc.processed_folder
        if b"MOVE" in self.caps:
            c.move(uids, folder)
            return
        c.copy(uids, folder)
        c.add_flags(uids, [DELETED], silent=True)
        if b"UIDPLUS" in self.caps:
            c.uid_expunge(uids)
        else:
            c.expunge()  # without UIDPLUS this also removes what others flagged \Deleted

    def wait(self) -> None:
        """Until new mail may have come: IDLE for up to idle_timeout_seconds, else the poll interval."""
        if not self.can_idle:
            self.stop.wait(self.acc.poll_interval_seconds)
            return
        c = self.client
        c.noop()  # the server does not report at IDLE's start what came since our SEARCH: ask now
        if self._announced_meanwhile():
            return
        c.idle()
        deadline = time.monotonic() + min(self.acc.idle_timeout_seconds, MAX_IDLE_SECONDS)
        while not self.stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            step = min(IDLE_CHECK_SECONDS, left)
            started = time.monotonic()
            responses = c.idle_check(timeout=step)
            # imapclient swallows EOF: an empty answer long before the timeout means the socket closed.
            if any(isinstance(r, tuple) and r[:1] == (b"BYE",) for r in responses) or (
                    not responses and time.monotonic() - started < step / 2):
                raise ConnectionAbortedError("the server closed the connection during IDLE")
            if any(isinstance(r, tuple) and len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                break
        c.idle_done()

    def _announced_meanwhile(self) -> bool:
        """Did the server report new mail beside the replies since the last SEARCH (a message
        appended between our SEARCH and our IDLE)? It says so once, and IDLE (Dovecot's at least)
        does not say it again: that message would wait for the next IDLE re-issue. imaplib keeps
        such untagged replies."""
        pending = getattr(self.client._imap, "untagged_responses", {})  # noqa: SLF001
        exists, recent = pending.pop("EXISTS", None), pending.pop("RECENT", None)
        return bool(exists or recent)

    def close(self, polite: bool = False) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            client.logout() if polite else client.shutdown()
        except Exception:  # noqa: BLE001 - the connection is already gone
            drop(client)


# --- the asyncio side -------------------------------------------------------------------------------

class Backoff:
    """Exponential delays with jitter: base, 2*base, 4*base ... up to max, each 50-100 % of that."""

    def __init__(self, base: float, maximum: float) -> None:
        self.base, self.maximum, self.failures = base, maximum, 0

    def next(self) -> float:
        ceiling = min(self.maximum, self.base * (2 ** min(self.failures, 30)))
        self.failures += 1
        return ceiling * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.failures = 0


class Watcher:
    """Supervises one MailboxSession: reconnects, reports health, wakes the worker."""

    def __init__(self, daemon: Any, acc: ImapAccountSettings, mailbox: str) -> None:
        self.daemon, self.acc, self.mailbox = daemon, acc, mailbox
        self.problem_key = f"imap:{acc.name}"
        self.beat_name = f"imap:{acc.name}:{mailbox}"
        self.stop = threading.Event()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix=f"imap-{acc.name}")
        self.session = MailboxSession(acc, mailbox, daemon.engine, self.stop)
        s = daemon.settings.imap
        self.backoff = Backoff(s.backoff_base_seconds, s.backoff_max_seconds)
        self.step_limit = max(acc.idle_timeout_seconds, acc.poll_interval_seconds) + 120.0

    async def call(self, fn: Callable[[], Any]) -> Any:
        """Run fn on this watcher's thread; keep the heartbeat going while it blocks (IDLE), but not
        past what any step may take (socket timeouts bound them), so a stuck thread shows."""
        future = asyncio.get_running_loop().run_in_executor(self.executor, fn)
        limit = time.monotonic() + self.step_limit
        while True:
            done, _ = await asyncio.wait({future}, timeout=HEARTBEAT_SECONDS)
            if done:
                return future.result()
            if time.monotonic() < limit:
                self.daemon.health.beat(self.beat_name)

    async def sleep(self, seconds: float) -> None:
        """Wait (backoff, a refused login) until the daemon stops; the watcher is alive meanwhile:
        an IMAP outage is a health problem, not a reason for the watchdog to restart the daemon."""
        deadline = time.monotonic() + seconds
        while not self.daemon.stopping.is_set() and time.monotonic() < deadline:
            self.daemon.health.beat(self.beat_name)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.daemon.stopping.wait(),
                                       timeout=min(HEARTBEAT_SECONDS, deadline - time.monotonic()))

    async def run(self) -> None:
        stopper = asyncio.ensure_future(self._stop_with_daemon())
        try:
            while not (self.daemon.stopping.is_set() or self.stop.is_set()):
                await self._attempt()
        finally:
            stopper.cancel()
            self.stop.set()
            self.executor.submit(self.session.close, True)  # after the step in flight, if any
            self.executor.shutdown(wait=False)
            self.session.committer.shutdown(wait=False)

    async def _stop_with_daemon(self) -> None:
        await self.daemon.stopping.wait()
        self.stop.set()

    async def _attempt(self) -> None:
        problems = self.daemon.health.problems
        try:
            await self._session()
        except AuthFailed as exc:
            wait = self.daemon.settings.imap.auth_failure_retry_seconds
            problems[self.problem_key] = f"login refused: {exc}"
            log.error("imap_auth_failed", account=self.acc.name, error=str(exc), retry_in_s=wait)
            await self.call(self.session.close)
            await self.sleep(wait)
        except TRANSIENT as exc:
            delay = self.backoff.next()
            problems[self.problem_key] = (f"{self.mailbox}: {type(exc).__name__}: {str(exc)[:200]}; "
                                          f"reconnecting in {delay:.0f} s")
            log.warning("imap_disconnected", account=self.acc.name, mailbox=self.mailbox,
                        error=f"{type(exc).__name__}: {str(exc)[:300]}", retry_in_s=round(delay, 2),
                        failures=self.backoff.failures)
            await self.call(self.session.close)
            await self.sleep(delay)

    async def _session(self) -> None:
        d = self.daemon
        await self.call(self.session.open)
        d.health.problems.pop(self.problem_key, None)
        loop = asyncio.get_running_loop()

        def on_chunk(result: Round) -> None:  # on the IMAP thread
            if result.stored:
                loop.call_soon_threadsafe(self._stored, result.stored)

        first = True
        while not (d.stopping.is_set() or self.stop.is_set()):
            d.health.beat(self.beat_name)
            result: Round = await self.call(lambda: self.session.drain(on_chunk))
            if first:
                self.backoff.reset()  # connected and working: the next failure starts from base again
                first = False
            if result.moved:
                continue
            await self.call(self.session.wait)

    def _stored(self, count: int) -> None:
        self.daemon.metrics.messages_received.labels(source="imap").inc(count)
        self.daemon.wake_worker.set()


async def run_imap_intake(daemon: Any) -> None:
    """One watcher per configured account and mailbox, until daemon.stopping is set."""
    watchers = [Watcher(daemon, acc, mailbox) for acc in daemon.settings.imap.accounts for mailbox in acc.mailboxes]
    log.info("imap_intake_started", watchers=len(watchers))
    await asyncio.gather(*(w.run() for w in watchers))
