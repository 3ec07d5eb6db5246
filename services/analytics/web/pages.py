"""The owner's pages: the dashboard at `/`, the labelling queue at `/label`, the login, and their assets.

The pages are static files (services/analytics/web/static) that read everything through `/api/`; this
router only serves them and keeps the session. With `TEPPAN_API_TOKEN` set, a page asked for without a
session is redirected to `/login`, which takes the token once and sets the session cookie.

Every page is sent with a Content-Security-Policy that allows only this server's own scripts, so even a
message text that slipped past the pages' text-only rendering could not run a script.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

from shared.http_body import BodyTooLarge, read_body
from shared.settings import Settings
from shared.web_auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_LIFETIME_S,
    bearer_is_valid,
    is_authenticated,
    new_csrf_value,
    new_session,
    safe_next_path,
)

STATIC_DIR = Path(__file__).with_name("static")
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
# uPlot positions its elements with inline styles set from script (CSSOM), which `style-src 'self'` would
# not stop, but some browsers' CSP checks apply to them; allowing inline styles costs no script execution.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
MAX_LOGIN_BODY_BYTES = 4096
# A wrong token costs a moment, so guessing one over HTTP is slow as well as hopeless.
WRONG_TOKEN_DELAY_S = 0.5


def static_files() -> dict[str, Path]:
    """Every servable asset by its URL name; anything else under /static is a 404, never a file lookup."""
    return {
        path.relative_to(STATIC_DIR).as_posix(): path
        for path in STATIC_DIR.rglob("*")
        if path.is_file() and (path.suffix in MEDIA_TYPES or path.name in ("LICENSE", "VERSION"))
    }


def pages_router(settings: Settings) -> APIRouter:
    router = APIRouter()
    token = settings.api_token.get_secret_value() if settings.api_token is not None else None
    assets = static_files()

    def secure(request: Request) -> bool:
        # The cookies are marked Secure when the page was reached over HTTPS (directly or via a proxy
        # that says so); plain http://localhost must still work for the embedded default.
        return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"

    def page(request: Request, name: str) -> Response:
        response = FileResponse(STATIC_DIR / name, media_type=MEDIA_TYPES[".html"], headers=PAGE_HEADERS)
        if not request.cookies.get(CSRF_COOKIE):
            # Readable by the page's script (not HttpOnly): it copies it into X-CSRF-Token on writes.
            response.set_cookie(
                CSRF_COOKIE, new_csrf_value(), samesite="strict", secure=secure(request), path="/"
            )
        return response

    def guarded_page(request: Request, name: str) -> Response:
        if not is_authenticated(token, request.headers, request.cookies):
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        return page(request, name)

    @router.get("/", include_in_schema=False)
    async def dashboard(request: Request) -> Response:
        return guarded_page(request, "index.html")

    @router.get("/label", include_in_schema=False)
    async def labelling_queue(request: Request) -> Response:
        return guarded_page(request, "label.html")

    @router.get("/login", include_in_schema=False)
    async def login_page(request: Request) -> Response:
        return page(request, "login.html")

    @router.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        try:
            body = await read_body(request, MAX_LOGIN_BODY_BYTES)
        except BodyTooLarge:
            return JSONResponse({"detail": "the login form is too large"}, status_code=413)
        form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=4)
        given = (form.get("token") or [""])[0]
        next_path = safe_next_path((form.get("next") or ["/"])[0])
        if token is None:
            return RedirectResponse(next_path, status_code=303)
        if not bearer_is_valid(token, f"Bearer {given}"):
            await asyncio.sleep(WRONG_TOKEN_DELAY_S)
            return RedirectResponse(f"/login?error=1&next={quote(next_path)}", status_code=303)
        response = RedirectResponse(next_path, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            new_session(token),
            max_age=SESSION_LIFETIME_S,
            httponly=True,
            samesite="strict",
            secure=secure(request),
            path="/",
        )
        return response

    @router.post("/logout", include_in_schema=False)
    async def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @router.get("/api/session", tags=["owner"])
    async def session(request: Request) -> dict[str, bool]:
        """Whether a token is required, and whether this request carries a valid session or bearer token."""
        return {
            "token_required": token is not None,
            "authenticated": is_authenticated(token, request.headers, request.cookies),
        }

    @router.get("/static/{name:path}", include_in_schema=False)
    async def static(name: str) -> Response:
        path = assets.get(name)
        if path is None:
            return JSONResponse({"detail": "not found"}, status_code=404)
        media_type = MEDIA_TYPES.get(path.suffix, "text/plain; charset=utf-8")
        return FileResponse(
            path,
            media_type=media_type,
            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "max-age=300"},
        )

    return router
