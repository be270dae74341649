"""The page in headless Chromium: type, press Enter, see animated cards (or placeholders)."""

from __future__ import annotations

from pathlib import Path

import pytest

QUERY_BOX = "#gs-query textarea, #gs-query input"
WAIT_MS = 20_000


def search(page, query: str) -> None:
    """Type query into the search box and press Enter."""
    box = page.locator(QUERY_BOX).first
    box.fill(query)
    box.press("Enter")


@pytest.fixture
def results_page(page, web_app):
    page.goto(web_app.url)
    search(page, "a dog is running")
    page.wait_for_selector(".gs-card", timeout=WAIT_MS)
    return page


def test_enter_shows_cards_with_descriptions_and_scores(results_page, tmp_path: Path) -> None:
    page = results_page
    cards = page.locator(".gs-card")
    assert cards.count() == 12
    first = cards.first
    assert first.locator(".gs-desc").inner_text().strip()
    scores = [float(s) for s in page.locator(".gs-score").all_inner_texts()]
    assert scores == sorted(scores, reverse=True) and 0 < scores[-1] <= scores[0] <= 1
    assert page.locator(".gs-others li").count() > 0
    assert "Results for “a dog is running”" in page.locator(".gs-heading").inner_text()
    status = page.locator("#gs-status").inner_text()
    assert "150 GIFs" in status and "all-MiniLM-L6-v2" in status and "12 shown in" in status
    page.screenshot(path=str(tmp_path / "results.png"))
    assert (tmp_path / "results.png").stat().st_size > 10_000


def test_dead_gif_shows_a_placeholder_not_a_broken_image(results_page, tmp_path: Path) -> None:
    page = results_page  # no machine here reaches the 2015 Tumblr hosts
    page.wait_for_selector(".gs-card.gs-dead", timeout=WAIT_MS)
    dead = page.locator(".gs-card.gs-dead").first
    assert dead.locator(".gs-placeholder").is_visible()
    assert not dead.locator("img").is_visible()
    assert "GIF UNAVAILABLE" in dead.locator(".gs-ph-label").inner_text().upper()
    text = dead.locator(".gs-ph-text").inner_text()
    assert text and text == dead.locator(".gs-desc").inner_text()
    dead.screenshot(path=str(tmp_path / "placeholder.png"))


def test_more_like_this_searches_from_that_gif(results_page) -> None:
    page = results_page
    source = page.locator(".gs-card").first
    gif_id = source.get_attribute("data-gif-id")
    source.locator(".gs-more").click()
    page.wait_for_selector(".gs-heading:has-text('More like')", timeout=WAIT_MS)
    ids = [card.get_attribute("data-gif-id") for card in page.locator(".gs-card").all()]
    assert len(ids) == 12 and gif_id not in ids


def test_copy_url_puts_the_gif_url_on_the_clipboard(results_page) -> None:
    page = results_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    card = page.locator(".gs-card").first
    card.locator(".gs-copy").click()
    page.wait_for_selector(".gs-copy:has-text('Copied')", timeout=WAIT_MS)
    url = card.locator(".gs-url").input_value()
    assert url.startswith("https://") and page.evaluate("navigator.clipboard.readText()") == url


def test_clicking_an_example_runs_it(page, web_app) -> None:
    page.goto(web_app.url)
    page.get_by_text("a man is dancing on a stage").first.click()
    page.wait_for_selector(".gs-heading:has-text('a man is dancing on a stage')", timeout=WAIT_MS)
    assert page.locator(QUERY_BOX).first.input_value() == "a man is dancing on a stage"
    assert page.locator(".gs-card").count() == 12


def test_empty_query_shows_a_friendly_message(page, web_app) -> None:
    page.goto(web_app.url)
    search(page, "   ")
    page.wait_for_selector(".gs-notice:has-text('Type a sentence first')", timeout=WAIT_MS)
    assert page.locator(".gs-card").count() == 0


def test_payloads_in_rows_render_as_inert_text(page, xss_app, tmp_path: Path) -> None:
    page.goto(xss_app.url)
    search(page, "a cat jumps")
    page.wait_for_selector(".gs-card", timeout=WAIT_MS)
    page.wait_for_selector(".gs-card.gs-dead", timeout=WAIT_MS)
    page.wait_for_timeout(500)  # let any injected onerror/onload have its chance
    # The javascript: URL and the URL carrying markup were dropped at ingest (bad_url).
    assert page.locator(".gs-card").count() == 4
    assert page.dialogs == []
    assert page.evaluate("typeof window.__pwned") == "undefined"
    injected = "#gs-results script, .gs-card svg, .gs-card img[src='x']"
    assert page.locator(injected).count() == 0
    descriptions = page.locator(".gs-desc").all_inner_texts()
    assert any("<script>window.__pwned=1</script>" in text for text in descriptions)
    assert any("<img src=x onerror=alert(1)>" in text for text in descriptions)
    urls = [field.input_value() for field in page.locator(".gs-url").all()]
    assert len(urls) == 4 and not any("<" in url or '"' in url for url in urls)
    page.screenshot(path=str(tmp_path / "xss.png"))


def test_exercises_tab_shows_heatmaps_and_sgd_table(page, web_app, tmp_path: Path) -> None:
    page.goto(web_app.url)
    page.get_by_role("tab", name="Exercises").click()
    page.locator("#ex-attention").click()
    page.wait_for_selector(
        "#ex-attention-numbers:has-text('sentence 1 vs sentence 2')", timeout=WAIT_MS
    )
    assert page.locator("img[src*='.png'], img[src*='image']").count() >= 2
    page.locator("#ex-sgd").click()
    page.wait_for_selector("#ex-sgd-table table", timeout=WAIT_MS)
    assert "Final parameters" in page.locator("#ex-sgd-table").inner_text()
    page.screenshot(path=str(tmp_path / "exercises.png"), full_page=True)


def test_a_gif_that_loads_is_shown_animating(page, xss_app, live_gif_url: str) -> None:
    page.goto(xss_app.url)
    search(page, "a cat jumps on a trampoline")
    card = page.locator(f".gs-card:has(img[src='{live_gif_url}'])")
    card.wait_for(timeout=WAIT_MS)
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0", arg=card.locator("img").element_handle()
    )
    assert card.locator("img").is_visible() and "gs-dead" not in card.get_attribute("class")
    assert card.locator(".gs-rank").inner_text() == "#1"
