"""Sign-in, sessions, CSRF and rate limits, over HTTP against a real daemon on loopback."""

from __future__ import annotations

import stat

import httpx
from sqlalchemy import select

from optout_daemon.console.auth import add_operator
from tests.console.support import OPERATOR, PASSWORD, RI, csrf_of, review_via_smtp, sign_in, start_console


def jane(d, engine) -> int:
    return review_via_smtp(d, engine, sender="Jane Doe <jane.other@elsewhere.example>")


def test_every_page_but_sign_in_and_health_needs_a_session(daemon_thread, tmp_path, customers_csv):
    d, engine = start_console(daemon_thread, tmp_path, customers_csv)
    item = jane(d, engine)
    client = httpx.Client(base_url=f"http://127.0.0.1:{d.http_port}", follow_redirects=False)
    for path in ("/", "/review", f"/review/{item}", "/customers?q=jane", "/customers/1000200001", "/messages/1"):
        answer = client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/sign-in?next=%2F"), path
        assert "Jane" not in answer.text and "jane" not in answer.text
    answer = client.post(f"/review/{item}/resolve", data={"action": "opt_out", "account": "1000200001"})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/sign-in")
    assert client.get("/sign-in").status_code == 200
    for path in ("/healthz", "/metrics"):
        assert client.get(path).status_code == 200
    forged = client.get("/review", cookies={"optout_session": "YWxpY2V8OTk5OTk5OTk5OXx4.00"})
    assert forged.status_code == 303
    with engine.connect() as conn:
        assert conn.execute(select(RI.c.status).where(RI.c.id == item)).scalar_one() == "open"


def test_sign_in_sets_a_strict_session_cookie_and_sends_after_sign_in(daemon_thread, tmp_path, customers_csv):
    d, engine = start_console(daemon_thread, tmp_path, customers_csv)
    key = tmp_path / "console.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes()) >= 32
    client = httpx.Client(base_url=f"http://127.0.0.1:{d.http_port}", follow_redirects=False)
    page = client.get("/sign-in?next=/customers")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    answer = client.post("/sign-in", data={"csrf": csrf_of(page.text), "name": OPERATOR, "password": PASSWORD,
                                           "next": "/customers"})
    assert answer.status_code == 303 and answer.headers["location"] == "/customers"
    cookie = next(v for v in answer.headers.get_list("set-cookie") if v.startswith("optout_session="))
    attributes = {a.strip().lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= attributes
    assert "secure" not in attributes  # plain HTTP on loopback, no proxy configured
    assert client.get("/customers").status_code == 200
    # an offsite next= is ignored
    page = client.get("/sign-in")
    answer = client.post("/sign-in", data={"csrf": csrf_of(page.text), "name": OPERATOR, "password": PASSWORD,
                                           "next": "//evil.example/"})
    assert answer.headers["location"] == "/review"


def test_cookies_are_secure_behind_a_tls_proxy(daemon_thread, tmp_path, customers_csv):
    d, _ = start_console(daemon_thread, tmp_path, customers_csv, OPTOUT_CONSOLE_BEHIND_TLS_PROXY="true")
    client = httpx.Client(base_url=f"http://127.0.0.1:{d.http_port}", follow_redirects=False)
    page = client.get("/sign-in")
    assert "secure" in page.headers["set-cookie"].lower()


def test_a_post_without_a_valid_csrf_token_is_refused(daemon_thread, tmp_path, customers_csv):
    d, engine = start_console(daemon_thread, tmp_path, customers_csv)
    item = jane(d, engine)
    base = f"http://127.0.0.1:{d.http_port}"
    client = sign_in(base)
    token = csrf_of(client.get(f"/review/{item}").text)
    decision = {"action": "opt_out", "account": "1000200001"}
    tampered = token[:-1] + ("1" if token.endswith("0") else "0")  # (a token ending in "0" stayed valid)
    for data in (decision, {**decision, "csrf": ""}, {**decision, "csrf": tampered}):
        assert client.post(f"/review/{item}/resolve", data=data).status_code == 403
    assert client.post("/review/bulk", data={"item_ids": str(item), **decision}).status_code == 403
    assert client.post("/sign-out", data={}).status_code == 403
    # another session's token is not this session's token
    other = sign_in(base)
    assert other.post(f"/review/{item}/resolve", data={**decision, "csrf": token}).status_code == 403
    # the sign-in form has its own token
    anonymous = httpx.Client(base_url=base, follow_redirects=False)
    assert anonymous.post("/sign-in", data={"name": OPERATOR, "password": PASSWORD}).status_code == 403
    with engine.connect() as conn:
        assert conn.execute(select(RI.c.status).where(RI.c.id == item)).scalar_one() == "open"
    assert client.post(f"/review/{item}/resolve", data={**decision, "csrf": token}).status_code == 303


def test_wrong_passwords_are_rate_limited(daemon_thread, tmp_path, customers_csv):
    d, engine = start_console(daemon_thread, tmp_path, customers_csv, OPTOUT_CONSOLE_LOGIN_ATTEMPTS_PER_MINUTE="3")
    client = httpx.Client(base_url=f"http://127.0.0.1:{d.http_port}", follow_redirects=False)

    def attempt(password: str) -> httpx.Response:
        page = client.get("/sign-in")
        return client.post("/sign-in", data={"csrf": csrf_of(page.text), "name": OPERATOR, "password": password})

    assert [attempt("wrong password!").status_code for _ in range(3)] == [401, 401, 401]
    limited = attempt(PASSWORD)  # even the right password waits
    assert limited.status_code == 429 and "Too many failed sign-ins" in limited.text
    assert "optout_session" not in limited.headers.get("set-cookie", "")


def test_a_disabled_operator_loses_the_session(daemon_thread, tmp_path, customers_csv):
    from optout_daemon.console.auth import set_disabled

    d, engine = start_console(daemon_thread, tmp_path, customers_csv)
    client = sign_in(f"http://127.0.0.1:{d.http_port}")
    assert client.get("/review").status_code == 200
    set_disabled(engine, OPERATOR, True)
    assert client.get("/review").status_code == 303


def test_an_item_open_in_one_console_is_not_decided_in_another(daemon_thread, tmp_path, customers_csv):
    d, engine = start_console(daemon_thread, tmp_path, customers_csv)
    add_operator(engine, "bob", "another long password")
    item = jane(d, engine)
    base = f"http://127.0.0.1:{d.http_port}"
    alice = sign_in(base)
    assert "Apply opt-out" in alice.get(f"/review/{item}").text
    bob = sign_in(base, "bob", "another long password")
    page = bob.get(f"/review/{item}")
    assert "Being decided by alice" in page.text and "Apply opt-out" not in page.text
    answer = bob.post(f"/review/{item}/resolve", data={"csrf": csrf_of(page.text), "action": "opt_out",
                                                       "account": "1000200001"})
    assert answer.status_code == 409 and "being decided by alice" in answer.text
    assert "with alice" in bob.get("/review").text


def test_console_settings_are_checked(tmp_path):
    import pytest

    from optout_daemon.settings import SettingsError
    from tests.conftest import make_settings

    for key in ("CLAIM_MINUTES", "SESSION_HOURS", "LOGIN_ATTEMPTS_PER_MINUTE"):
        with pytest.raises(SettingsError, match=f"console.{key.lower()} = 0(.0)? is not allowed"):
            make_settings(tmp_path, **{f"OPTOUT_CONSOLE_{key}": "0"})
