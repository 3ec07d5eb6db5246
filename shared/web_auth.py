"""Who may use the HTTP server: the API token as a bearer header, or a session cookie the login page sets.

The session cookie carries no secret of its own: it is an expiry time signed with HMAC-SHA256 under the
API token, so every `teppan serve` process that knows the token accepts it, nothing is stored, and
changing the token logs every browser out. It is HttpOnly (no script can read it) and SameSite=Strict
(no other site's page can make the browser send it).

Writes made with the cookie also need the double-submit CSRF header: the page copies the random,
script-readable `teppan_csrf` cookie into `X-CSRF-Token`, which another site's page can neither read nor
set. A request that carries an `Authorization` header is a script's, not a browser page's (a browser never
adds one to a cross-site request on its own), so it needs no CSRF header.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

SESSION_COOKIE = "teppan_session"
CSRF_COOKIE = "teppan_csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_LIFETIME_S = 7 * 24 * 3600
_SESSION_PURPOSE = b"teppan-session-v1:"


def _signature(token: str, expires_at: int) -> str:
    return hmac.new(token.encode(), _SESSION_PURPOSE + str(expires_at).encode(), hashlib.sha256).hexdigest()


def new_session(token: str, now: float | None = None, lifetime_s: int = SESSION_LIFETIME_S) -> str:
    """A session cookie value valid for `lifetime_s`: `<expiry>.<signature>`."""
    expires_at = int(now if now is not None else time.time()) + lifetime_s
    return f"{expires_at}.{_signature(token, expires_at)}"


def session_is_valid(token: str, cookie: str | None, now: float | None = None) -> bool:
    if not cookie or len(cookie) > 200:
        return False
    expiry, _, signature = cookie.partition(".")
    # isdigit() alone accepts digits int() refuses ("²"), which made a crafted cookie a server error.
    if not (expiry.isascii() and expiry.isdigit()) or len(expiry) > 12:
        return False
    expected = _signature(token, int(expiry))
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        return False
    return int(expiry) > (now if now is not None else time.time())


def bearer_is_valid(token: str, authorization: str | None) -> bool:
    """`Authorization: Bearer <token>`, the scheme case-insensitive, compared in constant time."""
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    given = credentials.strip().encode() if scheme.lower() == "bearer" else b""
    return hmac.compare_digest(given, token.encode())


def is_authenticated(token: str | None, headers: Mapping[str, str], cookies: Mapping[str, str]) -> bool:
    """Open when no token is configured; otherwise a valid bearer header or session cookie."""
    if token is None:
        return True
    return bearer_is_valid(token, headers.get("authorization")) or session_is_valid(
        token, cookies.get(SESSION_COOKIE)
    )


def new_csrf_value() -> str:
    return secrets.token_urlsafe(24)


def csrf_is_satisfied(method: str, headers: Mapping[str, str], cookies: Mapping[str, str]) -> bool:
    """Safe methods always; a write when it comes from a script (Authorization) or echoes the CSRF cookie."""
    if method.upper() in ("GET", "HEAD", "OPTIONS"):
        return True
    if headers.get("authorization"):
        return True
    cookie, header = cookies.get(CSRF_COOKIE), headers.get(CSRF_HEADER)
    return bool(cookie) and bool(header) and hmac.compare_digest(str(cookie).encode(), str(header).encode())


def safe_next_path(value: str | None) -> str:
    """Where to go after logging in: a path on this server only, never another site (`//evil`, `https:`)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or len(value) > 200:
        return "/"
    if any(ord(char) < 0x21 for char in value):
        return "/"
    return value
