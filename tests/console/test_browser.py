"""The console in a real browser: Debian's Chromium driven by Playwright, against a real daemon.

Screenshots of the queue and of an item are written to the test's tmp_path and copied to
test-output/console/ (git-ignored) for people to look at.
"""

from __future__ import annotations

import importlib.util
import shutil
import threading
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

import pytest
from sqlalchemy import select

from tests.console.support import IM, OPERATOR, PASSWORD, RI, review_via_smtp, start_console
from tests.helpers import free_port, require_server, send, wait_for

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "console"


@pytest.fixture
def browser() -> Iterator[Any]:
    require_server("playwright", "the test extras: .venv/bin/pip install -e '.[test]'",
                   lambda: importlib.util.find_spec("playwright") is not None)
    require_server("chromium", "the chromium package (apt-get install -y chromium)", lambda: Path(CHROMIUM).exists())
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def open_page(browser: Any, base: str) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{base}/review")
    assert "/sign-in" in page.url
    page.fill("input[name=name]", OPERATOR)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/review")
    return page, requests


def shoot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, OUTPUT / name)
    assert path.stat().st_size > 1000
    return path


def test_sign_in_open_the_oldest_item_pick_a_candidate_and_apply(daemon_thread, tmp_path, customers_csv, browser):
    d, engine = start_console(daemon_thread, tmp_path, customers_csv)
    oldest = review_via_smtp(d, engine, sender="Jane Doe <jane.other@elsewhere.example>",
                             subject="Stop", body="Please stop using my information for marketing.\n\nJane")
    review_via_smtp(d, engine, sender="Mary Major <mm@elsewhere.example>", body="I have a question about privacy.")
    base = f"http://127.0.0.1:{d.http_port}"
    page, requests = open_page(browser, base)
    assert page.locator("table.queue tbody tr").count() == 2
    shoot(page, tmp_path, "queue.png")
    page.locator("a.open-item").first.click()
    page.wait_for_url(f"{base}/review/{oldest}")
    assert "Jane Doe (supporting)" in page.inner_text("fieldset")
    shoot(page, tmp_path, "item.png")
    page.keyboard.press("1")  # the shortcut picks the first candidate
    assert page.is_checked("input[name=account][value='1000200001']")
    page.click("button[value=opt_out]")
    page.wait_for_url(f"{base}/customers/1000200001?done={oldest}")
    assert page.inner_text("#consent-state") == "opted_out"
    history = page.inner_text("#history")
    assert "opted_in → opted_out" in history and "operator:alice" in history and "Stop" in history
    page.click("#history a")  # the source message of the event
    assert "Please stop using my information" in page.inner_text("pre.body")
    page.goto(f"{base}/review")
    assert page.locator("table.queue tbody tr").count() == 1
    assert all(urlparse(u).hostname == "127.0.0.1" for u in requests)
    with engine.connect() as conn:
        assert conn.execute(select(RI.c.resolved_by).where(RI.c.id == oldest)).scalar_one() == "operator:alice"


class _Beacon(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        _Beacon.hits.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def hostile_message(beacon: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Jane Doe <jane.other@elsewhere.example>"
    msg["To"] = "marketing@example.com"
    msg["Subject"] = "<script>window.pwned = 'subject'</script>"
    msg["Message-ID"] = "<hostile@elsewhere.example>"
    msg.set_content("Please stop using my data for marketing. <script>window.pwned = 'text'</script>")
    msg.add_alternative(f"""<html><head><link rel="stylesheet" href="{beacon}/style.css">
<style>@import url("{beacon}/import.css"); body {{ background: url("{beacon}/bg.png") }}</style></head>
<body onload="window.pwned = 'onload'"><p onclick="window.pwned = 'click'">Please stop using my data for marketing.</p>
<script>window.pwned = 'script'; fetch("{beacon}/fetch")</script>
<img src="{beacon}/pixel.png" onerror="window.pwned = 'onerror'" alt="tracker">
<img src="https://198.51.100.7/remote.png"><img srcset="{beacon}/srcset.png 2x">
<div style="background-image: url('{beacon}/div.png')">styled</div>
<iframe src="{beacon}/frame.html"></iframe><object data="{beacon}/object.swf"></object>
<a href="javascript:window.pwned = 'link'">click me</a>
<svg><image href="{beacon}/svg.png"/></svg><video poster="{beacon}/poster.png"></video>
<form action="{beacon}/post"><input type="image" src="{beacon}/input.png"></form>
</body></html>""", subtype="html")
    return msg


def test_a_hostile_message_renders_inert_and_loads_nothing_from_outside(daemon_thread, tmp_path, customers_csv,
                                                                          browser):
    port = free_port()
    server = HTTPServer(("127.0.0.1", port), _Beacon)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Beacon.hits.clear()
    try:
        d, engine = start_console(daemon_thread, tmp_path, customers_csv)
        msg = hostile_message(f"http://localhost:{port}")
        item = _send_raw(d, engine, msg)
        base = f"http://127.0.0.1:{d.http_port}"
        page, requests = open_page(browser, base)
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(f"{base}/review/{item}")
        page.click("p:has-text('Please stop using my data')")
        page.click(".html-body a:has-text('click me')")
        page.wait_for_timeout(300)  # give anything that slipped through the chance to run (not an assertion)
        shoot(page, tmp_path, "hostile-item.png")
        assert page.evaluate("window.pwned") is None and dialogs == []
        html = page.inner_html(".html-body")
        for bad in ("<script", "onerror", "onclick", "onload", "javascript:", "localhost", "198.51.100.7",
                    "<iframe", "<object", "<style", "<link", "style=", "srcset", "<svg", "<form"):
            assert bad not in html, bad
        assert "<script>window.pwned = 'text'</script>" in page.inner_text("pre.body")  # shown as text
        assert "<script>window.pwned = 'subject'</script>" in page.inner_text("table.headers")
        outside = [u for u in requests if urlparse(u).scheme != "data" and urlparse(u).hostname != "127.0.0.1"]
        assert outside == [] and _Beacon.hits == []
    finally:
        server.shutdown()


def _send_raw(d: Any, engine: Any, msg: EmailMessage) -> int:
    send(d.smtp_port, msg)

    def item() -> int | None:
        with engine.connect() as conn:
            return conn.execute(select(RI.c.id).join(IM, IM.c.id == RI.c.inbound_message_id).where(
                IM.c.message_id == msg["Message-ID"], IM.c.status == "review")).scalar()
    return wait_for(item, what="the hostile message to reach the review queue")
