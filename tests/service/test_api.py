"""The consent API over real HTTP: tokens, fail-closed answers, pagination, freshness."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert, select

from optout_daemon.pipeline.types import ConsentStateValue
from optout_daemon.store import ledger
from optout_daemon.store.customers import import_rows, read_csv
from optout_daemon.store.tables import ApiToken, ConsentEvent, Customer
from optout_daemon.store.tokens import add_token, hash_token, revoke_token
from tests.conftest import make_settings
from tests.helpers import make_message, send, wait_for


def _start(daemon_thread, tmp_path: Path, customers_csv: Path, **env: str):
    d = daemon_thread(make_settings(tmp_path, **env))
    engine = d.daemon.engine
    import_rows(engine, read_csv(customers_csv, "US"))
    token = add_token(engine, "crm")
    client = httpx.Client(base_url=f"http://127.0.0.1:{d.http_port}", timeout=10)
    return d, engine, token, client


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _since(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_tokens_are_required_and_stored_hashed(tmp_path, customers_csv, daemon_thread) -> None:
    d, engine, token, client = _start(daemon_thread, tmp_path, customers_csv)
    url = "/api/v1/customers/1000-2000-01/consent"
    for headers in ({}, _auth("odt_not-a-token"), {"Authorization": f"Basic {token}"}, {"Authorization": "Bearer"}):
        r = client.get(url, headers=headers)
        assert r.status_code == 401, headers
        assert r.json()["marketing_allowed"] is False and r.headers["www-authenticate"].startswith("Bearer")
    assert client.get(url, headers=_auth(token)).status_code == 200
    with engine.connect() as conn:
        stored = conn.execute(select(ApiToken.__table__)).one()
    assert stored.token_hash == hash_token(token) and token not in repr(tuple(stored))
    assert stored.last_used_at is not None
    revoke_token(engine, "crm")
    assert client.get(url, headers=_auth(token)).status_code == 401


def test_unknown_customer_is_never_allowed(tmp_path, customers_csv, daemon_thread) -> None:
    _, _, token, client = _start(daemon_thread, tmp_path, customers_csv)
    r = client.get("/api/v1/customers/9999-9999-99/consent", headers=_auth(token))
    assert r.status_code == 404
    body = r.json()
    assert body["known"] is False and body["marketing_allowed"] is False and body["state"] == "opted_out"
    assert "unknown account" in body["reason"]


def test_consent_change_is_visible_as_soon_as_it_commits(tmp_path, customers_csv, daemon_thread) -> None:
    d, engine, token, client = _start(daemon_thread, tmp_path, customers_csv)
    url = "/api/v1/customers/1000 2000 01/consent"  # spaces are ignored like dashes
    before = client.get(url, headers=_auth(token)).json()
    assert before["marketing_allowed"] is True and before["explicit"] is False and before["since"] is None

    send(d.smtp_port, make_message(subject="Stop", body="Please stop using my information for marketing."))
    ev = ConsentEvent.__table__

    def event():
        with engine.connect() as conn:
            return conn.execute(select(ev.c.occurred_at)).first()

    committed = wait_for(event, what="the consent event")
    after = client.get(url, headers=_auth(token)).json()  # the first request after the commit
    assert after["marketing_allowed"] is False and after["state"] == "opted_out" and after["explicit"] is True
    occurred = committed.occurred_at if committed.occurred_at.tzinfo else committed.occurred_at.replace(tzinfo=UTC)
    assert _since(after["since"]) == occurred


def test_suppression_list_pages_by_cursor_and_by_page(tmp_path, customers_csv, daemon_thread) -> None:
    d, engine, token, client = _start(daemon_thread, tmp_path, customers_csv)
    c = Customer.__table__
    with engine.begin() as conn:
        conn.execute(insert(c), [{"account_number": f"77{i:08d}", "name": "", "postal_zip": "",
                                  "created_at": datetime.now(UTC), "updated_at": datetime.now(UTC)}
                                 for i in range(25)])
        ids = conn.execute(select(c.c.id).where(c.c.account_number.like("77%"))).scalars().all()
        for cid in ids:
            ledger.apply_consent(conn, customer_id=cid, new_state=ConsentStateValue.OPTED_OUT, method="operator",
                                 decided_by="operator:test", default="opted_in")
    seen, cursor = [], None
    while True:
        params = {"limit": 10, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/suppression", params=params, headers=_auth(token)).json()
        seen += [i["account"] for i in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(f"77{i:08d}" for i in range(25)) and len(set(seen)) == 25
    third = client.get("/api/v1/suppression", params={"page": 3, "limit": 10}, headers=_auth(token)).json()
    assert len(third["items"]) == 5 and third["next_page"] is None and third["items"][0]["since"]
    assert client.get("/api/v1/suppression", params={"limit": 0}, headers=_auth(token)).status_code == 400
    assert client.get("/api/v1/suppression", params={"page": "x"}, headers=_auth(token)).status_code == 400
    assert client.get("/api/v1/suppression", params={"cursor": "1", "page": 2},
                      headers=_auth(token)).status_code == 400
    assert client.get("/api/v1/suppression").status_code == 401


def test_default_opted_out_suppresses_customers_without_events(tmp_path, customers_csv, daemon_thread) -> None:
    _, _, token, client = _start(daemon_thread, tmp_path, customers_csv, OPTOUT_POLICY_DEFAULT_CONSENT="opted_out")
    answer = client.get("/api/v1/customers/1000-2000-02/consent", headers=_auth(token)).json()
    assert answer["marketing_allowed"] is False and answer["explicit"] is False
    body = client.get("/api/v1/suppression", headers=_auth(token)).json()
    assert [i["account"] for i in body["items"]] == ["1000200001", "1000200002", "1000200003"]
    assert body["items"][1]["emails"] == ["jp@example.com", "juan.perez@example.org"]


def test_openapi_describes_the_routes(tmp_path, customers_csv, daemon_thread) -> None:
    _, _, _, client = _start(daemon_thread, tmp_path, customers_csv)
    doc = client.get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {"/api/v1/customers/{account}/consent", "/api/v1/suppression",
                                 "/api/v1/openapi.json"}
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


@pytest.mark.parametrize("name", ["", "has space", "x" * 101])
def test_bad_token_names_are_refused(sqlite_engine, name) -> None:
    from optout_daemon.store.tokens import TokenError

    with pytest.raises(TokenError):
        add_token(sqlite_engine, name)


def test_refused_requests_do_not_log_the_account(tmp_path, customers_csv, daemon_thread, capsys) -> None:
    _, _, _, client = _start(daemon_thread, tmp_path, customers_csv)
    assert client.get("/api/v1/customers/4242-4242-42/consent").status_code == 401
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert "api_unauthorized" in out and "route" in out  # logged before the answer was sent
    assert "4242" not in out
