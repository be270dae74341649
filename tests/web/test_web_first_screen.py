"""The page's first screen in headless Chromium: it opens on what was shared ("Copy URL",
then a reload) and on the collection's categories (chips that search), the query box
completes a prefix, and on a 390 x 844 phone the first result is in view without
scrolling."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from search_app.embedders.sbert import Embedder
from search_app.retrieval.derived_keeper import keeper_for
from search_app.web.page import PAGE_COMPLETIONS, PAGE_TOPICS
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


def test_the_page_opens_on_the_collections_categories_and_a_chip_searches(
    page, fresh_app: LaunchedApp
) -> None:
    held = keeper_for(fresh_app.engine).wait(120)  # built by the ingest, read back here
    assert held is not None and held.categories, keeper_for(fresh_app.engine).problem
    terms = [category.search_term for category in held.categories][:PAGE_TOPICS]
    page.goto(fresh_app.url)
    chips = page.locator("#gs-topics button")
    chips.first.wait_for(timeout=WAIT_MS)
    page.wait_for_function(  # the chips are read at each visit, after the page shows
        f"document.querySelector('#gs-topics button')?.innerText.trim() === {terms[0]!r}",
        timeout=WAIT_MS,
    )
    assert [chip.strip() for chip in chips.all_inner_texts()] == terms
    chips.first.click()
    page.wait_for_function(
        "document.querySelector('.gs-heading')?.innerText.includes('Results for')",
        timeout=WAIT_MS,
    )
    assert terms[0] in page.locator(".gs-heading").inner_text()
    assert page.locator(".gs-card").count() > 0


def test_the_query_box_completes_a_prefix(page, fresh_app: LaunchedApp) -> None:
    keeper = keeper_for(fresh_app.engine)
    assert keeper.wait(120) is not None
    expected = keeper.complete("a man", PAGE_COMPLETIONS)  # past searches, then phrases
    assert expected and all(term.lower().startswith("a man") for term in expected)
    page.goto(fresh_app.url)
    box = page.locator(QUERY_BOX).first
    box.wait_for(timeout=WAIT_MS)
    box.press_sequentially("a man", delay=40)  # typed: an input event per key
    assert box.get_attribute("list") == "gs-completions"
    offered = "[...document.querySelectorAll('#gs-completions option')].map(o => o.value)"
    try:  # the last keystroke's completions (an earlier one's may show first)
        wanted = json.dumps(json.dumps(expected, separators=(",", ":")))  # as JS writes it
        page.wait_for_function(f"JSON.stringify({offered}) === {wanted}", timeout=WAIT_MS)
    finally:
        shown = page.evaluate(offered)
    assert shown == expected
