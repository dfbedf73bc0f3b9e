"""The office's web pages: Today, Transaction, Reconcile, Days (and Admin), served by `posoffice serve` beside the
collector's API.  Thin: every view is derived in posoffice's logic modules (`overview`, `report`, `duplicates`,
`reconcile_run`, `claims`) from what `lookups` and `store` read; the handlers check access, parse the query and
render a template (Jinja2, through Starlette's templating).  Nothing but the login page and the static files is
served without a session; each page needs its role's permission (`posoffice.access.ROLES`).  How any page is
served (the templates, the language, the access check) is `posoffice.web.pagekit`'s; here, which pages there are."""

from __future__ import annotations

import json
import logging
import threading
from datetime import tzinfo
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from agent.money import format_amount
from agent.reconcile.fees import DEFAULT_CONTRACT
from agent.reconcile.formats import ENCODINGS, FORMATS
from posoffice import access, claims, lookups, overview, report, store
from posoffice.errors import OfficeError
from posoffice.lookups import Search
from posoffice.web import security, texts
from posoffice.web.evidence import bundle_of, check_events
from posoffice.web.days import DaysView
from posoffice.web.today import TodayView
from posoffice.web.forms import DEFAULT_UPLOAD_LIMIT, ReconcileForm, parse_search
from posoffice.web.pagekit import PageKit, small_form

log = logging.getLogger("posoffice.web")
HERE = Path(__file__).resolve().parent
CREDIT_BINS = ("625094",)
#: terminals per page of Today (a chain's 1,000 tills in five pages; the alerts are on every page)
TODAY_PAGE = 200


class WebSettings:
    def __init__(self, zone: tzinfo | None = None, statements: Path | None = None,
                 upload_limit: int = DEFAULT_UPLOAD_LIMIT) -> None:
        self.zone = zone
        self.statements = statements
        self.upload_limit = upload_limit


