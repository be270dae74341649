"""Search hits as escaped HTML cards for the web UI (pure strings; no gradio here)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from urllib.parse import unquote, urlsplit

from search_app.records import ScoreKind, SearchHit
from search_app.retrieval.engine import CollectionStats, HitList

# Class names shared with the browser script in search_app/web/app.py.
CARD_CLASS = "gs-card"
MORE_CLASS = "gs-more"
COPY_CLASS = "gs-copy"
URL_FIELD_CLASS = "gs-url"
DEAD_CLASS = "gs-dead"  # the image failed to load, or the link checker found it dead
LOAD_MORE_CLASS = "gs-load-more"


def escape(text: object) -> str:
    """Escape text for HTML element content and quoted attribute values."""
    return html.escape(str(text), quote=True)


def safe_image_url(url: str) -> str | None:
    """Return url when it is an absolute http(s) URL with a host, else None."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if any(ch.isspace() or ord(ch) < 32 for ch in url.strip()):
        return None
    return url.strip()


def display_name(url: str) -> str:
    """Return the file name at the end of a URL's path (e.g. 'cat.gif'), or the URL."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return url
    return unquote(path.rstrip("/").rsplit("/", 1)[-1]) or url


def match_note(hit: SearchHit) -> str:
    """Return what matched, e.g. 'description 0.871 · frame 12 0.294' ('' without frames)."""
    if hit.frame_score is None and hit.score_kind != ScoreKind.RANK_FUSION:
        return ""
    return " · ".join(hit.match_parts())


def render_card(hit: SearchHit, rank: int) -> str:
    """Return one GIF's card: the animated image (a labelled tile while it loads, or if it
    is dead), score, descriptions, and, when frames took part, what matched. A GIF without
    descriptions shows its file name. The description is shown once, below the image."""
    image_url = safe_image_url(hit.url)
    score = max(0.0, min(1.0, hit.score))
    caption = hit.description or display_name(hit.url)
    if hit.description:
        title = f'<p class="gs-desc">{escape(hit.description)}</p>'
    else:
        title = (
            f'<p class="gs-desc">{escape(caption)} '
            '<span class="gs-nodesc">(no description)</span></p>'
        )
    note = match_note(hit)
    note_block = f'<p class="gs-match">matched: {escape(note)}</p>' if note else ""
    score_title = (
        "rank fusion of description and frame matches (1.0: first in both)"
        if hit.score_kind == ScoreKind.RANK_FUSION
        else "cosine similarity of the best-matching description (plus at most 0.02 when"
        " other descriptions match almost as well); of the best frame, for frames"
    )
    media = (
        f'<img src="{escape(image_url)}" alt="{escape(caption)}" loading="lazy" '
        'decoding="async" referrerpolicy="no-referrer">'
        if image_url and not hit.dead
        else ""
    )
    unranked = hit.score_kind == ScoreKind.NONE  # shown without a query: no rank or score
    badges = (
        ""
        if unranked
        else (
            f'<span class="gs-rank">#{rank}</span>'
            f'<span class="gs-score" title="{score_title}">{hit.score:.3f}</span>'
        )
    )
    bar = (
        ""
        if unranked
        else (
            '<div class="gs-bar" aria-hidden="true">'
            f'<span style="width:{score * 100:.0f}%"></span></div>'
        )
    )
    remembered = (
        '<p class="gs-remembered" title="you shared it for a search like this one">'
        "shared before</p>"
        if hit.remembered
        else ""
    )
    others = "".join(f"<li>{escape(text)}</li>" for text in hit.other_descriptions)
    others_block = f'<ul class="gs-others">{others}</ul>' if others else ""
    dead = "" if image_url and not hit.dead else f" {DEAD_CLASS}"
    why = "link found dead" if hit.dead else "GIF unavailable"
    return (
        f'<article class="{CARD_CLASS}{dead}" data-gif-id="{escape(hit.gif_id)}">'
        '<div class="gs-media">'
        '<div class="gs-placeholder" aria-hidden="true">'
        '<span class="gs-ph-loading">Loading GIF…</span>'
        f'<span class="gs-ph-label">{why}</span></div>'
        f"{media}"
        f"{badges}"
        "</div>"
        '<div class="gs-body">'
        f"{bar}"
        f"{title}"
        f"{remembered}"
        f"{note_block}"
        f"{others_block}"
        '<div class="gs-actions">'
        f'<button type="button" class="{MORE_CLASS}" data-gif-id="{escape(hit.gif_id)}" '
        f'data-title="{escape(caption)}">'
        "More like this</button>"
        f'<button type="button" class="{COPY_CLASS}">Copy URL</button>'
        "</div>"
        f'<input class="{URL_FIELD_CLASS}" type="text" readonly aria-label="GIF URL" '
        f'value="{escape(hit.url)}">'
        "</div></article>"
    )


def render_results(
    hits: Sequence[SearchHit | dict[str, object]],
    heading: str,
    more: bool = False,
    url: str = "",
    push: bool = False,
) -> str:
    """Return the result grid under a heading (or a notice when there are no hits), with a
    "Load more" button when more is true. url is the page URL's query string for these
    results; push asks the page to move to it (a new search), else it only records it."""
    address = f' data-url="{escape(url)}" data-push="{"1" if push else "0"}"'
    if not hits:
        return (
            f"<div{address}>"
            + render_notice("No matching GIFs", "Try describing the action in other words.")
            + "</div>"
        )
    parsed = [h if isinstance(h, SearchHit) else SearchHit.from_dict(h) for h in hits]
    cards = "".join(render_card(hit, rank) for rank, hit in enumerate(parsed, start=1))
    button = (
        f'<div class="gs-more-row"><button type="button" class="{LOAD_MORE_CLASS}">'
        "Load more GIFs</button></div>"
        if more
        else ""
    )
    return (
        f'<section class="gs-results"{address}><h3 class="gs-heading">{escape(heading)}</h3>'
        f'<div class="gs-grid">{cards}</div>{button}</section>'
    )


def render_notice(title: str, detail: str, command: str = "") -> str:
    """Return a friendly message box, with an optional command to run."""
    code = f'<pre class="gs-command"><code>{escape(command)}</code></pre>' if command else ""
    return (
        f'<div class="gs-notice" role="status"><strong>{escape(title)}</strong>'
        f"<p>{escape(detail)}</p>{code}</div>"
    )


def format_status(
    stats: CollectionStats, latency_ms: float | None, hits: HitList | None = None
) -> str:
    """Return the status line: collection, GIF, description (and frame) counts, model, and
    for a search its latency and what it left out (held back, excluded, dead)."""
    parts = [
        f"collection **{stats.collection}**",
        "GIFs being counted" if stats.gifs is None else f"{stats.gifs:,} GIFs",
        f"{stats.descriptions:,} descriptions",
        f"model `{stats.model_name}`",
    ]
    if stats.frames:
        parts.insert(3, f"{stats.frames:,} frames")
    if latency_ms is not None and hits is not None:
        parts.append(f"{len(hits)} shown in {latency_ms:.0f} ms")
        if hits.held_back:
            parts.append(f"{hits.held_back} under the minimum score held back")
        if hits.excluded:
            parts.append(f"{hits.excluded} left out by your -words")
        if hits.hidden_dead:
            parts.append(f"{hits.hidden_dead} with dead links hidden")
    return " · ".join(parts)


CARD_CSS = """
.gs-results { margin-top: 4px; }
.gs-heading { font-size: 1rem; font-weight: 600; margin: 0 0 10px; opacity: .8; }
.gs-grid { display: grid; gap: 14px;
  grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); }
