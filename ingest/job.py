"""The ingest job: source -> clean sample -> embed only new rows -> upsert -> optional prune."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field

from ingest.reader import DEFAULT_LIMIT_ROWS, DEFAULT_SEED, BadLineHandler, read_rows
from ingest.sources import ResolvedSource, resolve_source
from search_app.embedder import Embedder, resolve_model_spec
from search_app.errors import ConfigError, SourceError
from search_app.records import GifRecord
from search_app.search import EmbedderLoader, load_for_settings
from search_app.settings import Settings
from search_app.store import GifStore, ModelBinding, check_binding
from search_app.writer_lock import hold_writer_lock

EMBED_CHUNK_ROWS = 512  # rows per embed + upsert step: each step's rows land together

ProgressFactory = Callable[[int, str], Callable[[int], None]]


@dataclass(frozen=True)
class IngestOptions:
    """What to ingest: the source, how many rows, the sample seed, and whether to prune."""

    source: str = "tgif"
    limit: int | None = DEFAULT_LIMIT_ROWS
    seed: int = DEFAULT_SEED
    prune: bool = False

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"--limit {self.limit} must be 1 or more (or use --all)")


@dataclass(frozen=True)
class IngestReport:
    """The summary an ingest prints: counts, time, throughput, model and device."""

    source: str
    collection: str
    rows_read: int
    kept: int
    sampled_out: int
    dropped: dict[str, int]
    embedded: int
    unchanged: int
    upserted: int
    pruned: int
    seconds: float
    load_seconds: float
    model: str
    device: str
    notices: tuple[str, ...] = field(default=())

    @property
    def rows_per_s(self) -> float:
        """Sampled rows processed per second of the job, model loading excluded."""
        busy = self.seconds - self.load_seconds
        return (self.kept - self.sampled_out) / busy if busy > 0 else 0.0


def format_drops(dropped: Counter[str]) -> str:
    """Return ': reason n, reason n' for the non-zero drop counts, or ''."""
    parts = [f"{reason} {n}" for reason, n in sorted(dropped.items()) if n]
    return (": " + ", ".join(parts)) if parts else ""


def _no_progress(total: int, label: str) -> Callable[[int], None]:
    return lambda n: None


def run_ingest(
    options: IngestOptions,
    settings: Settings,
    loader: EmbedderLoader = load_for_settings,
    progress: ProgressFactory = _no_progress,
    on_bad_line: BadLineHandler | None = None,
    on_notice: Callable[[str], None] = lambda message: None,
) -> IngestReport:
    """Run one ingest of options.source into the collection the settings name."""
    job = IngestJob(options, settings, loader, progress, on_bad_line, on_notice)
    return job.run()


class IngestJob:
    """One run of the ingest: holds its inputs, callbacks and the notices it gave."""

    def __init__(
        self,
        options: IngestOptions,
        settings: Settings,
        loader: EmbedderLoader,
        progress: ProgressFactory,
        on_bad_line: BadLineHandler | None,
        on_notice: Callable[[str], None],
    ) -> None:
        self.options = options
        self.settings = settings
        self.loader = loader
        self.progress = progress
        self.on_bad_line = on_bad_line
        self.on_notice = on_notice
        self.notices: list[str] = []
        self.started = time.perf_counter()

    def notice(self, message: str) -> None:
        """Record a notice and pass it on (the CLI prints it to stderr)."""
        self.notices.append(message)
        self.on_notice(message)

    def run(self) -> IngestReport:
        """Resolve the source, then ingest it holding the store's writer lock."""
        settings = self.settings
        resolved = resolve_source(
            self.options.source, settings.cache_dir, settings.network_timeout_s
        )
        if resolved.notice:
            self.notice(resolved.notice)
        # The embedded store admits one writer; a Chroma server serializes writers itself.
        lock = nullcontext() if settings.chroma_host else hold_writer_lock(settings.store_dir)
        with lock:
            return self.ingest(resolved)

    def ingest(self, resolved: ResolvedSource) -> IngestReport:
        """Read and sample the rows, embed and upsert the new ones, prune if asked."""
        options, settings = self.options, self.settings
        store = GifStore.open(settings)
        binding = store.binding()
        model = binding.model if settings.model == "auto" and binding else settings.model
        if binding and model != "auto":
            asked = resolve_model_spec(model).name
            check_binding(binding, asked, binding.dimension, store.collection_name)

        rows, summary = read_rows(
            resolved.path, resolved.label, options.limit, options.seed, self.on_bad_line
        )
        if not rows:
            raise SourceError(
                f"no usable rows in {resolved.label} ({summary.rows_read} read, "
                f"{summary.dropped_total} dropped{format_drops(summary.dropped)}); "
                "nothing was changed"
            )
        existing = store.existing_ids([r.row_id for r in rows])
        new_rows = [r for r in rows if r.row_id not in existing]

        load_seconds = 0.0
        model_name = binding.model_name if binding else ""
        device = "none (nothing to embed)"
        if new_rows or binding is None:
            load_started = time.perf_counter()
            embedder = self.loader(model, settings)
            load_seconds = time.perf_counter() - load_started
            if embedder.notice:
                self.notice(embedder.notice)
            store.ensure_collection(
                ModelBinding(embedder.name, embedder.spec.ref, embedder.dimension)
            )
            model_name, device = embedder.name, f"{embedder.device} ({embedder.precision})"
            embed_and_upsert(new_rows, embedder, store, settings.batch_size, self.progress)

        pruned = 0
        if options.prune:
            stale = store.ids_for_source(resolved.label) - {r.row_id for r in rows}
            pruned = store.delete_ids(sorted(stale))

        return IngestReport(
            source=resolved.label,
            collection=store.collection_name,
            rows_read=summary.rows_read,
            kept=summary.kept,
            sampled_out=summary.sampled_out,
            dropped=dict(summary.dropped),
            embedded=len(new_rows),
            unchanged=len(rows) - len(new_rows),
            upserted=len(new_rows),
            pruned=pruned,
            seconds=time.perf_counter() - self.started,
            load_seconds=load_seconds,
            model=model_name,
            device=device,
            notices=tuple(self.notices),
        )


def embed_and_upsert(
    rows: list[GifRecord],
    embedder: Embedder,
    store: GifStore,
    batch_size: int,
    progress: ProgressFactory = _no_progress,
) -> None:
    """Embed rows chunk by chunk and upsert each chunk.

    Rows are embedded shortest first so each batch pads little. On an accelerator the
    previous chunk is upserted on a second thread while the next one is embedded; on the
    CPU that overlap was measured slower (torch and Chroma's index build compete for the
    same cores: 18.5 s overlapped vs 15.8 s in turn for 11k rows on 2 cores), so chunks are
    upserted in turn there.
    """
    ordered = sorted(rows, key=lambda r: len(r.description))
    tick = progress(len(ordered), "embed")
    pending: Future[int] | None = None
    workers = 1 if embedder.device != "cpu" else 0
    with ThreadPoolExecutor(max_workers=max(workers, 1), thread_name_prefix="upsert") as pool:
        for start in range(0, len(ordered), EMBED_CHUNK_ROWS):
            chunk = ordered[start : start + EMBED_CHUNK_ROWS]
            vectors = embedder.embed_texts([r.description for r in chunk], batch_size)
            if pending is not None:
                pending.result()
            if workers:
                pending = pool.submit(store.upsert_records, chunk, vectors)
            else:
                store.upsert_records(chunk, vectors)
            tick(len(chunk))
        if pending is not None:
            pending.result()
