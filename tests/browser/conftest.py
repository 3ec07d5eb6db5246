"""Browser tests drive Debian's Chromium (`/usr/bin/chromium`) headless through Playwright.

Playwright is only the driver here: it never downloads a browser. Without Chromium the tests skip with
how to install it, except under CI (`CI` set), where a missing browser fails them: CI must run them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")
INSTALL_HINT = "Chromium is not installed; the browser tests need it: sudo apt-get install chromium"


def chromium_executable() -> str | None:
    configured = os.environ.get("TEPPAN_CHROMIUM")
    if configured:
        return configured
    return next((found for name in CHROMIUM_CANDIDATES if (found := shutil.which(name))), None)


@pytest.fixture(scope="session")
def chromium() -> str:
    path = chromium_executable()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(INSTALL_HINT + " (CI must run the browser tests, so they do not skip there)")
        pytest.skip(INSTALL_HINT)
    return path


@pytest.fixture(scope="module")
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium,
            # /dev/shm is small in containers; Chromium falls back to /tmp with this flag.
            args=["--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            yield launched
        finally:
            await launched.close()
