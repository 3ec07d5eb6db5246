"""The owner's pages over real HTTP: login, the session cookie, CSRF on writes, headers and assets.

The browser tests (tests/browser) drive the same flow in Chromium; these pin the HTTP details a browser
hides: cookie attributes, the 403 a cross-site write gets, the Content-Security-Policy, and that
`/static/` serves only the page's own files.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.http_app import create_app
from shared.settings import Settings
from tests.stack.helpers import serving_app

pytestmark = pytest.mark.stack
TOKEN = "owner-pages-token-77c2"


@pytest.fixture
async def base_url(stack: Settings) -> AsyncIterator[str]:
    settings = Settings(**{**stack.model_dump(by_alias=True), "TEPPAN_API_TOKEN": TOKEN})
    async with serving_app(create_app(settings)) as url:
        yield url


def a_label() -> dict[str, Any]:
    # An unknown message: past the token and CSRF checks, the API answers 404 for it.
    return {"message_event_id": str(uuid.uuid4()), "labeller": "ana", "tone": "warm"}


async def test_pages_send_a_browser_without_a_session_to_the_login(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        for path in ("/", "/label"):
            response = await client.get(path)
            assert response.status_code == 303 and response.headers["location"] == f"/login?next={path}"
        login = await client.get("/login")
        assert login.status_code == 200 and "script-src 'self'" in login.headers["content-security-policy"]
        assert (await client.get("/api/overview")).status_code == 401
        assert (await client.get("/api/session")).json() == {"token_required": True, "authenticated": False}


async def test_login_sets_an_httponly_strict_session_and_writes_need_the_csrf_header(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        wrong = await client.post("/login", data={"token": "nope", "next": "/label"})
        assert wrong.status_code == 303 and wrong.headers["location"].startswith("/login?error=1")
        assert "teppan_session" not in client.cookies
        page = await client.get("/login")
        csrf = page.cookies["teppan_csrf"]
        login = await client.post("/login", data={"token": TOKEN, "next": "https://evil.example/"})
        assert login.status_code == 303 and login.headers["location"] == "/"
        cookie = login.headers["set-cookie"].lower()
        assert "teppan_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
        assert (await client.get("/")).status_code == 200
        assert (await client.get("/api/session")).json()["authenticated"] is True
        # The session cookie alone cannot write: another site's form could send it.
        refused = await client.post("/api/labels", json=a_label())
        assert refused.status_code == 403
        forged = await client.post("/api/labels", json=a_label(), headers={"X-CSRF-Token": "guess"})
        assert forged.status_code == 403
        allowed = await client.post("/api/labels", json=a_label(), headers={"X-CSRF-Token": csrf})
        assert allowed.status_code == 404  # past both checks; the message is unknown
        out = await client.post("/logout")
        assert out.status_code == 303
        client.cookies.delete("teppan_session")
        assert (await client.get("/api/overview")).status_code == 401


async def test_scripts_use_the_bearer_token_without_csrf(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        assert (await client.get("/")).status_code == 200
        assert (await client.post("/api/labels", json=a_label())).status_code == 404
        timing = (await client.get("/api/vocabulary")).headers["server-timing"]
        assert timing.startswith("app;dur=")


async def test_static_serves_only_the_pages_files(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        script = await client.get("/static/common.js")
        assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
        assert (await client.get("/static/vendor/uplot/LICENSE")).status_code == 200
        for path in ("/static/../pages.py", "/static/%2e%2e/pages.py", "/static/nope.js", "/static/"):
            assert (await client.get(path)).status_code == 404
