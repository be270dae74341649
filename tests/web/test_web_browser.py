"""The page in headless Chromium: type, press Enter, see animated cards (or placeholders)."""

from __future__ import annotations

from pathlib import Path

import pytest

from search_app.retrieval.derived_keeper import keeper_for

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
    # the results, not the "Recently shared" row a plain visit opens on
    page.wait_for_selector(".gs-heading:has-text('Results for')", timeout=WAIT_MS)
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


LABEL_STYLE = """(el) => { const s = getComputedStyle(el);
  return {color: s.color, background: s.backgroundColor, size: parseFloat(s.fontSize)}; }"""


def test_dead_gif_shows_a_labelled_placeholder_and_its_description_once(
    results_page, tmp_path: Path
) -> None:
    page = results_page  # no machine here reaches the 2015 Tumblr hosts
    page.wait_for_selector(".gs-card.gs-dead", timeout=WAIT_MS)
    dead = page.locator(".gs-card.gs-dead").first
    assert dead.locator(".gs-placeholder").is_visible()
    assert not dead.locator("img").is_visible()
    label = dead.locator(".gs-ph-label")
    assert label.is_visible() and "GIF UNAVAILABLE" in label.inner_text().upper()
    assert not dead.locator(".gs-ph-loading").is_visible()
    style = label.evaluate(LABEL_STYLE)
    assert style["color"] == "rgb(255, 255, 255)" and style["size"] >= 13  # legible
    description = dead.locator(".gs-desc").inner_text()
    assert description and dead.inner_text().count(description) == 1  # shown once
    dead.screenshot(path=str(tmp_path / "placeholder.png"))


def test_a_gif_still_loading_shows_a_label_not_faded_text(page, slow_gif_app) -> None:
    page.goto(slow_gif_app.url)
    search(page, "a cat jumps on a trampoline")
    card = page.locator(".gs-card").first
    card.wait_for(timeout=WAIT_MS)
    loading = card.locator(".gs-ph-loading")
    assert loading.is_visible() and "LOADING" in loading.inner_text().upper()
    assert loading.evaluate(LABEL_STYLE)["color"] == "rgb(255, 255, 255)"
    description = card.locator(".gs-desc").inner_text()
    assert card.inner_text().count(description) == 1


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


def test_a_collection_without_categories_offers_example_chips_that_search(page, xss_app) -> None:
    keeper = keeper_for(xss_app.engine)
    keeper.wait(120)
    assert keeper.categories() == []  # too few GIFs for themes
    page.goto(xss_app.url)
    page.locator("#gs-topics").get_by_text("a cat jumps off a table").first.click()
    page.wait_for_selector(".gs-heading:has-text('a cat jumps off a table')", timeout=WAIT_MS)
    assert page.locator(QUERY_BOX).first.input_value() == "a cat jumps off a table"
    assert page.locator(".gs-card").count() > 0


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


def test_a_shared_search_url_opens_with_its_results(page, web_app) -> None:
    page.goto(f"{web_app.url}/?q=a+dog+is+running&k=7")
    page.wait_for_selector(
        ".gs-heading:has-text('Results for “a dog is running”')", timeout=WAIT_MS
    )
    assert page.locator(".gs-card").count() == 7
    assert page.locator(QUERY_BOX).first.input_value() == "a dog is running"


def test_searching_moves_the_url_and_back_returns_to_the_previous_results(page, web_app) -> None:
    page.goto(web_app.url)
    search(page, "a dog is running")
    page.wait_for_selector(".gs-heading:has-text('a dog is running')", timeout=WAIT_MS)
    page.wait_for_function("location.search.includes('q=a+dog+is+running')", timeout=WAIT_MS)
    first_ids = [c.get_attribute("data-gif-id") for c in page.locator(".gs-card").all()]
    search(page, "a man is dancing")
    page.wait_for_selector(".gs-heading:has-text('a man is dancing')", timeout=WAIT_MS)
    page.wait_for_function("location.search.includes('q=a+man+is+dancing')", timeout=WAIT_MS)
    source = page.locator(".gs-card").first
    liked = source.get_attribute("data-gif-id")
    source.locator(".gs-more").click()
    page.wait_for_selector(".gs-heading:has-text('More like')", timeout=WAIT_MS)
    page.wait_for_function(f"location.search.includes('like={liked}')", timeout=WAIT_MS)
    page.go_back()
    page.wait_for_selector(
        ".gs-heading:has-text('Results for “a man is dancing”')", timeout=WAIT_MS
    )
    page.go_back()
    page.wait_for_selector(
        ".gs-heading:has-text('Results for “a dog is running”')", timeout=WAIT_MS
    )
    assert [c.get_attribute("data-gif-id") for c in page.locator(".gs-card").all()] == first_ids
    assert page.locator(QUERY_BOX).first.input_value() == "a dog is running"


