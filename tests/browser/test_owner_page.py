"""The owner's page in Debian's Chromium, against the real stack: login, the overview's figures against the
database, three turns labelled with the keyboard alone, hostile message texts, and the open-page warning.

A known stream goes through the real workers first (ingest, logger, nlp and the analytics workers), so
the page reads what the pipeline wrote. Each page is saved as a screenshot under the test's output folder
(and into `TEPPAN_SCREENSHOT_DIR` when set: that is how the README's screenshots are taken).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from playwright.async_api import Browser, BrowserContext, Page

from schemas.topics import CHAT_MESSAGES, CHAT_OUTCOMES
from schemas.vocabulary import TONES
from services.http_app import create_app
from shared.settings import Settings
from tests.conftest import ANALYTICS_KINDS
from tests.stack.helpers import (
    WorkerProcesses,
    chat_message,
    produce_events,
    serving_app,
    wait_for,
    wait_until_caught_up,
    wait_until_logged,
)

pytestmark = [pytest.mark.stack, pytest.mark.browser]
TOKEN = "browser-token-5d1e9a"
HOSTILE_TEXTS = (
    "<script>window.__pwned = 'script'</script> can we book for 20?",
    '<img src=x onerror="window.__pwned = \'img\'"> is saturday free?',
)
CUSTOMER_TEXTS = (
    "hi! we'd love a hibachi chef for my dad's 60th, about 25 people",
    "how much would that be per person with the shrimp add-on?",
    "could we move it to sunday the 14th instead, same time?",
    "honestly i've been waiting two days for an answer, this is frustrating",
    "do you do vegetarian options? my sister doesn't eat meat",
    "ok great, book it for 6pm please",
)
STREAM_CONVERSATIONS = 6


def screenshot_to(path: Path) -> None:
    target = os.environ.get("TEPPAN_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


@pytest.fixture(scope="module")
async def known_stream(
    stack: Settings, db: asyncpg.Pool, analytics: WorkerProcesses, nlp_worker: WorkerProcesses
) -> dict[str, Any]:
    """Six conversations, three turns each, two of them booked, one carrying the hostile texts."""
    conversations = [str(uuid.uuid4()) for _ in range(STREAM_CONVERSATIONS)]
    messages, outcomes = [], []
    now = datetime.now(UTC)
    for number, conversation in enumerate(conversations):
        for turn in range(3):
            # Turns 0 and 2 are the customer's, 1 the assistant's.
            text = (
                HOSTILE_TEXTS[turn // 2]
                if number == 0 and turn != 1
                else CUSTOMER_TEXTS[(number + turn) % len(CUSTOMER_TEXTS)]
            )
            at = (now - timedelta(minutes=30 - number) + timedelta(seconds=turn)).isoformat()
            messages.append(chat_message(conversation, turn, text=text, occurred_at=at, customer_id=7000 + number))
        if number < 2:
            outcomes.append(
                {
                    "event_id": str(uuid.uuid4()),
                    "event_type": "booking.outcome",
                    "occurred_at": (now - timedelta(minutes=20)).isoformat(),
                    "conversation_id": conversation,
                    "customer_id": 7000 + number,
                    "booked": True,
                    "booking_id": f"B-{number}",
                    "total_value": 1200.0,
                }
            )
    await produce_events(stack, CHAT_MESSAGES, messages)
    await produce_events(stack, CHAT_OUTCOMES, outcomes)
    await wait_until_logged(db, [message["event_id"] for message in messages], timeout_s=120)

    customer_turns = [message["event_id"] for message in messages if message["role"] == "customer"]

    async def analysed() -> bool:
        count = await db.fetchval(
            "SELECT count(*) FROM message_analyses WHERE message_event_id = ANY($1::uuid[])", customer_turns
        )
        return bool(count == len(customer_turns))

    await wait_for(analysed, timeout_s=120)
    await wait_until_caught_up(stack, ANALYTICS_KINDS, timeout_s=120)
    return {"conversations": conversations, "hostile_conversation": conversations[0]}




def with_token(settings: Settings, token: str | None) -> Settings:
    return Settings(**{**settings.model_dump(by_alias=True), "TEPPAN_API_TOKEN": token})


@pytest.fixture(scope="module")
async def page_url(stack: Settings, known_stream: dict[str, Any]) -> AsyncIterator[str]:
    """`teppan serve` with a token, under uvicorn, over the stack the known stream went through."""
    async with serving_app(create_app(with_token(stack, TOKEN))) as url:
        yield url


@pytest.fixture(scope="module")
async def logged_in(
    browser: Browser, page_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[BrowserContext]:
    """A browser context that logged in through the login page, as the owner does once."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await page.goto(page_url + "/")
    assert "/login" in page.url, "a page without a session must send the browser to the login page"
    await page.fill("#token", "not-the-token")
    await page.click("#login-submit")
    await page.wait_for_url(lambda url: "/login" in url and "error=1" in url)
    assert await page.is_visible("#login-error")
    shot = tmp_path_factory.mktemp("login") / "login.png"
    await page.screenshot(path=str(shot))
    await page.fill("#token", TOKEN)
    await page.click("#login-submit")
    await page.wait_for_url(page_url + "/")
    await page.close()
    yield context
    await context.close()


