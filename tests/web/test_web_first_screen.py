"""The page's first screen in headless Chromium: it opens on what was shared ("Copy URL",
then a reload), and on a 390 x 844 phone the first result is in view without scrolling."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from search_app.embedders.sbert import Embedder
from tests.web.conftest import LaunchedApp, filled_settings, launch, pick_web_lines
from tests.web.test_web_browser import QUERY_BOX, WAIT_MS, search

PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def fresh_app(
    tmp_path_factory: pytest.TempPathFactory, cached_loader: Callable, minilm: Embedder
) -> Iterator[LaunchedApp]:
    """The page over a store of its own (so its usage starts empty)."""
    settings = filled_settings(tmp_path_factory.mktemp("first"), pick_web_lines(), cached_loader)
    launched = launch(settings, cached_loader, minilm)
    yield launched
    launched.close()


def test_copy_url_then_a_reload_shows_the_gif_under_recently_shared(
    page, fresh_app: LaunchedApp
) -> None:
    page.goto(fresh_app.url)
    page.wait_for_selector("#gs-results .gs-notice", timeout=WAIT_MS)
    assert "Recently shared" not in page.locator("#gs-results").inner_text()
    search(page, "a man is dancing")
    page.wait_for_selector(".gs-card", timeout=WAIT_MS)
    third = page.locator(".gs-card").nth(2)
    gif_id = third.get_attribute("data-gif-id")
    third.locator(".gs-copy").click()
    page.wait_for_timeout(1_500)  # the share event reaches the server
    page.goto(fresh_app.url)
    page.wait_for_selector("#gs-results .gs-card", timeout=WAIT_MS)
    assert "Recently shared" in page.locator(".gs-heading").inner_text()
    cards = page.locator("#gs-results .gs-card")
    assert cards.first.get_attribute("data-gif-id") == gif_id
    assert cards.first.locator(".gs-score").count() == 0  # not ranked for a query


def test_on_a_phone_the_first_result_shows_without_scrolling(
    browser, fresh_app: LaunchedApp, tmp_path: Path
) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    phone = context.new_page()
    try:
        phone.goto(fresh_app.url)
        box = phone.locator(QUERY_BOX).first
        box.fill("a dog is running")
        box.press("Enter")
        phone.wait_for_function(
            "document.querySelector('.gs-heading')?.innerText.includes('Results for')",
            timeout=WAIT_MS,
        )
        first = phone.locator(".gs-card").first.bounding_box()
        assert first is not None
        assert phone.evaluate("window.scrollY") == 0
        assert first["y"] + 120 <= PHONE["height"]  # its image's top part is in view
        phone.screenshot(path=str(tmp_path / "phone.png"))
    finally:
        context.close()
