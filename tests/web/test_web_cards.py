"""The HTML card renderer: everything escaped, only http(s) URLs in an img tag."""

from __future__ import annotations

import subprocess
import sys

import pytest

from search_app.records import SearchHit
from search_app.retrieval.engine import CollectionStats, HitList
from search_app.web.cards import format_status, render_card, render_results, safe_image_url


def make_hit(url: str = "https://a.example/x.gif", description: str = "a dog runs") -> SearchHit:
    return SearchHit("abc123", url, 0.8766, description, ("a puppy runs", "a dog <b>jumps</b>"))


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://38.media.tumblr.com/a.gif", True),
        ("http://example.com/a.gif", True),
        ("HTTPS://EXAMPLE.COM/A.GIF", True),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("data:image/gif;base64,R0lGOD", False),
        ("vbscript:msgbox(1)", False),
        ("//evil.example/a.gif", False),
        ("/etc/passwd", False),
        ("https:///no-host.gif", False),
        ("https://example.com/a b.gif", False),
        ("", False),
    ],
    ids=[
        "https",
        "http",
        "upper-case",
        "javascript",
        "javascript-mixed-case",
        "data",
        "vbscript",
        "protocol-relative",
        "path",
        "no-host",
        "space",
        "empty",
    ],
)
def test_only_http_urls_are_image_sources(url: str, allowed: bool) -> None:
    assert (safe_image_url(url) is not None) is allowed


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "data:text/html,<script>alert(1)</script>"], ids=["js", "data"]
)
def test_card_with_a_non_http_url_has_no_image_and_shows_its_placeholder(url: str) -> None:
    card = render_card(make_hit(url=url), 1)
    assert "<img" not in card and "gs-card gs-dead" in card
    assert 'src="' not in card and "<script>" not in card
    assert "GIF unavailable" in card and "a dog runs" in card


def test_card_escapes_descriptions_and_urls() -> None:
    hostile_url = 'https://x.example/a.gif?"><svg/onload=alert(1)>'
    description = "<img src=x onerror=alert(1)> <script>window.__pwned=1</script>"
    card = render_card(make_hit(url=hostile_url, description=description), 3)
    assert "<script>" not in card and "<svg" not in card and "<b>" not in card
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in card
    assert "&lt;img src=x onerror=alert(1)&gt;" in card
    assert 'src="https://x.example/a.gif?&quot;&gt;&lt;svg/onload=alert(1)&gt;"' in card
    assert card.count("<img") == 1


def test_card_shows_rank_score_and_other_descriptions() -> None:
    card = render_card(make_hit(), 2)
    assert "#2" in card and "0.877" in card and 'data-gif-id="abc123"' in card
    assert "<li>a puppy runs</li>" in card and "<li>a dog &lt;b&gt;jumps&lt;/b&gt;</li>" in card
    assert "More like this" in card and "Copy URL" in card


def test_no_hits_render_a_message_not_an_empty_grid() -> None:
    html = render_results([], "Results for “x”")
    assert "No matching GIFs" in html and "gs-grid" not in html


def test_results_heading_is_escaped() -> None:
    html = render_results([make_hit()], "Results for “<script>”")
    assert "&lt;script&gt;" in html and "<script>" not in html


def test_status_line_names_collection_counts_model_and_latency() -> None:
    stats = CollectionStats("gifs", 9_000, 11_112, "sentence-transformers/all-MiniLM-L6-v2")
    hits = HitList([make_hit()] * 12)
    line = format_status(stats, 12.4, hits)
    assert line == (
        "collection **gifs** · 9,000 GIFs · 11,112 descriptions · "
        "model `sentence-transformers/all-MiniLM-L6-v2` · 12 shown in 12 ms"
    )
    assert "shown" not in format_status(stats, None)
    left_out = HitList([make_hit()], held_back=2, hidden_dead=3, excluded=4)
    assert format_status(stats, 5.0, left_out).endswith(
        "1 shown in 5 ms · 2 under the minimum score held back · 4 left out by your -words · "
        "3 with dead links hidden"
    )


def test_cards_module_does_not_import_gradio() -> None:
    code = "import sys, search_app.web.cards; sys.exit('gradio' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