def routes(pool: ConnectionPool, settings: WebSettings) -> list[BaseRoute]:
    kit = PageKit(pool, settings.zone)
    db, language, render, problem, guarded = kit.db, kit.language, kit.render, kit.problem, kit.guarded

    # ------------------------------------------------------------------------- login
    async def login_page(request: Request) -> Response:
        token = security.new_login_token()
        response = render(request, "login.html", {"login_token": token, "next": _safe_next(request), "error": None})
        response.set_cookie(security.LOGIN_COOKIE, token, max_age=1800, **security.cookie_options(request))
        return response

    async def login(request: Request) -> Response:
        form = await small_form(request)
        if form is None or not access.same_token(form.get("csrf"), request.cookies.get(security.LOGIN_COOKIE) or ""):
            return problem(request, 403, texts.say(language(request), "csrf"))
        try:
            token, _session = await db(access.log_in, str(form.get("name", "")), str(form.get("password", "")))
        except access.LoginRefused as exc:
            log.warning("login refused for %r: %s", str(form.get("name", ""))[:32], exc)
            fresh = security.new_login_token()
            response = render(request, "login.html", {"login_token": fresh, "next": _safe_next(request, form),
                                                      "error": texts.say(language(request), exc.key, **exc.values)},
                              401)
            response.set_cookie(security.LOGIN_COOKIE, fresh, max_age=1800, **security.cookie_options(request))
            return response
        response = RedirectResponse(_safe_next(request, form), status_code=303)
        response.set_cookie(security.SESSION_COOKIE, token, max_age=access.MAX_HOURS * 3600,
                            **security.cookie_options(request))
        response.delete_cookie(security.LOGIN_COOKIE, path="/")
        return response

    async def logout(request: Request) -> Response:
        form = await small_form(request)
        session = await db(access.session_of, request.cookies.get(security.SESSION_COOKIE))
        if session is None or form is None or not access.same_token(form.get("csrf"), session.csrf):
            return problem(request, 403, texts.say(language(request), "csrf"))
        await db(access.log_out, request.cookies.get(security.SESSION_COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(security.SESSION_COOKIE, path="/")
        return response

    async def switch_language(request: Request) -> Response:
        code = request.path_params["code"]
        response = RedirectResponse(_safe_next(request), status_code=303)
        response.set_cookie(security.LANGUAGE_COOKIE, "zh" if code == "zh" else "en", max_age=365 * 86400,
                            **security.cookie_options(request))
        return response

    # ------------------------------------------------------------------------- Today
    today_view = TodayView(settings.zone)

    def warm_up() -> None:
        """Derive Today and Days once at start, so the first person does not wait for every terminal's part."""
        try:
            with pool.connection() as conn:
                today_view.page(conn)
                days_view.page(conn)
        except Exception as exc:  # noqa: BLE001 — the page derives it again when asked, and says why if it cannot
            log.warning("Today was not derived at start: %s", str(exc).splitlines()[0] if str(exc) else exc)


    @guarded("read")
    async def today(request: Request) -> Response:
        view = await db(today_view.page)
        page = request.query_params.get("page", "1")
        number = int(page) if page.isdigit() and 0 < int(page) < 100_000 else 1
        everyone = view["terminals"]
        pages = max(1, -(-len(everyone) // TODAY_PAGE))
        number = min(number, pages)
        view["terminals"] = everyone[(number - 1) * TODAY_PAGE:number * TODAY_PAGE]
        view["paging"] = {"page": number, "pages": pages, "first": (number - 1) * TODAY_PAGE + 1,
                          "last": (number - 1) * TODAY_PAGE + len(view["terminals"]), "of": len(everyone)}
        return render(request, "today.html", view)

    @guarded("read")
    async def today_state(request: Request) -> Response:
        return JSONResponse({"version": await db(lambda conn: f"{lookups.version(conn)}-{lookups.contact(conn)}")})

    # ------------------------------------------------------------------------- Transaction
    def found(conn: psycopg.Connection, criteria: Search) -> list[report.Transaction]:
        keys = lookups.search(conn, criteria)
        txns = {(t.terminal, t.txn_id): t for t in report.transactions(lookups.transaction_events_of(conn, keys))}
        return [txns[k] for k in keys if k in txns]

    @guarded("read")
    async def transactions(request: Request) -> Response:
        criteria, errors = parse_search(request.query_params, settings.zone)
        results = None
        if not errors and not criteria.empty:
            results = await db(found, criteria)
        return render(request, "search.html", {"q": request.query_params, "errors": errors, "results": results,
                                               "limit": lookups.SEARCH_LIMIT})

    def purchase(conn: psycopg.Connection, terminal: str, txn_id: int) -> dict[str, Any] | None:
        keys = lookups.purchase_keys(conn, terminal, txn_id)
        if not keys:
            return None
        txns = report.transactions(lookups.transaction_events_of(conn, keys))
        events = {}
        for till in sorted({k[0] for k in keys}):
            events[till] = lookups.full_events(conn, till, [k[1] for k in keys if k[0] == till])
        proofs = {till: lookups.proof(conn, till, evs[0]["id"]) for till, evs in events.items() if evs}
        alerts = lookups.alert_events(conn, terminal)
        fixes = [f for f in overview.open_fixes(alerts, txns) if f.original and (f.terminal, f.original.txn_id) in keys]
        return {"txns": txns, "events": events, "proofs": proofs, "fixes": fixes,
                "messages": lookups.messages_of(conn, keys),
                "standing": {(t.terminal, t.txn_id): overview.standing(t, txns, settings.zone) for t in txns},
                "checks": {till: check_events(evs, proofs[till]) for till, evs in events.items() if evs},
                "subject": (terminal, txn_id)}

    @guarded("read")
    async def transaction(request: Request) -> Response:
        terminal, txn_id = request.path_params["terminal"], request.path_params["txn_id"]
        view = await db(purchase, terminal, txn_id)
        if view is None:
            return problem(request, 404, texts.say(language(request), "no_txn", terminal=terminal, id=txn_id))
        return render(request, "transaction.html", view)

    @guarded("read")
    async def evidence(request: Request) -> Response:
        terminal, txn_id = request.path_params["terminal"], request.path_params["txn_id"]
        view = await db(purchase, terminal, txn_id)
        if view is None:
            return JSONResponse({"error": f"no transaction {txn_id} of terminal {terminal}"}, status_code=404)
        data = bundle_of(terminal, txn_id, view["txns"], view["events"].get(terminal, []), view["proofs"].get(terminal),
                         [m for (till, _), ms in view["messages"].items() if till == terminal for m in ms])
        # exactly the events as hashed (they left the terminal scrubbed of card data): masking here would break the proof
        body = json.dumps(data, indent=2, ensure_ascii=False).encode()
        return Response(body, media_type="application/json", headers={
            "Content-Disposition": f'attachment; filename="evidence-{terminal}-{txn_id}.json"'})

    # ------------------------------------------------------------------------- Reconcile
    def statement_files() -> list[str]:
        folder = settings.statements
        if folder is None or not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_file() and not p.is_symlink())[:200]

    async def reconcile_page(request: Request, *, message: str | None = None, status: int = 200) -> Response:
        return render(request, "reconcile.html", {
            "runs": await db(lookups.runs), "files": statement_files(), "formats": list(FORMATS),
            "encodings": list(ENCODINGS), "message": message,
            "may_run": request.state.session.user.may("reconcile")}, status)

    @guarded("read")
    async def reconcile_get(request: Request) -> Response:
        return await reconcile_page(request)

    @guarded("upload")  # the reconcile permission; the CSRF token is inside the multipart form, checked here
    async def reconcile_post(request: Request) -> Response:
        claim_documents = claims.claim_documents
        from posoffice.arguments import build_parser
        from posoffice.reconcile_run import reconcile_statement

        form = ReconcileForm(settings.statements, settings.upload_limit)
        refused = await form.read(request)
        if refused is None and not access.same_token(form.fields.get("csrf"), request.state.session.csrf):
            refused = (403, "csrf", {})
        if refused:
            return await reconcile_page(request, message=texts.say(language(request), refused[1], **refused[2]),
                                        status=refused[0])
        args = build_parser().parse_args(["reconcile", form.name or "statement"])
        args.format, args.encoding = form.format, form.encoding
        args.tz = getattr(settings.zone, "key", None)

        def work() -> int:
            with pool.connection() as conn:
                if form.error is not None:  # refused before parsing (too large, unreadable): kept as refused
                    store.record_reconciliation(conn, {"statement": form.name or "(upload)", "format": args.format or
                                                       "posim", "status": "refused", "error": form.error[:400]})
                    raise OfficeError(form.error)
                raw = form.raw
                assert raw is not None  # the form was read: it holds the statement or says why not (form.error)
                result = reconcile_statement(args, lambda _args: pool.connection(), raw=raw)
                docs = claim_documents(result.report, statement_name=result.name, statement_sha256=result.sha256,
                                       raw=raw, run_id=result.run_id, merchant_name=result.merchant_name)
                lookups.keep_documents(conn, result.run_id, docs)
                return result.run_id
        try:
            run_id = await run_in_threadpool(work)
        except OfficeError as exc:
            return await reconcile_page(request, message=str(exc), status=400)
        return RedirectResponse(f"/reconcile/{run_id}", status_code=303)

    @guarded("read")
    async def reconcile_run(request: Request) -> Response:
        found = await db(lookups.run, request.path_params["run_id"])
        if found is None:
            return problem(request, 404, texts.say(language(request), "no_run", id=request.path_params["run_id"]))
        return render(request, "run.html", {"run": found, "kinds": _kinds(),
                                            "may_claim": request.state.session.user.may("reconcile")})

    @guarded("reconcile")
    async def claim_download(request: Request) -> Response:
        run_id, name = request.path_params["run_id"], request.path_params["name"]
        data = await db(lookups.document, run_id, name)
        if data is None:
            return problem(request, 404, texts.say(language(request), "no_document", name=name, id=run_id))
        media = "application/json" if name.endswith(".json") else "text/plain; charset=utf-8"
        return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    # ------------------------------------------------------------------------- Days
    days_view = DaysView(settings.zone, DEFAULT_CONTRACT, CREDIT_BINS)

    threading.Thread(target=warm_up, name="pages-warm-up", daemon=True).start()

    def days_page(conn: psycopg.Connection) -> dict[str, Any]:
        view = days_view.page(conn)
        view["runs"] = {r["settlement_date"].strftime("%Y%m%d"): r for r in lookups.newest_runs_per_day(conn)}
        return view

    @guarded("read")
    async def days(request: Request) -> Response:
        from posoffice.web.chart import bar_chart
        from posoffice.web.days import folded, top_terminals
        view = await db(days_page)
        lang = language(request)
        shown = top_terminals(view["days"])
        view["shown"] = shown
        view["folded"] = {d: folded(per, shown) for d, per in view["days"].items()}
        names = list(view["days"])[-14:]  # the last two weeks settled
        label = lambda minor: format_amount(minor, 2)  # noqa: E731
        labels = [f"{d[4:6]}-{d[6:]}" for d in names]
        day_of = dict(zip(labels, names))
        for key, what, title in (("totals_chart", "net", "chart_totals"), ("fees_chart", "fees", "chart_fees")):
            def value(day: str, terminal: str, what: str = what) -> int:
                amount: int = getattr(view["folded"][day_of[day]].get(terminal) or overview.TerminalDayTotals(), what)
                return amount
            view[key] = bar_chart(texts.say(lang, title), labels, shown, value, label)
        return render(request, "days.html", view)

    # ------------------------------------------------------------------------- Admin
    def admin_view(conn: psycopg.Connection) -> dict[str, Any]:
        return {"users": access.users(conn), "terminals": store.terminals(conn), "roles": list(access.ROLES)}

    @guarded("admin")
    async def admin(request: Request) -> Response:
        return render(request, "admin.html", {**await db(admin_view), "message": None})

    @guarded("admin")
    async def add_user(request: Request) -> Response:
        form = request.state.form
        try:
            await db(access.add_user, str(form.get("name", "")), str(form.get("role", "")),
                     str(form.get("password", "")))
        except OfficeError as exc:
            return render(request, "admin.html", {**await db(admin_view), "message": str(exc)}, 400)
        return RedirectResponse("/admin", status_code=303)

    async def home(request: Request) -> Response:
        return RedirectResponse("/today", status_code=303)

    return [Route("/", home), Route("/login", login_page, methods=["GET"]), Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]), Route("/lang/{code}", switch_language),
            Route("/today", today), Route("/api/today", today_state),
            Route("/transactions", transactions),
            Route("/transactions/{terminal}/{txn_id:int}", transaction),
            Route("/transactions/{terminal}/{txn_id:int}/evidence.json", evidence),
            Route("/reconcile", reconcile_get, methods=["GET"]), Route("/reconcile", reconcile_post, methods=["POST"]),
            Route("/reconcile/{run_id:int}", reconcile_run),
            Route("/reconcile/{run_id:int}/{name}", claim_download),
            Route("/days", days), Route("/admin", admin, methods=["GET"]),
            Route("/admin/users", add_user, methods=["POST"]),
            Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")]


def _kinds() -> dict[str, tuple[str, str]]:
    from posoffice.reconcile import KINDS
    return dict(KINDS)


def _safe_next(request: Request, form: dict[str, str] | None = None) -> str:
    target = str((form or {}).get("next") or request.query_params.get("next") or "/today")
    # only a path of this site: never another host ("//evil", "https://…", "\\")
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/today"


__all__ = ["routes", "WebSettings"]