.gs-card { display: flex; flex-direction: column; border-radius: 12px; overflow: hidden;
  background: var(--block-background-fill); border: 1px solid var(--border-color-primary);
  box-shadow: 0 1px 3px rgba(0,0,0,.08); }
.gs-media { position: relative; aspect-ratio: 4 / 3; background: #1f2330; overflow: hidden; }
.gs-media img { position: absolute; inset: 0; width: 100%; height: 100%; object-fit: cover;
  display: block; }
.gs-placeholder { position: absolute; inset: 0; display: flex; align-items: center;
  justify-content: center; padding: 14px 16px;
  background: linear-gradient(135deg, #2b3045, #1b1e2b); }
.gs-card .gs-ph-loading, .gs-card .gs-ph-label { font-size: .9rem; font-weight: 700;
  letter-spacing: .06em; text-transform: uppercase; color: #ffffff !important;
  background: rgba(0,0,0,.55); padding: 4px 10px; border-radius: 6px; }
.gs-card .gs-ph-label { display: none; }
.gs-dead .gs-media img { display: none; }
.gs-card.gs-dead .gs-ph-loading { display: none; }
.gs-card.gs-dead .gs-ph-label { display: inline; }
.gs-card .gs-rank, .gs-card .gs-score { position: absolute; top: 8px; padding: 2px 9px;
  border-radius: 999px; font-size: .85rem; font-weight: 700; background: rgba(0,0,0,.62);
  color: #fff !important; }
.gs-rank { left: 8px; }
.gs-card .gs-score { right: 8px; font-variant-numeric: tabular-nums;
  background: rgba(37,99,235,.9); }
.gs-body { display: flex; flex-direction: column; gap: 6px; padding: 10px 12px 12px; flex: 1; }
.gs-bar { height: 4px; border-radius: 2px; background: var(--border-color-primary); }
.gs-bar span { display: block; height: 100%; border-radius: 2px; background: #2563eb; }
.gs-card .gs-desc { margin: 0; font-size: .95rem; font-weight: 600; line-height: 1.35;
  overflow-wrap: anywhere; }
.gs-card .gs-nodesc { font-weight: 400; font-style: italic; opacity: .7; }
.gs-card .gs-match { margin: 0; font-size: .8rem; opacity: .75;
  font-variant-numeric: tabular-nums; }
.gs-others { margin: 0; padding-left: 18px; font-size: .85rem; opacity: .8;
  overflow-wrap: anywhere; }
.gs-others li { margin: 2px 0; }
.gs-actions { display: flex; gap: 6px; margin-top: auto; padding-top: 4px; }
.gs-card .gs-actions button { flex: 1; padding: 6px 8px; border-radius: 8px; cursor: pointer;
  line-height: 1.2; margin: 0;
  font-size: .82rem; border: 1px solid var(--border-color-primary);
  background: var(--button-secondary-background-fill); color: var(--body-text-color); }
.gs-card .gs-actions button:hover { border-color: #2563eb; }
.gs-url { width: 100%; font-size: .72rem; padding: 3px 6px; border-radius: 6px;
  border: 1px solid var(--border-color-primary); background: transparent; opacity: .7;
  color: var(--body-text-color); }
.gs-remembered { font-size: .75rem; opacity: .75; margin: 0 0 4px; }
.gs-more-row { display: flex; justify-content: center; margin: 16px 0 4px; }
.gs-more-row .gs-load-more { padding: 8px 22px; border-radius: 10px; cursor: pointer;
  font-weight: 600; border: 1px solid #2563eb; background: #2563eb; color: #fff; }
.gs-notice { padding: 18px 20px; border-radius: 12px; border: 1px dashed #94a3b8; }
.gs-notice p { margin: 6px 0 0; }
.gs-command { margin: 10px 0 0; padding: 8px 10px; border-radius: 8px; background: #0f172a;
  color: #e2e8f0; }
"""
