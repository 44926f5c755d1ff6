"""The daemon's HTTP side, one Starlette app on console.host:console.port:
- ops.py: /healthz, /readyz, /metrics (no sign-in; they reveal no customer data);
- review.py: the operators' review console (sign-in required);
- api.py: the consent API for marketing systems (bearer tokens).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from optout_daemon.console import ops
from optout_daemon.logs import get_logger

if TYPE_CHECKING:
    from optout_daemon.service import Daemon

log = get_logger("optout.http")


def build_app(daemon: "Daemon") -> Starlette:
    routes: list[BaseRoute] = []
    routes += ops.routes(daemon)
    for name in ("api", "review"):
        with contextlib.suppress(ModuleNotFoundError):
            module = __import__(f"optout_daemon.console.{name}", fromlist=["routes"])
            routes += module.routes(daemon)
    return Starlette(routes=routes)


class _Server(uvicorn.Server):
    """uvicorn inside our loop: the daemon owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield

    def install_signal_handlers(self) -> None:  # older uvicorn
        return None


async def serve_http(daemon: "Daemon") -> None:
    s = daemon.settings.console
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it every response waits ~40 ms for the client's delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET6 if ":" in s.host else socket.AF_INET, socket.SOCK_STREAM,
                         socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((s.host, s.port))
    sock.listen(128)
    sock.setblocking(False)
    daemon.http_port = sock.getsockname()[1]
    config = uvicorn.Config(build_app(daemon), log_config=None, access_log=False, lifespan="off",
                            proxy_headers=s.behind_tls_proxy, forwarded_allow_ips="127.0.0.1" if s.behind_tls_proxy else None)
    server = _Server(config)
    log.info("http_listening", host=s.host, port=daemon.http_port)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await daemon.stopping.wait()
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=5)
        sock.close()