async def test_the_session_cookie_is_httponly_and_samesite_strict(logged_in: BrowserContext) -> None:
    cookies = {cookie["name"]: cookie for cookie in await logged_in.cookies()}
    session = cookies["teppan_session"]
    assert session["httpOnly"] is True and session["sameSite"] == "Strict"
    assert cookies["teppan_csrf"]["sameSite"] == "Strict"


async def figure(page: Page, name: str) -> float | None:
    value = await page.get_attribute(f'[data-figure="{name}"]', "data-value")
    return float(value) if value not in (None, "") else None


async def test_the_overview_shows_what_the_database_holds(
    logged_in: BrowserContext, page_url: str, db: asyncpg.Pool, tmp_path: Path
) -> None:
    page = await logged_in.new_page()
    async with page.expect_response(lambda response: "/api/overview" in response.url) as answered:
        await page.goto(page_url + "/")
    overview = await (await answered.value).json()
    await page.wait_for_function(
        "() => { const f = document.querySelector('[data-figure=\"conversations\"]');"
        " return f && f.dataset.value !== undefined && f.dataset.value !== ''; }"
    )
    since, until = datetime.fromisoformat(overview["since"]), datetime.fromisoformat(overview["until"])
    conversations = await db.fetchval(
        "SELECT count(*) FROM messages WHERE turn_index = 0 AND occurred_at >= $1 AND occurred_at < $2",
        since,
        until,
    )
    # The metrics worker counts each outcome event in the window of its event time, as this does.
    ended = await db.fetchrow(
        "SELECT count(*) AS ended, count(*) FILTER (WHERE booked) AS booked FROM outcomes"
        " WHERE occurred_at >= $1 AND occurred_at < $2",
        since,
        until,
    )
    assert conversations >= STREAM_CONVERSATIONS
    assert await figure(page, "conversations") == conversations
    assert await figure(page, "conversion_rate") == pytest.approx(ended["booked"] / ended["ended"])
    await page.wait_for_selector("#updated-at:not(:empty)")
    shot = tmp_path / "overview.png"
    await page.screenshot(path=str(shot), full_page=True)
    screenshot_to(shot)
    await page.close()


async def tone_labels(db: asyncpg.Pool, labeller: str) -> list[asyncpg.Record]:
    return list(
        await db.fetch(
            "SELECT message_event_id, value FROM labels WHERE labeller = $1 AND field = 'tone'", labeller
        )
    )


