"""The operators' review console: sign-in, the queue, an item, customers, messages.

Server-rendered Jinja2 pages; every page but sign-in is behind the session (console/auth.py) and
every POST carries a CSRF token. The store work is in store/review.py, shared with the CLI.
Every answer has a strict Content-Security-Policy: no script but our own file, no remote anything.
"""

from __future__ import annotations

import functools
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable
from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from optout_daemon.console import auth
from optout_daemon.logs import get_logger
from optout_daemon.store import review
from optout_daemon.store.tables import utcnow

if TYPE_CHECKING:
    from optout_daemon.service import Daemon

HERE = Path(__file__).parent
CSP = ("default-src 'none'; img-src data:; style-src 'self'; script-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SAFE_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
log = get_logger("optout.console")


def duration(seconds: float) -> str:
    s = int(abs(seconds))
    days, hours, minutes = s // 86400, s % 86400 // 3600, s % 3600 // 60
    return f"{days}d {hours}h" if days else f"{hours}h {minutes:02d}m"


def left(seconds: float) -> str:
    return f"overdue by {duration(seconds)}" if seconds < 0 else f"{duration(seconds)} left"


class Console:
    def __init__(self, daemon: "Daemon") -> None:
        self.daemon = daemon
        self.settings = daemon.settings
        self.engine = daemon.engine
        self.reader = daemon.engine.execution_options(readonly=True)
        cs = daemon.settings.console
        self.signer = auth.SessionSigner(auth.load_secret_key(cs.secret_key_file), cs.session_hours)
        self.limiter = auth.LoginLimiter(cs.login_attempts_per_minute)
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.filters.update(duration=duration, left=left)

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        response = self.templates.TemplateResponse(request, name, context, status_code=status)
        response.headers.update(SAFE_HEADERS)
        return response

    def redirect(self, url: str) -> Response:
        return RedirectResponse(url, status_code=303, headers=SAFE_HEADERS)

    def read(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Awaitable[Any]:
        def run() -> Any:
            with self.reader.connect() as conn:
                return fn(conn, *args, **kwargs)
        return run_in_threadpool(run)

    # --- sign-in ----------------------------------------------------------------------------

    async def sign_in_page(self, request: Request, error: str = "", status: int = 200) -> Response:
        token = secrets.token_urlsafe(24)
        response = self.render(request, "sign_in.html", status, csrf=token, error=error,
                               next=_safe_next(request.query_params.get("next", "")))
        auth.set_cookie(response, request, self.settings.console, auth.LOGIN_CSRF_COOKIE, token, 3600)
        return response

    async def sign_in(self, request: Request) -> Response:
        form = await request.form()
        if not auth.csrf_ok(request.cookies.get(auth.LOGIN_CSRF_COOKIE, ""), form.get("csrf")):
            return Response("the sign-in form has expired or was not sent by this console: reload the page",
                            status_code=403, headers=SAFE_HEADERS)
        name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
        client = request.client.host if request.client else "?"
        wait = self.limiter.blocked(f"ip:{client}", f"name:{name.lower()}")
        if wait:
            log.warning("console_sign_in_limited", operator=name[:100])
            return await self.sign_in_page(request, f"Too many failed sign-ins: wait {int(wait) + 1} seconds "
                                                    f"and try again.", 429)
        if not await run_in_threadpool(auth.verify_operator, self.engine, name, password):
            self.limiter.failed(f"ip:{client}", f"name:{name.lower()}")
            log.info("console_sign_in_failed", operator=name[:100])
            return await self.sign_in_page(request, "Wrong name or password.", 401)
        log.info("console_signed_in", operator=name)
        response = self.redirect(_safe_next(str(form.get("next", ""))) or "/review")
        auth.set_cookie(response, request, self.settings.console, auth.SESSION_COOKIE, self.signer.issue(name),
                        int(self.settings.console.session_hours * 3600))
        response.delete_cookie(auth.LOGIN_CSRF_COOKIE, path="/")
        return response

    async def sign_out(self, request: Request, session: auth.Session, form: Any) -> Response:
        response = self.redirect("/sign-in")
        response.delete_cookie(auth.SESSION_COOKIE, path="/")
        return response

    # --- queue and items --------------------------------------------------------------------------

    async def queue(self, request: Request, session: auth.Session, form: Any) -> Response:
        q = request.query_params
        f = review.QueueFilter(reason=q.get("reason", ""), language=q.get("language", ""),
                               min_age_hours=_number(q.get("age", "")), overdue_only=q.get("overdue") == "1",
                               sort=q.get("sort") if q.get("sort") in review.SORTS else "oldest",
                               page=int(_number(q.get("page", "1")) or 1))
        page = await self.read(review.list_open, f, utcnow())
        base = {k: v for k, v in (("reason", f.reason), ("language", f.language), ("age", q.get("age", "")),
                                  ("overdue", "1" if f.overdue_only else ""), ("sort", f.sort)) if v}
        return self.render(request, "queue.html", session=session, page=page, f=f, query=base,
                           qs=lambda **kw: urlencode({**base, **kw}), notice=q.get("done", ""))

    async def item(self, request: Request, session: auth.Session, form: Any, error: str = "",
                   status: int = 200) -> Response:
        item_id = request.path_params["item_id"]
        holder = ""
        try:
            holder = await run_in_threadpool(review.claim_item, self.engine, item_id, session.operator,
                                             self.settings.console.claim_minutes)
        except review.ClaimConflict:
            pass
        except review.ReviewError as exc:
            return self.render(request, "error.html", 404, session=session, error=str(exc))
        view = await self.read(review.get_item, item_id, utcnow())
        return self.render(request, "item.html", status, session=session, item=view, holder=holder,
                           mine=holder == session.operator, error=error, actions=review.ACTIONS)

    async def resolve(self, request: Request, session: auth.Session, form: Any) -> Response:
        item_id = request.path_params["item_id"]
        account = str(form.get("account_other", "")).strip() or str(form.get("account", "")).strip()
        try:
            done = await run_in_threadpool(review.resolve_item, self.engine, item_id, str(form.get("action", "")),
                                           account or None, session.operator, str(form.get("note", ""))[:2000],
                                           settings=self.settings)
        except review.ReviewError as exc:
            return await self.item(request, session, form, str(exc),
                                   409 if isinstance(exc, review.ClaimConflict) else 400)
        self.decided([done])
        log.info("review_resolved", item=item_id, action=done.action, operator=session.operator,
                 consent_event=done.consent_event_id, notices=len(done.notice_ids))
        if account and form.get("action") in ("opt_out", "opt_in"):
            return self.redirect(f"/customers/{quote(account)}?done={item_id}")
        return self.redirect(f"/review?done={item_id}")

    async def bulk(self, request: Request, session: auth.Session, form: Any) -> Response:
        ids = [int(v) for v in form.getlist("item_ids") if str(v).isdigit()]
        account = str(form.get("account", "")).strip()
        try:
            done = await run_in_threadpool(review.resolve_items, self.engine, ids, str(form.get("action", "")),
                                           account or None, session.operator, str(form.get("note", ""))[:2000],
                                           settings=self.settings)
        except review.ReviewError as exc:
            return self.render(request, "error.html", 409 if isinstance(exc, review.ClaimConflict) else 400,
                               session=session, error=str(exc))
        self.decided(done)
        log.info("review_resolved_bulk", items=ids, action=done[0].action, operator=session.operator)
        return self.redirect(f"/review?done={','.join(map(str, ids))}")

    def decided(self, done: list[review.Resolved]) -> None:
        """Count the consent changes like the worker does, and wake the outbox for the notices."""
        metrics, wake = getattr(self.daemon, "metrics", None), getattr(self.daemon, "wake_outbox", None)
        for r in done:
            if metrics is not None and r.consent_event_id is not None:
                state = "opted_out" if r.action == "opt_out" else "opted_in"
                metrics.consent_changes.labels(state=state).inc()
        if wake is not None and any(r.notice_ids for r in done):
            wake.set()

    async def release(self, request: Request, session: auth.Session, form: Any) -> Response:
        await run_in_threadpool(review.release_item, self.engine, request.path_params["item_id"], session.operator)
        return self.redirect("/review")

    # --- customers and messages -------------------------------------------------------------------

    async def customers(self, request: Request, session: auth.Session, form: Any) -> Response:
        q = request.query_params.get("q", "")[:200]
        p = self.settings.policy
        hits = await self.read(review.search_customers, q, p.default_consent, p.default_region.upper()) if q else []
        return self.render(request, "customers.html", session=session, q=q, hits=hits)

    async def customer(self, request: Request, session: auth.Session, form: Any) -> Response:
        page = await self.read(review.customer_page, request.path_params["account"],
                               self.settings.policy.default_consent)
        if page is None:
            return self.render(request, "error.html", 404, session=session, error="No customer with that account.")
        return self.render(request, "customer.html", session=session, c=page,
                           done=request.query_params.get("done", ""))

    async def message(self, request: Request, session: auth.Session, form: Any) -> Response:
        view = await self.read(review.get_message, request.path_params["message_id"])
        if view is None:
            return self.render(request, "error.html", 404, session=session, error="No such message.")
        return self.render(request, "message.html", session=session, m=view)

    # --- the session gate ---------------------------------------------------------------------------

    def gated(self, handler: Callable[..., Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            session = self.signer.read(request.cookies.get(auth.SESSION_COOKIE))
            if session is None or not await run_in_threadpool(auth.operator_active, self.engine, session.operator):
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return self.redirect("/sign-in?" + urlencode({"next": target}))
            form = None
            if request.method == "POST":
                form = await request.form()
                if not auth.csrf_ok(session.csrf, form.get("csrf")):
                    log.warning("console_csrf_refused", path=request.url.path, operator=session.operator)
                    return Response("refused: this form was not sent by the console (CSRF token missing or wrong);"
                                    " reload the page and try again", status_code=403, headers=SAFE_HEADERS)
            return await handler(request, session, form)
        return endpoint


def _number(value: str) -> float:
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return 0.0


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else ""


def routes(daemon: "Daemon") -> list[BaseRoute]:
    c = Console(daemon)
    g = c.gated
    return [
        Route("/", g(lambda request, session, form: _home(c))),
        Route("/sign-in", c.sign_in_page, methods=["GET"]),
        Route("/sign-in", c.sign_in, methods=["POST"]),
        Route("/sign-out", g(c.sign_out), methods=["POST"]),
        Route("/review", g(c.queue), methods=["GET"]),
        Route("/review/bulk", g(c.bulk), methods=["POST"]),
        Route("/review/{item_id:int}", g(c.item), methods=["GET"]),
        Route("/review/{item_id:int}/resolve", g(c.resolve), methods=["POST"]),
        Route("/review/{item_id:int}/release", g(c.release), methods=["POST"]),
        Route("/customers", g(c.customers), methods=["GET"]),
        Route("/customers/{account}", g(c.customer), methods=["GET"]),
        Route("/messages/{message_id:int}", g(c.message), methods=["GET"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]


async def _home(c: Console) -> Response:
    return c.redirect("/review")
