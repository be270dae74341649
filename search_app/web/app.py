"""The web UI: the only module that imports gradio. A Blocks app over one SearchEngine."""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import gradio as gr
from gradio.events import api as register_api  # gr.api, which gradio's __all__ leaves out
from PIL import Image

from search_app.errors import ConfigError, GifSearchError
from search_app.retrieval.derived_keeper import keeper_for
from search_app.retrieval.engine import SearchEngine
from search_app.retrieval.request import MAX_K, MAX_QUERY_CHARS
from search_app.settings import (
    DEFAULT_CHROMA_PORT,
    DEFAULT_COLLECTION,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_STORE_DIR,
    Settings,
)
from search_app.web.api.context import ApiContext
from search_app.web.api.gate import allowed_hosts, build_gate
from search_app.web.api.keys import ApiKeys
from search_app.web.api.media import MediaLibrary
from search_app.web.cards import CARD_CSS
from search_app.web.guard import MAX_UPLOAD_BYTES, UPLOAD_WINDOW_S, GuardLimits
from search_app.web.page import (
    API_DEFAULT_K,
    COMPLETIONS_ID,
    PAGE_DEFAULT_K,
    PageView,
    SearchHandlers,
    apply_form,
    shared_gif,
    view_after,
    view_from_url,
)
from search_app.web.server import RunningServer, start_server
from search_app.web.tabs import ImageOutput, MarkdownOutput, Panel, Tab, TextField

