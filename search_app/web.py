"""The web UI: the only module that imports gradio. A Blocks app over one SearchEngine."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr
from PIL import Image
from starlette.middleware import Middleware

from search_app.cards import CARD_CSS, format_status, render_notice, render_results
from search_app.errors import ConfigError, EmptyQueryError, GifSearchError
from search_app.records import SearchHit
from search_app.search import MAX_QUERY_CHARS, CollectionStats, SearchEngine
from search_app.settings import (
    DEFAULT_CHROMA_PORT,
    DEFAULT_COLLECTION,
    DEFAULT_STORE_DIR,
    Settings,
)
from search_app.tabs import ImageOutput, MarkdownOutput, Panel, Tab, TextField
from search_app.web_guard import GuardLimits, WebGuard

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
DEFAULT_K = 12
MAX_RESULTS = 50
QUEUE_MAX_SIZE = 64  # waiting requests beyond this are refused, not queued forever
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # the largest image a visitor may drop
UPLOAD_WINDOW_S = 900  # uploads are kept this long, and budgeted over it (web_guard.py)
CONCURRENCY_LIMIT = 2  # searches run at once, over all search events and the API
SEARCH_GROUP = "search"  # the one concurrency group every search event shares
DEFAULT_EXAMPLES = (
    "a dog catches a frisbee",
    "a man is dancing on a stage",
    "a cat jumps off a table",
    "two people are kissing",
    "a car is drifting around a corner",
    "a woman laughs and throws her head back",
)

PAGE_CSS = """
#gs-status { font-size: .9rem; opacity: .85; }
"""

# Runs once per page in the results component: dead GIFs swap to their placeholder
# ('error' does not bubble, so it is caught in the capture phase), "More like this" fires
# the component's click event with the GIF id, "Copy URL" uses the clipboard or selects
# the URL field so the user can copy it by hand.
CARD_SCRIPT = """
const markDead = (img) => { const c = img.closest('.gs-card'); if (c) c.classList.add('gs-dead'); };
element.addEventListener('error', (e) => {
  if (e.target && e.target.tagName === 'IMG') markDead(e.target);
}, true);
const sweep = () => element.querySelectorAll('.gs-card img').forEach((img) => {
  if (img.complete && img.naturalWidth === 0 && img.getAttribute('src')) markDead(img);
});
sweep();
if (typeof watch === 'function') watch('value', sweep);
element.addEventListener('click', (e) => {
  const more = e.target.closest('.gs-more');
  if (more) { trigger('click', {gif_id: more.dataset.gifId, title: more.dataset.title}); return; }
  const copy = e.target.closest('.gs-copy');
  if (!copy) return;
  const field = copy.closest('.gs-card').querySelector('.gs-url');
  const say = (text) => {
    copy.textContent = text;
    setTimeout(() => { copy.textContent = 'Copy URL'; }, 1500);
  };
  const fallback = () => {
    field.focus(); field.select();
    let ok = false;
    try { ok = document.execCommand('copy'); } catch (err) { ok = false; }
    say(ok ? 'Copied' : 'Press Ctrl+C');
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(() => say('Copied'), fallback);
  } else { fallback(); }
});
"""

SearchOutputs = tuple[str, str, list[dict[str, object]]]
MAX_TITLE_CHARS = 200  # of a "More like" heading


def ingest_command(settings: Settings) -> str:
    """Return the command that fills the collection these settings point at (no secrets)."""
    parts = ["gifsearch ingest"]
    if settings.chroma_host:
        parts.append(f"--chroma-host {settings.chroma_host}")
        if settings.chroma_port != DEFAULT_CHROMA_PORT:
            parts.append(f"--chroma-port {settings.chroma_port}")
        if settings.chroma_ssl:
            parts.append("--chroma-ssl")
    elif settings.store_dir != DEFAULT_STORE_DIR:
        parts.append(f"--store {settings.store_dir}")
    if settings.collection != DEFAULT_COLLECTION:
        parts.append(f"--collection {settings.collection}")
    return " ".join(parts)


def is_loopback(host: str) -> bool:
    """Return whether host only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class LaunchOptions:
    """Where and how the app listens; a non-loopback host needs auth or insecure=True."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    auth: tuple[str, str] | None = None
    insecure: bool = False
    blocked_paths: tuple[str, ...] = ()
    queue_max_size: int = QUEUE_MAX_SIZE
    uploads: bool = False  # only a collection that searches by image takes uploads

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"port {self.port} is out of range: use 1 to 65535")
        if not is_loopback(self.host) and self.auth is None and not self.insecure:
            raise ConfigError(
                f"refusing to serve on {self.host} without a password: "
                "set GIFSEARCH_AUTH=user:password or --auth-file FILE, or add --insecure"
            )


class SearchHandlers:
    """The UI's and the API's handlers over one SearchEngine."""

    def __init__(self, engine: SearchEngine, fill_command: str = "gifsearch ingest") -> None:
        self.engine = engine
        self.fill_command = fill_command

    def status_line(self, latency_ms: float | None = None, shown: int = 0) -> str:
        """Return the status line for the open collection."""
        return format_status(self.engine.stats(), latency_ms, shown)

    @property
    def images_enabled(self) -> bool:
        """Whether search by image is offered: the collection's model embeds images."""
        return self.engine.supports_images

    def empty_notice(self, stats: CollectionStats | None = None) -> str | None:
        """Return a notice saying how to fill the collection when it holds nothing."""
        stats = stats or self.engine.stats()
        if stats.descriptions or stats.frames:
            return None
        return render_notice(
            f'The collection "{self.engine.store.collection_name}" is empty',
            "Fill it with GIFs and their descriptions, then search again:",
            self.fill_command,
        )

    def handle_search(self, query: str, k: float) -> SearchOutputs:
        """Search for query; return the results HTML, the status line and the hits."""
        return self._run(lambda n: self.engine.search(query or "", n), k, f"Results for “{query}”")

    def handle_similar(self, gif_id: str, k: float, title: str = "") -> SearchOutputs:
        """Show the GIFs most like a stored GIF, excluding it, under the card's own title
        (the description its card showed; cut to MAX_TITLE_CHARS)."""
        shown = " ".join(str(title).split())[:MAX_TITLE_CHARS] if title else ""
        label = f"More like “{shown}”" if shown else "More like this GIF"
        return self._run(lambda n: self.engine.similar(gif_id, n), k, label)

    def handle_image(self, image: Image.Image | None, k: float) -> SearchOutputs:
        """Show the GIFs most like a dropped image (a GIF counts by its picked frames)."""
        if image is None:
            stats = self.engine.stats()
            notice = render_notice("Drop an image first", "An image or a GIF; see GIFs like it.")
            return notice, format_status(stats, None, 0), []
        return self._run(lambda n: self.engine.search_image(image, n), k, "GIFs like your image")

    def _run(self, find: Callable[[int], list[SearchHit]], k: float, heading: str) -> SearchOutputs:
        stats = self.engine.stats()
        notice = self.empty_notice(stats)
        if notice:
            return notice, format_status(stats, None, 0), []
        try:
            count = check_count(k)
            started = time.perf_counter()
            hits = find(count)
            latency_ms = (time.perf_counter() - started) * 1000
        except EmptyQueryError:
            notice = render_notice(
                "Type a sentence first", "Describe what happens in the GIF, e.g. “a dog runs”."
            )
            return notice, format_status(stats, None, 0), []
        except GifSearchError as exc:
            return render_notice("Could not search", str(exc)), format_status(stats, None, 0), []
        html = render_results(hits, heading)
        return html, format_status(stats, latency_ms, len(hits)), [h.to_dict() for h in hits]

    def api_search(self, query: str, k: int = DEFAULT_K) -> list[dict[str, Any]]:
        """Return up to k GIFs for query as JSON-ready dicts, best first."""
        return self._api(lambda n: self.engine.search(query or "", n), k)

    def api_similar(self, gif_id: str, k: int = DEFAULT_K) -> list[dict[str, Any]]:
        """Return up to k GIFs most like the stored GIF gif_id, as JSON-ready dicts."""
        return self._api(lambda n: self.engine.similar(gif_id or "", n), k)

    def _api(self, find: Callable[[int], list[SearchHit]], k: float) -> list[dict[str, Any]]:
        try:
            return [hit.to_dict() for hit in find(check_count(k))]
        except GifSearchError as exc:
            raise gr.Error(str(exc), print_exception=False) from None


