"""A stalled worker is noticed (R5): /readyz turns red and the oldest-message age grows."""

from __future__ import annotations

import re

import httpx

from tests.conftest import make_settings
from tests.helpers import make_message, send, wait_for


def _oldest_age(port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    match = re.search(r"^optout_oldest_unprocessed_age_seconds (\S+)$", text, re.M)
    assert match, text
    return float(match.group(1))


def test_stalled_worker_turns_readyz_red_and_the_age_grows(tmp_path, daemon_thread) -> None:
    settings = make_settings(tmp_path, OPTOUT_WORKER_ENABLED="false", OPTOUT_SERVICE_MAX_BACKLOG_AGE_SECONDS="1")
    d = daemon_thread(settings)
    port = d.http_port
    ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text  # nothing waiting yet

    assert send(d.smtp_port, make_message()) == {}  # accepted (250) although nobody processes it

    def red():
        r = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
        return r if r.status_code == 503 else None

    answer = wait_for(red, what="/readyz to turn red")
    assert "oldest unprocessed message is" in answer.json()["problems"]["backlog"]
    first = wait_for(lambda: _oldest_age(port), what="a non-zero oldest age")
    wait_for(lambda: _oldest_age(port) > first, what="the oldest age to grow")
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert re.search(r"^optout_backlog_messages 1\.0$", metrics, re.M)
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200  # alive, not ready


def test_a_stuck_loop_turns_readyz_red(tmp_path, daemon_thread) -> None:
    import time

    d = daemon_thread(make_settings(tmp_path))
    url = f"http://127.0.0.1:{d.http_port}/readyz"
    wait_for(lambda: httpx.get(url, timeout=10).status_code == 200, what="ready")
    d.loop.call_soon_threadsafe(d.daemon.health.heartbeats.__setitem__, "stuck", time.monotonic() - 3600)
    answer = wait_for(lambda: (r := httpx.get(url, timeout=10)).status_code == 503 and r, what="not ready")
    assert "stuck" in answer.json()["problems"]["loops"]
