"""How fast the review queue page renders with a big queue.

Builds N open review items (default 10,000) with their inbound messages in a temporary SQLite
store, mounts the console's routes in a Starlette app, signs in, and times GET requests of the
queue page through Starlette's TestClient (the whole server side: session check, queries,
template), plus list_open alone. Prints median and p95 in milliseconds. Target: queue page < 200 ms.

    .venv/bin/python bench/review_queue.py [--items 10000] [--runs 200]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
import warnings
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

from sqlalchemy import insert  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from optout_daemon.console import review as console  # noqa: E402
from optout_daemon.console.auth import add_operator  # noqa: E402
from optout_daemon.pipeline.run import Pipeline  # noqa: E402
from optout_daemon.settings import load_settings  # noqa: E402
from optout_daemon.store import review  # noqa: E402
from optout_daemon.store.db import make_engine, sha256_hex, upgrade  # noqa: E402
from optout_daemon.store.tables import InboundMessage, ReviewItem, utcnow  # noqa: E402

REASONS = [["no_customer"], ["several_candidates"], ["low_confidence"], ["ambiguous"], ["possible_opt_out"],
           ["opt_in_not_authenticated"], ["processing_failed", "parse: ValueError: bad"]]


def build(engine, n: int) -> None:  # noqa: ANN001
    now = utcnow()
    messages, items = [], []
    for i in range(n):
        raw = (f"From: Customer {i} <c{i}@example.net>\r\nTo: marketing@example.com\r\nSubject: Privacy {i}\r\n"
               f"Message-ID: <q{i}@example.net>\r\n\r\nPlease stop using my data. Account 1000-{i:04d}-01\r\n").encode()
        received = now - timedelta(minutes=7 * (n - i))  # the oldest is weeks old: many are overdue
        messages.append(dict(id=i + 1, natural_key=f"smtp:<q{i}@example.net>:{sha256_hex(raw)}", sha256=sha256_hex(raw),
                             message_id=f"<q{i}@example.net>", source="smtp", mail_from=f"c{i}@example.net",
                             rcpt_to="marketing@example.com", size=len(raw), raw=raw, received_at=received,
                             status="review", attempts=0, last_error="", claimed_by="", outcome="{}"))
        items.append(dict(inbound_message_id=i + 1, status="open", intent="opt_out", confidence=0.4,
                          reasons=json.dumps(REASONS[i % len(REASONS)]),
                          candidates=json.dumps([{"customer_id": i, "account_number": f"1000{i:04d}01",
                                                  "evidence": [{"kind": "name", "value": "x", "strength": "supporting"}]}]),
                          language="es" if i % 5 == 0 else "en", created_at=received,
                          due_at=received + timedelta(hours=48), claimed_by="", resolved_by="", resolution="", note=""))
    with engine.begin() as conn:
        conn.execute(insert(InboundMessage.__table__), messages)
        conn.execute(insert(ReviewItem.__table__), items)


def timed(fn, runs: int) -> tuple[float, float]:  # noqa: ANN001
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(None, environ={"OPTOUT_DATABASE_URL": f"sqlite:///{tmp}/bench.db",
                                                "OPTOUT_CONSOLE_SECRET_KEY_FILE": f"{tmp}/console.key",
                                                "OPTOUT_CLASSIFIER_KIND": "keywords"})
        engine = make_engine(settings.database.url)
        upgrade(engine)
        t0 = time.perf_counter()
        build(engine, args.items)
        print(f"built {args.items} open review items in {time.perf_counter() - t0:.1f} s (SQLite, {tmp})")
        add_operator(engine, "bench", "benchmark password")
        daemon = SimpleNamespace(settings=settings, engine=engine, pipeline=Pipeline.from_settings(settings))
        client = TestClient(Starlette(routes=console.routes(daemon)), follow_redirects=False)
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/sign-in").text).group(1)
        assert client.post("/sign-in", data={"csrf": token, "name": "bench",
                                             "password": "benchmark password"}).status_code == 303
        pages = {"queue, oldest first": "/review", "queue, by time left": "/review?sort=time_left",
                 "queue, filtered (reason+language), page 20": "/review?reason=no_customer&language=en&page=20",
                 "queue, overdue only, last page": "/review?overdue=1&page=1000", "one item": "/review/5000"}
        print(f"{'what':<46} {'median ms':>10} {'p95 ms':>8}   ({args.runs} runs each)")
        for name, path in pages.items():
            assert client.get(path).status_code == 200, path
            median, p95 = timed(lambda: client.get(path), args.runs)
            print(f"{name:<46} {median:>10.1f} {p95:>8.1f}")
        reader = engine.execution_options(readonly=True)
        with reader.connect() as conn:
            median, p95 = timed(lambda: review.list_open(conn, review.QueueFilter()), args.runs)
        print(f"{'store.review.list_open alone':<46} {median:>10.1f} {p95:>8.1f}")
        engine.dispose()


if __name__ == "__main__":
    main()