def check_count(k: float) -> int:
    """Return k as a whole number of results, or raise ConfigError outside 1..MAX_RESULTS."""
    try:
        count = int(k)
    except (TypeError, ValueError):
        raise ConfigError(f"results count {k!r} is not a whole number") from None
    if count != k or not 1 <= count <= MAX_RESULTS:
        raise ConfigError(f"results count {k!r} is out of range: use 1 to {MAX_RESULTS}")
    return count


def build_app(
    engine: SearchEngine,
    examples: Sequence[str] = DEFAULT_EXAMPLES,
    extra_tabs: Sequence[Tab] = (),
    fill_command: str = "gifsearch ingest",
) -> gr.Blocks:
    """Build the Blocks app: a search tab (query, count, examples, cards), then extra tabs."""
    handlers = SearchHandlers(engine, fill_command)
    welcome = handlers.empty_notice() or render_notice(
        "Search GIFs by what happens in them",
        "Type a sentence and press Enter, or pick an example.",
    )
    private: dict[str, Any] = {"api_visibility": "private", "show_progress": "minimal"}
    searching = {**private, "concurrency_id": SEARCH_GROUP}
    with gr.Blocks(
        title="gifsearch", analytics_enabled=False, delete_cache=(UPLOAD_WINDOW_S, UPLOAD_WINDOW_S)
    ) as app:
        gr.Markdown("# gifsearch\nDescribe what happens; see the GIFs that match.")
        with gr.Tab("Search"):
            with gr.Row(equal_height=True):
                query = gr.Textbox(
                    placeholder="What happens in the GIF? e.g. a dog catches a frisbee",
                    show_label=False,
                    max_lines=1,
                    autofocus=True,
                    max_length=MAX_QUERY_CHARS,
                    elem_id="gs-query",
                    scale=6,
                )
                count = gr.Slider(1, MAX_RESULTS, value=DEFAULT_K, step=1, label="Results", scale=2)
                button = gr.Button("Search", variant="primary", scale=1, elem_id="gs-search")
            samples = gr.Dataset(
                components=[query], samples=[[e] for e in examples], label="Examples", type="values"
            )
            image_input, image_button = add_image_search(handlers.images_enabled)
            status = gr.Markdown(handlers.status_line(), elem_id="gs-status")
            results = gr.HTML(welcome, js_on_load=CARD_SCRIPT, elem_id="gs-results")
            hits = gr.State([])
        for tab in extra_tabs:
            with gr.Tab(tab.title):
                add_tab(tab, private)

        outputs = [results, status, hits]
        for event in (query.submit, button.click):
            event(handlers.handle_search, [query, count], outputs, **searching)

        def run_example(sample: list[str], k: float) -> tuple[str, str, str, list]:
            return (sample[0], *handlers.handle_search(sample[0], k))

        samples.click(run_example, [samples, count], [query, *outputs], **searching)
        if image_input is not None and image_button is not None:
            for event in (image_input.upload, image_button.click):
                event(handlers.handle_image, [image_input, count], outputs, **searching)

        def more_like(k: float, evt: gr.EventData) -> SearchOutputs:
            data = getattr(evt, "_data", None)
            data = data if isinstance(data, dict) else {}
            return handlers.handle_similar(data.get("gif_id"), k, data.get("title") or "")

        results.click(more_like, [count], outputs, scroll_to_output=True, **searching)
        gr.api(handlers.api_search, api_name="search", concurrency_id=SEARCH_GROUP)
        gr.api(handlers.api_similar, api_name="similar", concurrency_id=SEARCH_GROUP)
    return app