QUEUE_MAX_SIZE = 64  # waiting requests beyond this are refused, not queued forever
CONCURRENCY_LIMIT = 2  # searches run at once, over all search events and the API
SEARCH_GROUP = "search"  # the one concurrency group every search event shares
Outputs = tuple[object, ...]  # an event's values, one per output component
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
#gs-hint { font-size: .85rem; opacity: .8; margin-top: -6px; }
#gs-complete { display: none !important; }
#gs-title h1 { margin-bottom: 0; }
@media (max-width: 640px) {
  #gs-title h1 { font-size: 1.35rem; }
  #gs-title p { display: none; }
  #gs-hint { font-size: .78rem; }
  #gs-status { font-size: .78rem; }
  #gs-topics .gallery { flex-wrap: nowrap !important; overflow-x: auto; padding-bottom: 4px; }
  #gs-topics .gallery-item { flex: 0 0 auto; }
  #gs-query { padding: 4px !important; }
  #gs-search-row { flex-wrap: wrap !important; gap: 8px !important; }
  #gs-search-row > * { min-width: 0 !important; }
  #gs-query { flex: 1 1 100% !important; width: 100% !important; }
  #gs-search { flex: 1 1 100% !important; }
}
"""

# Outside the app's own (scoped) CSS: the page's side padding, narrower on a phone.
PAGE_HEAD = """<style>
@media (max-width: 640px) {
  .gradio-container .app { padding-left: 8px !important; padding-right: 8px !important; }
}
</style>"""

# Runs once per page in the results component. Dead GIFs swap to their placeholder
# ('error' does not bubble, so it is caught in the capture phase). "More like this" and
# "Load more" fire the component's click event; so does the browser's back button, with
# the page URL to show. After each render the page URL follows the results (data-url):
# a new search is pushed onto the history, anything else replaces or keeps it. "Copy
# URL" uses the clipboard or selects the URL field so it can be copied by hand.
CARD_SCRIPT = """
const markDead = (img) => { const c = img.closest('.gs-card'); if (c) c.classList.add('gs-dead'); };
element.addEventListener('error', (e) => {
  if (e.target && e.target.tagName === 'IMG') markDead(e.target);
}, true);
const followUrl = () => {
  const marked = element.querySelector('[data-url]');
  if (!marked) return;
  const url = marked.dataset.url;
  if (!url || !url.startsWith('?') || url === location.search) return;
  const target = location.pathname + url;
  if (marked.dataset.push === '1') history.pushState({gifsearch: true}, '', target);
  else history.replaceState({gifsearch: true}, '', target);
};
const sweep = () => {
  element.querySelectorAll('.gs-card img').forEach((img) => {
    if (img.complete && img.naturalWidth === 0 && img.getAttribute('src')) markDead(img);
  });
  followUrl();
};
sweep();
if (typeof watch === 'function') watch('value', sweep);
window.addEventListener('popstate', () => trigger('click', {nav: location.search}));
element.addEventListener('click', (e) => {
  const more = e.target.closest('.gs-more');
  if (more) { trigger('click', {gif_id: more.dataset.gifId, title: more.dataset.title}); return; }
  if (e.target.closest('.gs-load-more')) { trigger('click', {more: 1}); return; }
  const copy = e.target.closest('.gs-copy');
  if (!copy) return;
  const card = copy.closest('.gs-card');
  const field = card.querySelector('.gs-url');
  trigger('click', {share: card.dataset.gifId});  // remembered on this machine only
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
# The query box's input names the datalist of completions (page.py) that the query's input
# event fills; the browser shows its options under the box as it is typed into.
COMPLETE_SCRIPT = (
    """
const name = (box) => {
  if (box && !box.getAttribute('list')) {
    box.setAttribute('list', '"""
    + COMPLETIONS_ID
    + """'); box.setAttribute('autocomplete', 'off');
  }
};
name(document.querySelector('#gs-query input, #gs-query textarea'));
document.addEventListener('focusin', (e) => {  // the box may be drawn after this runs
  if (e.target.closest && e.target.closest('#gs-query')) name(e.target);
});
"""
)
HINT = 'Leave things out with `-word` or `-"a phrase"`: *a dog plays outside -ball*.'
IMAGE_HINT = " An image in the image box joins your words."


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
    """Where and how the server listens. A non-loopback host needs a login (the page) and
    API keys (the API), or insecure=True; extra_hosts are the public names the server
    answers besides loopback and its own address (a Host allow-list)."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    auth: tuple[str, str] | None = None
    insecure: bool = False
    blocked_paths: tuple[str, ...] = ()
    queue_max_size: int = QUEUE_MAX_SIZE
    uploads: bool = False  # only a collection that searches by image takes uploads
    api_keys: ApiKeys = field(default_factory=ApiKeys)
    extra_hosts: tuple[str, ...] = ()
    mcp: bool = False  # the assistants' tool at /mcp

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"port {self.port} is out of range: use 1 to 65535")
        if is_loopback(self.host) or self.insecure:
            return
        if self.auth is None:
            raise ConfigError(
                f"refusing to serve on {self.host} without a password: "
                "set GIFSEARCH_AUTH=user:password or --auth-file FILE, or add --insecure"
            )
        if not self.api_keys.required:
            raise ConfigError(
                f"refusing to serve the API on {self.host} without API keys: "
                "set GIFSEARCH_API_KEYS or --api-keys-file FILE, or add --insecure"
            )


def build_app(
    engine: SearchEngine,
    examples: Sequence[str] = DEFAULT_EXAMPLES,
    extra_tabs: Sequence[Tab] = (),
    fill_command: str = "gifsearch ingest",
) -> gr.Blocks:
    """Build the Blocks app: a search tab (query, options, examples, cards), then extra tabs."""
    handlers = SearchHandlers(engine, fill_command)
    private: dict[str, Any] = {"api_visibility": "private", "show_progress": "minimal"}
    searching = {**private, "concurrency_id": SEARCH_GROUP}
    app = gr.Blocks(
        title="gifsearch", analytics_enabled=False, delete_cache=(UPLOAD_WINDOW_S, UPLOAD_WINDOW_S)
    )
    with app:
        gr.Markdown(
            "# gifsearch\nDescribe what happens; see the GIFs that match.", elem_id="gs-title"
        )
        with gr.Tab("Search"):
            with gr.Row(equal_height=True, elem_id="gs-search-row"):
                query = gr.Textbox(
                    placeholder="What happens in the GIF? e.g. a dog catches a frisbee",
                    show_label=False,
                    max_lines=1,
                    autofocus=True,
                    max_length=MAX_QUERY_CHARS,
                    elem_id="gs-query",
                    scale=6,
                )
                button = gr.Button("Search", variant="primary", scale=1, elem_id="gs-search")
            gr.Markdown(HINT + (IMAGE_HINT if handlers.images_enabled else ""), elem_id="gs-hint")
            with gr.Accordion("Options", open=False, elem_id="gs-options"), gr.Row():
                count = gr.Slider(1, MAX_K, value=PAGE_DEFAULT_K, step=1, label="Results per page")
                floor = gr.Slider(
                    0.0, 1.0, value=0.0, step=0.05, label="Minimum score (0: off)",
                    elem_id="gs-min-score",
                )  # fmt: skip
                dead = gr.Checkbox(
                    False, label="Show GIFs whose link was found dead", elem_id="gs-show-dead"
                )
            clear_like = gr.Button(
                "✕ Stop “more like this”", visible=False, size="sm", elem_id="gs-clear-like"
            )
            completions = gr.HTML(
                handlers.completions(""), js_on_load=COMPLETE_SCRIPT, elem_id="gs-complete",
                padding=False,
            )  # fmt: skip
            samples = gr.Dataset(
                components=[query],
                samples=[[topic] for topic in handlers.topics() or examples],
                label="Topics",
                type="values",
                elem_id="gs-topics",
            )
            image_input, image_button = add_image_search(handlers.images_enabled)
            welcome, status_text = handlers.opening()
            status = gr.Markdown(status_text, elem_id="gs-status")
            results = gr.HTML(welcome, js_on_load=CARD_SCRIPT, elem_id="gs-results")
            hits = gr.State([])
            view = gr.State(PageView().to_state())
        for tab in extra_tabs:
            with gr.Tab(tab.title):
                add_tab(tab, private)

        outputs = [results, status, hits, view, query, count, clear_like]

        def render(
            page_view: PageView,
            image: Image.Image | None = None,
            loaded: list[dict[str, object]] | None = None,
            push: bool = True,
        ) -> Outputs:
            html, line, shown, state = handlers.show(page_view, image, loaded, push)
            final = PageView.from_state(state)
            liked = gr.Button(visible=bool(final.like))
            return html, line, shown, state, final.q, final.k, liked

        picture_input = image_input if image_input is not None else gr.State(None)

        def submit(
            q: str,
            k: float,
            minimum: float,
            show_dead: bool,
            state: dict[str, object],
            picture: Image.Image | None,
        ) -> Outputs:
            current = PageView.from_state(state)
            page_view = apply_form(current, q, k, minimum, show_dead, picture is not None)
            if picture is not None:
                page_view = replace(page_view, like="", title="")
            return render(page_view, picture)

        form = [query, count, floor, dead, view, picture_input]
        for event in (query.submit, button.click):
            event(submit, form, outputs, **searching)
        for option in (floor.release, dead.change):
            option(submit, form, outputs, **searching)

        def run_example(
            sample: list[str], k: float, minimum: float, show_dead: bool, state: dict[str, object]
        ) -> Outputs:
            return submit(sample[0], k, minimum, show_dead, state, None)

        samples.click(run_example, [samples, count, floor, dead, view], outputs, **searching)
        if image_input is not None and image_button is not None:
            for event in (image_input.upload, image_button.click):
                event(submit, form, outputs, **searching)

        def on_results(
            state: dict[str, object],
            loaded: list[dict[str, object]],
            picture: Image.Image | None,
            evt: gr.EventData,
        ) -> Outputs:
            current = PageView.from_state(state)
            event = getattr(evt, "_data", None)
            shared = shared_gif(event)
            if shared is not None:  # "Copy URL": remember it, change nothing on the page
                handlers.share(shared, current)
                return tuple(gr.skip() for _ in outputs)
            found = view_after(event, current)
            if found is None:
                return render(current, picture, push=False)
            page_view, more, push = found
            return render(page_view, picture, loaded if more else None, push)

        results.click(
            on_results,
            [view, hits, picture_input],
            outputs,
            scroll_to_output=False,
            **searching,
        )

        def stop_liking(state: dict[str, object]) -> Outputs:
            page_view = replace(PageView.from_state(state), like="", title="", shown=0)
            if page_view.empty:
                hidden = gr.Button(visible=False)
                return (*handlers.opening(), [], page_view.to_state(), "", page_view.k, hidden)
            return render(page_view)

        clear_like.click(stop_liking, [view], outputs, **searching)

        def open_page(request: gr.Request) -> Outputs:
            query_string = str(getattr(request, "query_params", "") or "")
            page_view = view_from_url(query_string)
            if page_view.empty:  # a plain visit: what was shared lately (fresh each visit),
                # and the status line read again (the GIFs are counted in the background)
                return (*handlers.opening(), *(gr.skip() for _ in outputs[2:]))
            return render(page_view, push=False)

        app.load(open_page, None, outputs, **searching)

        def load_topics() -> gr.Dataset:
            # The collection's categories, read at each visit (built after the server
            # started, or changed by an ingest); the fixed examples until there are some.
            return gr.Dataset(samples=[[topic] for topic in handlers.topics() or examples])

        app.load(load_topics, None, [samples], **private)
        query.input(
            handlers.completions,
            [query],
            [completions],
            trigger_mode="always_last",
            concurrency_id="complete",  # typing never waits behind a search
            **{**private, "show_progress": "hidden"},
        )

        def api_search(
            query: str,
            k: int = API_DEFAULT_K,
            offset: int = 0,
            min_score: float | None = None,
            include_dead: bool = False,
        ) -> list[dict[str, Any]]:
            """Return up to k GIFs for query (-word leaves out), after the first offset."""
            return api_call(lambda: handlers.api_search(query, k, offset, min_score, include_dead))

        def api_similar(
            gif_id: str, k: int = API_DEFAULT_K, offset: int = 0
        ) -> list[dict[str, Any]]:
            """Return up to k GIFs most like the stored GIF gif_id, after the first offset."""
            return api_call(lambda: handlers.api_similar(gif_id, k, offset))

        register_api(api_search, api_name="search", concurrency_id=SEARCH_GROUP)
        register_api(api_similar, api_name="similar", concurrency_id=SEARCH_GROUP)
    return app


def api_call(find: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Run an API handler; an expected failure reaches the client as one line."""
    try:
        return find()
    except GifSearchError as exc:
        raise gr.Error(str(exc), print_exception=False) from None


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
    """Render a described tab (search_app.web.tabs) inside the current gr.Tab."""
    for panel in tab.panels:
        gr.Markdown(f"### {panel.heading}")
        inputs: list[gr.Component] = []
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
        outputs: list[gr.Component] = []
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
    return GuardLimits(uploads=options.uploads)


def launch_app(
    app: gr.Blocks,
    options: LaunchOptions,
    engine: SearchEngine,
    on_error: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> RunningServer:
    """Serve the page and the API (web/api) on one port, with safe defaults (local, no
    share link, a bounded queue, no tracebacks to clients); return the running server.
    on_error gets the server-side detail of an API failure the client sees as one line."""
    app.queue(default_concurrency_limit=CONCURRENCY_LIMIT, max_size=options.queue_max_size)
    settings = engine.store.settings
    context = ApiContext(
        engine, MediaLibrary(settings.cache_dir), options.api_keys, on_error=on_error
    )
    hosts = allowed_hosts(options.host, options.extra_hosts)
    gate = build_gate(context, guard_limits(options), hosts, mcp=options.mcp)
    gr.mount_gradio_app(
        gate,
        app,
        path="/",
        server_name=options.host,
        server_port=options.port,
        auth=options.auth,
        show_error=False,
        enable_monitoring=False,
        allowed_paths=[],
        blocked_paths=list(options.blocked_paths),
        max_file_size=MAX_UPLOAD_BYTES,
        footer_links=["api"],
        mcp_server=False,
        pwa=False,
        ssr_mode=False,
        css=CARD_CSS + PAGE_CSS,
        head=PAGE_HEAD,
        theme=gr.themes.Default(primary_hue="blue"),
    )
    server = start_server(gate, options.host, options.port)
    server.closers.append(app.close)
    keeper_for(engine).current()  # categories and completions: read or built meanwhile
    return server
