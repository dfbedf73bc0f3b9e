"""What every page of the office is made with: the templates and their filters, the database asked in a worker
thread, the reader's language (from its cookie), a page or an error page rendered in it, and `guarded`, the check
in front of each handler (a session, its role's permission, the CSRF token of a POST).

Apart from `posoffice.web.app` because it is the same for every page: `app.routes` declares the pages (what each
reads and which template shows it), this module how any page is served.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Awaitable, Callable, Concatenate, ParamSpec, TypeVar

import psycopg
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from agent import catalogue
from agent.masking import mask_digit_runs
from agent.money import format_amount
from agent.reconcile.claim import TEXTS as claim_texts
from posoffice import access, claims
from posoffice.web import security, texts

HERE = Path(__file__).resolve().parent
#: a page's handler
Handler = Callable[[Request], Awaitable[Response]]
Args = ParamSpec("Args")
Result = TypeVar("Result")


class PageKit:
    """The templates (their filters read times in `zone`) and the database of one app, for its pages."""

    def __init__(self, pool: ConnectionPool, zone: tzinfo | None) -> None:
        self.pool = pool
        self.templates = templates = Jinja2Templates(directory=str(HERE / "templates"))
        env = templates.env
        env.filters["money"] = lambda minor: "-" if minor is None else format_amount(minor, 2)
        env.filters["masked"] = lambda text: mask_digit_runs(str(text))
        env.filters["when"] = lambda at: "-" if at is None else datetime.fromtimestamp(at, zone).strftime(
            "%Y-%m-%d %H:%M:%S")
        env.filters["stamp"] = lambda iso: "-" if not iso else datetime.fromisoformat(iso).astimezone(zone).strftime(
            "%Y-%m-%d %H:%M:%S")
        env.filters["trace"] = lambda n: "-" if n is None else f"{n:06d}"
        env.globals["finding_in_words"] = claims.finding_in_words
        env.globals["document_label"] = document_label
        env.filters["fields"] = lambda fields: sorted((fields or {}).items(), key=lambda kv: (
            int(kv[0]) if str(kv[0]).isdigit() else 1 << 30, str(kv[0])))  # a message's fields by number
        env.filters["json"] = lambda v: mask_digit_runs(json.dumps(v, ensure_ascii=False, sort_keys=True))

    def db(self, work: Callable[Concatenate[psycopg.Connection, Args], Result], *args: Args.args,
           **kwargs: Args.kwargs) -> Awaitable[Result]:
        def run() -> Result:
            with self.pool.connection() as conn:
                return work(conn, *args, **kwargs)
        return run_in_threadpool(run)

    @staticmethod
    def language(request: Request) -> str:
        return "zh" if request.cookies.get(security.LANGUAGE_COOKIE) == "zh" else "en"

    def render(self, request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
        lang = self.language(request)
        return self.templates.TemplateResponse(request, name, {
            "t": functools.partial(texts.say, lang), "state_word": functools.partial(texts.state_word, lang), "lang": lang, "session": getattr(request.state, "session", None),
            "path": request.url.path, **context}, status_code=status)

    def problem(self, request: Request, status: int, message: str) -> Response:
        return self.render(request, "error.html", {"message": message, "status": status}, status)

    def guarded(self, permission: str) -> Callable[[Handler], Handler]:
        """A handler for a signed-in user whose role has `permission`; POSTs need the session's CSRF token."""
        db, language, problem = self.db, self.language, self.problem

        def wrap(handler: Handler) -> Handler:
            @functools.wraps(handler)
            async def endpoint(request: Request) -> Response:
                session = await db(access.session_of, request.cookies.get(security.SESSION_COOKIE))
                if session is None:
                    if request.url.path.endswith(".json") or request.url.path.startswith("/api/"):
                        return JSONResponse({"error": "log in first"}, status_code=401)
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    return RedirectResponse(f"/login?next={_quote(target)}", status_code=303)
                request.state.session = session
                if not session.user.may("reconcile" if permission == "upload" else permission):
                    return problem(request, 403, texts.say(language(request), "forbidden", role=session.user.role))
                if request.method == "POST" and permission != "upload":
                    form = await small_form(request)
                    if form is None or not access.same_token(form.get("csrf"), session.csrf):
                        return problem(request, 403, texts.say(language(request), "csrf"))
                    request.state.form = form
                return await handler(request)
            return endpoint
        return wrap


def document_label(name: str, language: str) -> str:
    """A run's document in words of the page's language: the claim letter's own title, evidence and statement
    words (`agent.reconcile.claim.TEXTS`), the kind of document from its name (`claims.document_kind`)."""
    words = functools.partial(catalogue.say, claim_texts, language)
    title = words("title").title() if language != "zh" else words("title")
    return texts.say(language, f"doc_{claims.document_kind(name)}", title=title, evidence=words("evidence"),
                     statement=words("statement"))


async def small_form(request: Request) -> dict[str, str] | None:
    """A url-encoded form of at most 16 KiB (login, logout, a user); None for anything else."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return None
    declared = request.headers.get("content-length", "")
    if not declared.isdigit() or int(declared) > 16_384:
        return None
    form = await request.form(max_files=0, max_fields=20, max_part_size=16_384)
    return {name: value for name, value in form.items() if isinstance(value, str)}  # url-encoded: no files


def _quote(text: str) -> str:
    from urllib.parse import quote
    return quote(text, safe="/")