def add_image_search(enabled: bool) -> tuple[gr.Image | None, gr.Button | None]:
    """Add the drop-an-image row when the model embeds images; else add nothing."""
    if not enabled:
        return None, None
    accordion = gr.Accordion("Search by image", open=True, elem_id="gs-image-search")
    with accordion, gr.Row(equal_height=True):
        image = gr.Image(
            type="pil",
            image_mode=None,  # keeps a GIF animated, so its frames can be picked
            sources=["upload", "clipboard"],
            label="Drop an image or a GIF",
            elem_id="gs-image",
            height=180,
            scale=4,
        )
        button = gr.Button("Find GIFs like it", elem_id="gs-image-button", scale=1)
    return image, button


def add_tab(tab: Tab, private: dict[str, Any]) -> None:
    """Render a described tab (search_app.tabs) inside the current gr.Tab."""
    for panel in tab.panels:
        gr.Markdown(f"### {panel.heading}")
        inputs = []
        for row in panel.rows:
            with gr.Row():
                for item in row:
                    if isinstance(item, TextField):
                        inputs.append(
                            gr.Textbox(
                                item.value,
                                label=item.label,
                                scale=item.scale,
                                max_length=item.max_chars,
                            )
                        )
                    else:
                        inputs.append(
                            gr.Number(
                                item.value,
                                label=item.label,
                                precision=0,
                                minimum=item.minimum,
                                maximum=item.maximum,
                            )
                        )
        button = gr.Button(panel.button, variant="primary", elem_id=panel.button_id)
        outputs = []
        with gr.Row():
            for output in panel.outputs:
                if isinstance(output, ImageOutput):
                    outputs.append(
                        gr.Image(label=output.label, type="pil", interactive=False, format="png")
                    )
        for output in panel.outputs:
            if isinstance(output, MarkdownOutput):
                outputs.append(gr.Markdown(elem_id=output.elem_id or None))
        button.click(guarded(panel), inputs, outputs, **private)


