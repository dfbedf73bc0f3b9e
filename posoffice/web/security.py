"""The pages' guards: security headers on every answer, the session cookie, CSRF tokens, role checks.

Every answer carries a Content-Security-Policy that allows only the office's own stylesheet and script (no
inline script; the chart is SVG markup, styled by attributes), refuses framing, and — except the static files —
`Cache-Control: no-store`, so no page with data stays in a browser's cache.  The session cookie is HttpOnly and
SameSite=Strict (Secure when the request came over HTTPS).  Every POST carries the session's CSRF token (the
login form, before there is a session, a token from its own cookie); a POST without the right one is refused.
"""

from __future__ import annotations

import secrets
from typing import Literal, TypedDict

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "posoffice_session"
LOGIN_COOKIE = "posoffice_login"
LANGUAGE_COOKIE = "posoffice_lang"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = ((b"content-security-policy", CSP.encode()), (b"x-frame-options", b"DENY"),
           (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
           (b"cross-origin-opener-policy", b"same-origin"))


class SecurityHeaders:
    """ASGI middleware: the headers above on every HTTP answer; no-store on all but /static/."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        cacheable = scope.get("path", "").startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in {h[0] for h in HEADERS} and k.lower() != b"cache-control"]
                headers += list(HEADERS)
                headers.append((b"cache-control", b"max-age=300" if cacheable else b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class CookieOptions(TypedDict):
    """The keywords of `Response.set_cookie` every cookie of the pages is set with."""

    httponly: bool
    samesite: Literal["strict"]
    secure: bool
    path: str


def cookie_options(request: Request) -> CookieOptions:
    return {"httponly": True, "samesite": "strict", "secure": request.url.scheme == "https", "path": "/"}


def new_login_token() -> str:
    return secrets.token_urlsafe(24)
