"""The session cookie, the bearer check, the CSRF rule and the post-login redirect (shared/web_auth.py)."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from shared.web_auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    bearer_is_valid,
    csrf_is_satisfied,
    is_authenticated,
    new_session,
    safe_next_path,
    session_is_valid,
)

TOKEN = "s3cret-token"


def test_a_session_is_valid_until_it_expires_and_only_under_its_token() -> None:
    cookie = new_session(TOKEN, now=1_000, lifetime_s=60)
    assert session_is_valid(TOKEN, cookie, now=1_059)
    assert not session_is_valid(TOKEN, cookie, now=1_060)
    assert not session_is_valid("another-token", cookie, now=1_000)


def test_a_forged_expiry_breaks_the_signature() -> None:
    expiry, _, signature = new_session(TOKEN, now=1_000, lifetime_s=60).partition(".")
    assert not session_is_valid(TOKEN, f"{int(expiry) + 10**6}.{signature}", now=1_000)


@given(st.text(max_size=300))
@example("²")  # a digit to str.isdigit() that int() refuses
@example("٣٣٣٣٣٣٣٣٣٣.x")  # Arabic-Indic digits, which int() would accept
def test_no_made_up_cookie_is_a_session(cookie: str) -> None:
    assert session_is_valid(TOKEN, cookie) is False


@given(st.text(max_size=100))
def test_only_the_token_itself_passes_the_bearer_check(given_token: str) -> None:
    assert bearer_is_valid(TOKEN, f"Bearer {given_token}") == (given_token.strip() == TOKEN)


def test_bearer_scheme_is_case_insensitive_and_required() -> None:
    assert bearer_is_valid(TOKEN, f"bearer {TOKEN}")
    assert not bearer_is_valid(TOKEN, TOKEN)
    assert not bearer_is_valid(TOKEN, None)


def test_authentication_by_header_or_cookie_and_open_without_a_token() -> None:
    assert is_authenticated(None, {}, {})
    assert not is_authenticated(TOKEN, {}, {})
    assert is_authenticated(TOKEN, {"authorization": f"Bearer {TOKEN}"}, {})
    assert is_authenticated(TOKEN, {}, {SESSION_COOKIE: new_session(TOKEN)})


def test_a_browser_write_must_echo_the_csrf_cookie() -> None:
    cookies = {CSRF_COOKIE: "abc123"}
    assert csrf_is_satisfied("GET", {}, cookies)
    assert not csrf_is_satisfied("POST", {}, cookies)
    assert not csrf_is_satisfied("POST", {"x-csrf-token": "other"}, cookies)
    assert not csrf_is_satisfied("POST", {"x-csrf-token": ""}, {CSRF_COOKIE: ""})
    assert csrf_is_satisfied("POST", {"x-csrf-token": "abc123"}, cookies)
    # A script sends its token; a browser never adds Authorization to a cross-site request.
    assert csrf_is_satisfied("POST", {"authorization": f"Bearer {TOKEN}"}, {})


@given(st.text(max_size=300))
def test_after_login_the_browser_stays_on_this_server(value: str) -> None:
    path = safe_next_path(value)
    assert path.startswith("/") and not path.startswith("//") and "\\" not in path
    assert all(ord(char) >= 0x21 for char in path)


def test_next_paths() -> None:
    assert safe_next_path("/label") == "/label"
    assert safe_next_path("https://evil.example/") == "/"
    assert safe_next_path("//evil.example/") == "/"
    assert safe_next_path("/\\evil.example") == "/"
    assert safe_next_path(None) == "/"