def test_load_more_adds_the_next_cards(results_page) -> None:
    page = results_page
    first = [c.get_attribute("data-gif-id") for c in page.locator(".gs-card").all()]
    assert len(first) == 12
    page.locator(".gs-load-more").click()
    page.wait_for_function("document.querySelectorAll('.gs-card').length === 24", timeout=WAIT_MS)
    ids = [c.get_attribute("data-gif-id") for c in page.locator(".gs-card").all()]
    assert ids[:12] == first and len(set(ids)) == 24
    assert [c.inner_text() for c in page.locator(".gs-rank").all()][12] == "#13"


def test_on_a_phone_the_query_box_takes_the_width(browser, web_app, tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    try:
        page.goto(web_app.url)
        box = page.locator(QUERY_BOX).first
        box.wait_for(timeout=WAIT_MS)
        width = box.evaluate("(el) => el.getBoundingClientRect().width")
        assert width >= 0.9 * 390, width
        search(page, "a dog catches a frisbee")
        page.wait_for_selector(".gs-heading:has-text('Results for')", timeout=WAIT_MS)
        assert box.input_value() == "a dog catches a frisbee"
        page.screenshot(path=str(tmp_path / "phone.png"))
    finally:
        context.close()


def test_the_page_explains_exclusion_and_says_what_it_left_out(page, web_app) -> None:
    page.goto(web_app.url)
    assert '-"a phrase"' in page.locator("#gs-hint").inner_text()
    search(page, "a dog is running -dog")
    page.wait_for_selector(".gs-heading:has-text('a dog is running -dog')", timeout=WAIT_MS)
    assert "left out by your -words" in page.locator("#gs-status").inner_text()
    descriptions = " ".join(page.locator(".gs-desc, .gs-others li").all_inner_texts()).lower()
    assert " dog " not in f" {descriptions} "


def test_more_like_this_then_words_refine_it(results_page) -> None:
    page = results_page
    card = page.locator(".gs-card").first
    title = card.locator(".gs-desc").inner_text()
    card.locator(".gs-more").click()
    page.wait_for_selector(".gs-heading:has-text('More like')", timeout=WAIT_MS)
    assert title in page.locator(".gs-heading").inner_text()
    page.locator("#gs-clear-like").wait_for(timeout=WAIT_MS)
    search(page, "at night")
    page.wait_for_selector(".gs-heading:has-text('but “at night”')", timeout=WAIT_MS)
    page.locator("#gs-clear-like").click()
    page.wait_for_selector(".gs-heading:has-text('Results for “at night”')", timeout=WAIT_MS)


def test_the_grid_shows_gifs_that_load_animating(page, live_grid_app, tmp_path: Path) -> None:
    """The picture of the real thing: with GIFs that load, the grid is GIFs, not tiles.
    GIFSEARCH_SCREENSHOT_DIR=docs saves it as docs/screenshot.png for the README."""
    import os

    page.set_viewport_size({"width": 1280, "height": 860})
    page.goto(f"{live_grid_app.url}/?q=something+slides+across&k=8")
    page.wait_for_selector(".gs-card img", timeout=WAIT_MS)
    page.wait_for_function(
        "[...document.querySelectorAll('.gs-card img')].length === 8 && "
        "[...document.querySelectorAll('.gs-card img')].every(i => i.complete && i.naturalWidth)",
        timeout=WAIT_MS,
    )
    assert page.locator(".gs-card.gs-dead").count() == 0
    assert page.locator(".gs-card").count() == 8
    target = Path(os.environ.get("GIFSEARCH_SCREENSHOT_DIR", tmp_path)) / "screenshot.png"
    page.screenshot(path=str(target))
    assert target.stat().st_size > 20_000


def test_a_dead_gif_is_hidden_and_the_toggle_shows_it(page, dead_link_app) -> None:
    page.goto(dead_link_app.url)
    search(page, "a dog jumps into a swimming pool")
    page.wait_for_selector(".gs-card", timeout=WAIT_MS)
    descriptions = page.locator(".gs-desc").all_inner_texts()
    assert "a dog jumps into a swimming pool" not in descriptions
    assert "1 with dead links hidden" in page.locator("#gs-status").inner_text()
    page.locator("#gs-options").click()
    page.locator("#gs-show-dead input").check()
    page.wait_for_selector(".gs-desc:has-text('a dog jumps into a swimming pool')", timeout=WAIT_MS)
    dead = page.locator(".gs-card.gs-dead").first
    assert "LINK FOUND DEAD" in dead.locator(".gs-ph-label").inner_text().upper()
    assert dead.locator("img").count() == 0  # nothing is fetched for a known-dead link
