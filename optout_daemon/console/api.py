"""The consent API for marketing systems (R3), behind bearer tokens (`optout-daemon tokens add`).

GET /api/v1/customers/{account}/consent  may we use this customer's CPNI? (fail closed)
GET /api/v1/suppression                   the customers whose CPNI may not be used, paginated
GET /api/v1/openapi.json                  this description (no token needed; it holds no data)

Every answer that is not a clear "allowed" carries `"marketing_allowed": false`: an unknown account
(404), an unreachable store (503). Reads use a read-only connection: they never wait for a writer,
and a consent change is visible as soon as its transaction commits.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from optout_daemon.console.api_schema import openapi_document
from optout_daemon.logs import get_logger
from optout_daemon.store import suppression, tokens
from optout_daemon.store.tables import utcnow

if TYPE_CHECKING:
    from optout_daemon.service import Daemon

log = get_logger("optout.api")
NOT_ALLOWED = {"marketing_allowed": False}


class _Unauthorized(Exception):
    pass


class Api:
    def __init__(self, daemon: "Daemon") -> None:
        self.daemon = daemon
        self.reader = daemon.engine.execution_options(readonly=True)
        self._touched: dict[int, float] = {}  # token id -> monotonic time of the last last_used_at write

    def _authorized(self, conn: Any, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        found = tokens.check_token(conn, presented.strip()) if scheme.lower() == "bearer" else None
        if found is None:
            raise _Unauthorized
        token_id = found[0]
        if time.monotonic() - self._touched.get(token_id, -1e9) > tokens.LAST_USED_EVERY.total_seconds():
            self._touched[token_id] = time.monotonic()
            try:
                tokens.touch(self.daemon.engine, token_id)
            except Exception as exc:  # noqa: BLE001 - bookkeeping only; the answer does not depend on it
                log.warning("api_token_touch_failed", error=type(exc).__name__)

    async def _run(self, request: Request, route: str, read: Any) -> Response:
        """Check the token and read, in one trip to a thread; map failures to fail-closed answers."""
        def work() -> Any:
            with self.reader.connect() as conn:
                self._authorized(conn, request)
                return read(conn)

        try:
            return await asyncio.to_thread(work)
        except _Unauthorized:
            # The route's name, not the path: the path holds an account number.
            log.info("api_unauthorized", route=route, client=request.client.host if request.client else "")
            return JSONResponse({"error": "a valid bearer token is required (optout-daemon tokens add NAME)",
                                 **NOT_ALLOWED}, status_code=401, headers={"WWW-Authenticate": 'Bearer realm="optout"'})
        except Exception as exc:  # noqa: BLE001 - the store does not answer: say no, loudly
            log.error("api_store_error", error=f"{type(exc).__name__}: {str(exc)[:200]}")
            return JSONResponse({"error": "the consent store does not answer; do not use CPNI", **NOT_ALLOWED},
                                status_code=503, headers={"Retry-After": "5"})

    async def consent(self, request: Request) -> Response:
        account = request.path_params["account"]
        default = self.daemon.settings.policy.default_consent

        def read(conn: Any) -> Response:
            answer = suppression.consent_answer(conn, account, default)
            body = {**answer.as_dict(), "as_of": utcnow().isoformat().replace("+00:00", "Z")}
            return JSONResponse(body, status_code=200 if answer.known else 404)

        return await self._run(request, "consent", read)

    async def suppression_list(self, request: Request) -> Response:
        q = request.query_params
        cursor = q.get("cursor")
        try:
            limit = _int(q.get("limit"), 100, "limit", 1, suppression.MAX_PAGE)
            page = _int(q.get("page"), 1, "page", 1, 10_000_000)
            after = _int(cursor, 0, "cursor", 0, 2**62) if cursor is not None else None
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        if cursor is not None and "page" in q:
            return JSONResponse({"error": "use either cursor or page, not both"}, status_code=400)
        default = self.daemon.settings.policy.default_consent

        def read(conn: Any) -> Response:
            items = suppression.suppression_page(conn, default, after_id=after,
                                                 offset=(page - 1) * limit, limit=limit)
            more = len(items) == limit
            body: dict[str, Any] = {"items": [{k: v for k, v in i.items() if k != "id"} for i in items],
                                    "limit": limit, "next_cursor": str(items[-1]["id"]) if more else None}
            if cursor is None:
                body["page"] = page
                body["next_page"] = page + 1 if more else None
            return JSONResponse(body)

        return await self._run(request, "suppression", read)

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document())


def _int(value: str | None, default: int, name: str, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{name} must be a whole number from {low} to {high}") from None
    if not low <= number <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}")
    return number


def routes(daemon: "Daemon") -> list[Route]:
    api = Api(daemon)
    return [
        Route("/api/v1/customers/{account}/consent", api.consent, methods=["GET"]),
        Route("/api/v1/suppression", api.suppression_list, methods=["GET"]),
        Route("/api/v1/openapi.json", api.openapi, methods=["GET"]),
    ]