async def test_three_turns_labelled_with_the_keyboard_reach_labels_and_readiness(
    logged_in: BrowserContext, page_url: str, db: asyncpg.Pool, tmp_path: Path
) -> None:
    labeller = f"tester-{uuid.uuid4().hex[:6]}"
    labelled_before = await db.fetchval("SELECT count(DISTINCT message_event_id) FROM labels WHERE field = 'tone'")
    page = await logged_in.new_page()
    await page.goto(page_url + "/label")
    await page.wait_for_selector("#tone-progress")
    progress_before = float(await page.get_attribute("#tone-progress", "data-value") or 0)
    await page.click("#labeller-name")
    await page.keyboard.type(labeller)
    await page.keyboard.press("Enter")
    saved_turns = []
    for _ in range(3):
        current = await page.wait_for_selector("#current-turn")
        assert current is not None
        message_id = await current.get_attribute("data-message-event-id")
        assert message_id not in saved_turns
        # Keyboard only: the tone group has focus; 2 picks its second tone, Tab moves to intent, 1 picks the
        # first intent, Enter saves and moves on.
        await page.keyboard.press("2")
        await page.keyboard.press("Tab")
        await page.keyboard.press("1")
        await page.keyboard.press("Enter")
        await page.wait_for_function(
            "() => (document.getElementById('save-status').textContent || '').startsWith('saved')"
        )
        saved_turns.append(message_id)
        await page.wait_for_function(
            "(saved) => { const c = document.getElementById('current-turn');"
            " return c && c.dataset.messageEventId !== saved; }",
            arg=message_id,
        )
    shot = tmp_path / "labelling-queue.png"
    await page.screenshot(path=str(shot), full_page=True)
    screenshot_to(shot)

    async def stored() -> list[asyncpg.Record] | None:
        rows = await tone_labels(db, labeller)
        return rows if len(rows) == 3 else None

    rows = await wait_for(stored, timeout_s=60)
    assert sorted(str(row["message_event_id"]) for row in rows) == sorted(saved_turns)
    # Key 2 chose the second tone the vocabulary lists, for each of the three turns.
    assert {json.loads(row["value"]) for row in rows} == {TONES[1]}
    labelled_after = await db.fetchval("SELECT count(DISTINCT message_event_id) FROM labels WHERE field = 'tone'")
    assert labelled_after >= labelled_before + 1
    # The page's progress toward 5,000 labelled tone examples counts them after a reload.
    await page.reload()
    await page.wait_for_function(
        "(before) => Number(document.getElementById('tone-progress').dataset.value || 0) > before",
        arg=progress_before,
    )
    await page.close()


async def test_hostile_message_texts_are_shown_as_text_and_never_run(
    logged_in: BrowserContext, page_url: str, known_stream: dict[str, Any]
) -> None:
    page = await logged_in.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    await page.goto(page_url + "/")
    await page.fill("#conversation-search", known_stream["hostile_conversation"])
    await page.keyboard.press("Enter")
    # A locator, not an element handle: the list may be drawn again while the click is on its way.
    await page.locator(
        f'#conversation-results button[data-conversation-id="{known_stream["hostile_conversation"]}"]'
    ).click()
    await page.wait_for_selector("#conversation-reader li.turn")
    texts = await page.locator("#conversation-reader .turn-text").all_text_contents()
    for hostile in HOSTILE_TEXTS:
        assert hostile in texts
    assert await page.locator("#conversation-reader img, #conversation-reader script").count() == 0
    assert await page.evaluate("() => window.__pwned === undefined")
    assert dialogs == []
    await page.close()


async def test_without_a_token_every_page_warns_in_red_that_it_is_open(
    browser: Browser, stack: Settings, tmp_path: Path
) -> None:
    async with serving_app(create_app(with_token(stack, None))) as url:
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        page = await context.new_page()
        for path in ("/", "/label"):
            await page.goto(url + path)
            warning = await page.wait_for_selector("#open-warning:visible")
            assert warning is not None
            assert "TEPPAN_API_TOKEN" in (await warning.text_content() or "")
            red, green, blue = await page.evaluate(
                "() => getComputedStyle(document.getElementById('open-warning')).backgroundColor"
                ".match(/[0-9]+/g).slice(0, 3).map(Number)"
            )
            assert red > 150 and green < 100 and blue < 100
        await context.close()