def guarded(panel: Panel) -> Callable[..., object]:
    """Return the panel's handler, refusing values over a field's cap before it runs."""

    def run(*values: object) -> object:
        refusal = panel.refusal(values)
        outputs = panel.message(refusal) if refusal else panel.run(*values)
        return outputs[0] if len(panel.outputs) == 1 else outputs  # gradio: one is bare

    return run


def guard_limits(options: LaunchOptions) -> GuardLimits:
    """Return what the guard in front of the app lets through for these options."""
    return GuardLimits(
        uploads=options.uploads,
        max_upload_bytes=MAX_UPLOAD_BYTES,
        upload_window_s=UPLOAD_WINDOW_S,
    )


def launch_app(
    app: gr.Blocks, options: LaunchOptions, prevent_thread_lock: bool = False, quiet: bool = False
) -> str:
    """Launch app with safe defaults (local, no share link, bounded queue); return its URL."""
    app.queue(default_concurrency_limit=CONCURRENCY_LIMIT, max_size=options.queue_max_size)
    _, local_url, _ = app.launch(
        server_name=options.host,
        server_port=options.port,
        auth=options.auth,
        share=False,
        show_error=False,
        enable_monitoring=False,
        allowed_paths=[],
        blocked_paths=list(options.blocked_paths),
        max_file_size=MAX_UPLOAD_BYTES,
        app_kwargs={"middleware": [Middleware(WebGuard, limits=guard_limits(options))]},
        prevent_thread_lock=prevent_thread_lock,
        quiet=quiet,
        inbrowser=False,
        footer_links=["api"],
        mcp_server=False,
        pwa=False,
        ssr_mode=False,
        css=CARD_CSS + PAGE_CSS,
        theme=gr.themes.Default(primary_hue="blue"),
    )
    return local_url
