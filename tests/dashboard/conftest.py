"""Fixtures of the console's browser tests: the live stack (console_stack.py), Debian's
Chromium driven by playwright, and a signed-in page per persona."""

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.console_stack import ROOT, Stack, create_database

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "var" / "screenshots"
PASSWORDS = {"olive": "olive-password-1", "vera": "vera-password-1", "oscar": "oscar-password-1"}
WIDE, NARROW = {"width": 1280, "height": 900}, {"width": 375, "height": 812}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, dict[str, Any]]]:
    logs = tmp_path_factory.mktemp("console")
    running = Stack(create_database(logs), logs)
    seeded = running.seed()
    running.start_server()
    running.start_worker()
    yield running, seeded
    running.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Run `make chromium` (make test does) to install Chromium"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def signed_in(browser: Any, stack: tuple[Stack, dict[str, Any]]) -> Iterator[Callable[..., Any]]:
    """signed_in("olive") -> a page of a fresh browser context, signed in as olive."""
    running, _ = stack
    contexts: list[Any] = []

    def sign_in(username: str, viewport: dict[str, int] = WIDE) -> Any:
        context = browser.new_context(viewport=viewport, base_url=running.url)
        context.set_default_timeout(30_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        # Every asset comes from the project (whitenoise): nothing from a CDN.
        page.on(
            "request",
            lambda request: (
                None
                if request.url.startswith((running.url, "ws://127.0.0.1", "data:", "blob:"))
                else elsewhere.append(request.url)
            ),
        )
        page.goto("/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORDS[username])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/w/**/tasks*")
        return page

    errors: list[str] = []
    elsewhere: list[str] = []
    yield sign_in
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
    assert not elsewhere, f"requests that left the server: {elsewhere}"


def shoot(page: Any, name: str) -> None:
    """A full-page screenshot at the page's width into var/screenshots (git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    width = page.viewport_size["width"]
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
