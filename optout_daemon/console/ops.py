"""/healthz (the process answers), /readyz (intake listens, store answers, backlog young), /metrics."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from optout_daemon.systemd import stale_loops

if TYPE_CHECKING:
    from optout_daemon.service import Daemon

STALE_AFTER_SECONDS = 30.0


def routes(daemon: "Daemon") -> list[Route]:
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "uptime_s": round(time.monotonic() - daemon.health.started_at, 1)})

    async def readyz(request: Request) -> Response:
        h = daemon.health
        problems = dict(h.problems)
        if not h.ready:
            problems["startup"] = "not ready yet"
        if not h.store_ok:
            problems.setdefault("store", "the database does not answer")
        stuck = stale_loops(h.heartbeats, STALE_AFTER_SECONDS)
        if stuck:  # the same test as the systemd watchdog's, which stops pinging then
            problems["loops"] = f"no heartbeat for {int(STALE_AFTER_SECONDS)} s from: {', '.join(stuck)}"
        if daemon.handler.draining:
            problems["stopping"] = "shutting down: intake answers 421"
        ok = not problems
        return JSONResponse({"status": "ready" if ok else "not_ready", "problems": problems},
                            status_code=200 if ok else 503)

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(daemon.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)]
