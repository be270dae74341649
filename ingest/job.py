"""The ingest job: source -> clean sample -> embed only new rows -> add them -> optional prune.

With frames (or a folder of GIFs as the source) it also embeds a few frames of each GIF
that has none yet (ingest/frame_job.py), under the same model binding. With rebuild it
first drops the collection (and its frames) and ingests into a new one. Each stage's
seconds are in the report (`gifsearch bench` prints them as a per-stage profile).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from ingest.frame_job import (
    FrameOptions,
    FrameTally,
    GifTarget,
    SkipHandler,
    embed_frames,
    split_done,
)
from ingest.http_download import DownloadLimits
from ingest.reader import DEFAULT_LIMIT_ROWS, DEFAULT_SEED, BadLineHandler
from ingest.source_spec import FieldMapping, SourceFormat
from ingest.sources import Source, SourceRows, open_source
from search_app.embedders.frames import DEFAULT_FRAME_STRATEGY, DEFAULT_FRAMES_PER_GIF
from search_app.embedders.query_embedder import load_for_settings
from search_app.embedders.sbert import Embedder, resolve_model_spec
from search_app.errors import (
    INGEST_FRAMES_HINT,
    ConfigError,
    ImagesUnsupportedError,
    SourceError,
    StoreDamagedError,
    images_unsupported,
)
from search_app.records import GifRecord, RowKind
from search_app.settings import Settings
from search_app.store.binding import ModelBinding, check_binding
from search_app.store.client import GifStore, forget_cached_system
from search_app.store.health import set_aside
from search_app.store.lock import hold_writer_lock

EMBED_CHUNK_ROWS = 512  # rows per embed + write step: each step's rows land together
CHUNK_ORDER_SEED = 0  # the chunks' shuffled order is the same on every run

ProgressFactory = Callable[[int, str], Callable[[int], None]]
# What loads the bulk embedder an ingest writes with: load_for_settings, or a test's own.
BulkLoader = Callable[[str, Settings], Embedder]


class Stage(StrEnum):
    """The stages of an ingest whose seconds the report gives."""

    OPEN = "open"  # opening the source and the store
    READ = "read"  # reading, cleaning and sampling the source (hashing ids included)
    EXISTING = "existing"  # asking the store which row ids it already holds
    LOAD = "load"  # loading the model
    ENCODE = "encode"  # embedding the new rows
    WRITE = "write"  # adding them to the store
    PRUNE = "prune"
    FRAMES = "frames"


class StageClock:
    """Seconds spent in each stage of a run, summed over every time it is entered."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def timing(self, stage: Stage) -> Iterator[None]:
        """Add the time the block takes to the stage."""
        started = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - started
            self.seconds[stage.value] = self.seconds.get(stage.value, 0.0) + spent


@dataclass(frozen=True)
class IngestOptions:
    """What to ingest: the source, how many rows, the sample seed, whether to prune, and
    whether (and how) to embed frames of each GIF. A folder of GIFs always gets frames.

    gif_timeout_s bounds a download's connect and each read (None: the settings' network
    timeout); gif_deadline_s the whole download; max_gif_bytes its size.
    """

    source: str = "tgif"
    fields: FieldMapping = field(default_factory=FieldMapping)
    source_format: SourceFormat | None = None  # None: by the file name's suffix
    limit: int | None = DEFAULT_LIMIT_ROWS
    seed: int = DEFAULT_SEED
    prune: bool = False
    frames: bool = False
    rebuild: bool = False  # drop the collection and its frames, ingest into a new one
    frame_strategy: str = DEFAULT_FRAME_STRATEGY
    frames_per_gif: int = DEFAULT_FRAMES_PER_GIF
    gif_timeout_s: float | None = None
    gif_deadline_s: float = DownloadLimits.deadline_s
    max_gif_bytes: int = DownloadLimits.max_bytes

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"--limit {self.limit} must be 1 or more (or use --all)")
        FrameOptions(self.frame_strategy, self.frames_per_gif)  # raises on bad values

    @property
    def frame_options(self) -> FrameOptions:
        """How frames are picked."""
        return FrameOptions(self.frame_strategy, self.frames_per_gif)

    def fetch_limits(self, network_timeout_s: float, allow_private: bool = False) -> DownloadLimits:
        """Return the download limits, the timeout defaulting to network_timeout_s;
        allow_private: loopback and private addresses may be reached."""
        timeout = self.gif_timeout_s if self.gif_timeout_s is not None else network_timeout_s
        return DownloadLimits(
            timeout, self.gif_deadline_s, self.max_gif_bytes, allow_private=allow_private
        )


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
    frame_set: str = ""  # e.g. "diverse-3"; "" when no frames were asked for
    gifs_framed: int = 0  # GIFs whose frames were embedded by this run
    frames_embedded: int = 0
    gifs_framed_before: int = 0  # GIFs that already had frames of this frame set
    gifs_failed: dict[str, int] = field(default_factory=dict)  # by reason, never fatal
    frame_seconds: float = 0.0  # fetching, decoding, picking, embedding and upserting frames
    stages: dict[str, float] = field(default_factory=dict)  # seconds per Stage
    rebuilt: bool = False  # the collection was dropped and made anew (--rebuild)

    @property
    def rows_per_s(self) -> float:
        """Sampled rows processed per second of the job, model loading excluded."""
        busy = self.seconds - self.load_seconds
        return (self.kept - self.sampled_out) / busy if busy > 0 else 0.0


@dataclass(frozen=True)
class EmbedWork:
    """What the embedding part of a run did: the model, device, load time and frames."""

    model_name: str
    device: str = "none (nothing to embed)"
    load_seconds: float = 0.0
    frames: FrameTally = field(default_factory=FrameTally)


def format_drops(dropped: Counter[str]) -> str:
    """Return ': reason n, reason n' for the non-zero drop counts, or ''."""
    parts = [f"{reason} {n}" for reason, n in sorted(dropped.items()) if n]
    return (": " + ", ".join(parts)) if parts else ""


def _no_progress(total: int, label: str) -> Callable[[int], None]:
    return lambda n: None


def run_ingest(
    options: IngestOptions,
    settings: Settings,
    loader: BulkLoader = load_for_settings,
    progress: ProgressFactory = _no_progress,
    on_bad_line: BadLineHandler | None = None,
    on_notice: Callable[[str], None] = lambda message: None,
    on_skipped_gif: SkipHandler | None = None,
) -> IngestReport:
    """Run one ingest of options.source into the collection the settings name."""
    job = IngestJob(options, settings, loader, progress, on_bad_line, on_notice, on_skipped_gif)
    return job.run()


class IngestJob:
    """One run of the ingest: holds its inputs, callbacks and the notices it gave."""

    def __init__(
        self,
        options: IngestOptions,
        settings: Settings,
        loader: BulkLoader,
        progress: ProgressFactory,
        on_bad_line: BadLineHandler | None,
        on_notice: Callable[[str], None],
        on_skipped_gif: SkipHandler | None = None,
    ) -> None:
        self.options = options
        self.settings = settings
        self.loader = loader
        self.progress = progress
        self.on_bad_line = on_bad_line
        self.on_notice = on_notice
        self.notices: list[str] = []
        self.on_skipped_gif = on_skipped_gif
        self.clock = StageClock()
        self.started = time.perf_counter()

    def notice(self, message: str) -> None:
        """Record a notice and pass it on (the CLI prints it to stderr)."""
        self.notices.append(message)
        self.on_notice(message)

    def run(self) -> IngestReport:
        """Open the source, then ingest it holding the store's writer lock."""
        settings, options = self.settings, self.options
        with self.clock.timing(Stage.OPEN):
            source = open_source(
                options.source,
                settings.cache_dir,
                settings.network_timeout_s,
                options.fields,
                options.source_format,
                settings.download_deadline_s,
                self.progress,
                settings.allow_private_urls,
            )
        if source.notice:
            self.notice(source.notice)
        # The embedded store admits one writer; a Chroma server serializes writers itself.
        lock = nullcontext() if settings.chroma_host else hold_writer_lock(settings.store_dir)
        with lock:
            return self.ingest(source)

    def ingest(self, source: Source) -> IngestReport:
        """Read and sample the rows, embed and add the new ones (and frames), prune."""
        options, settings, clock = self.options, self.settings, self.clock
        damage: StoreDamagedError | None = None
        opened: GifStore | None = None
        with clock.timing(Stage.OPEN):
            try:
                opened = GifStore(settings, create=True)
                binding = opened.binding()  # the collection's metadata only, never its rows
            except StoreDamagedError as exc:
                if not options.rebuild:
                    raise
                opened, binding, damage = None, None, exc  # set aside once the source reads
        model = binding.model if settings.model == "auto" and binding else settings.model
        if binding and model != "auto" and not options.rebuild:
            asked = resolve_model_spec(model).name
            check_binding(binding, asked, None, settings.collection)

        want_frames = options.frames or not source.has_descriptions
        if want_frames and binding and binding.images is False and not options.rebuild:
            # before reading the source
            raise images_unsupported(settings.collection, binding.model_name, INGEST_FRAMES_HINT)
        with clock.timing(Stage.READ):
            read = self.read_source(source)
        rows, summary = read.rows, read.summary
        targets = read.targets if want_frames or options.prune else []
        # Only once the source proved usable: a bad one changes nothing. (Nothing opened
        # means a damaged store under --rebuild.)
        if options.rebuild or opened is None:
            store = self.rebuild(opened, damage)
            binding = None
        else:
            store = opened
        existing: set[str] = set()
        if binding is not None:  # a collection made by this run holds no rows to look up
            with clock.timing(Stage.EXISTING):
                existing = store.existing_ids([r.row_id for r in rows])
        new_rows = [r for r in rows if r.row_id not in existing]
        frame_todo: list[GifTarget] = []
        framed_before = 0
        if want_frames:
            frame_todo, framed_before = split_done(targets, store, options.frame_options)

        work = EmbedWork(binding.model_name if binding else "")
        if new_rows or frame_todo or binding is None:
            work = self.embed(store, model, new_rows, frame_todo, want_frames)

        pruned = 0
        if options.prune:
            with clock.timing(Stage.PRUNE):
                stale = store.ids_for_source(source.label) - {r.row_id for r in rows}
                pruned = store.delete_ids(sorted(stale))
                pruned += prune_frames(store, source.label, {t.gif_id for t in targets})

        return IngestReport(
            source=source.label,
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
            load_seconds=work.load_seconds,
            model=work.model_name,
            device=work.device,
            notices=tuple(self.notices),
            frame_set=options.frame_options.frame_set if want_frames else "",
            gifs_framed=work.frames.gifs,
            frames_embedded=work.frames.frames,
            gifs_framed_before=framed_before,
            gifs_failed=dict(sorted(work.frames.failed.items())),
            frame_seconds=work.frames.seconds,
            stages=dict(clock.seconds),
            rebuilt=options.rebuild,
        )

    def rebuild(self, store: GifStore | None, damage: StoreDamagedError | None) -> GifStore:
        """Drop the collection and its frames without reading their rows, saying so; return
        the store to ingest into. A damaged embedded store (store None, or failing to drop)
        has its files moved aside into a folder inside it, and is made anew."""
        if store is not None:
            try:
                dropped = store.drop_collections()
            except StoreDamagedError as exc:
                damage = exc
            else:
                what = " and ".join(f'"{n}"' for n in dropped) or "nothing (no such collection)"
                self.notice(
                    f"--rebuild: dropped {what}; ingesting the source anew into "
                    f'"{store.collection_name}" with the current configuration'
                )
                return store
        settings = self.settings
        aside = set_aside(settings.store_dir)
        forget_cached_system(settings)
        problem = damage.problem if damage else "the store is damaged"
        self.notice(
            f"--rebuild: {problem}. Moved its files to {aside} (delete that folder when you no "
            "longer need it); ingesting the source anew into a new store. Other collections "
            "of this store were in those files: ingest their sources again too"
        )
        return GifStore(settings, create=True)

    def embed(
        self,
        store: GifStore,
        model: str,
        new_rows: list[GifRecord],
        frame_todo: list[GifTarget],
        want_frames: bool,
    ) -> EmbedWork:
        """Load the model, bind the collection to it, embed the new rows and frames."""
        settings = self.settings
        with self.clock.timing(Stage.LOAD):
            embedder = self.loader(model, settings)
        load_seconds = self.clock.seconds[Stage.LOAD]
        if embedder.notice:
            self.notice(embedder.notice)
        if want_frames and not embedder.supports_images:
            raise ImagesUnsupportedError(
                f"{embedder.name} can't embed images; ingest frames with --model clip "
                "(into a new --collection if this one holds another model)"
            )
        binding = ModelBinding(
            embedder.name, embedder.spec.ref, embedder.dimension, images=embedder.supports_images
        )
        with self.clock.timing(Stage.OPEN):
            store.ensure_collection(binding)
        embed_and_add(new_rows, embedder, store, settings.batch_size, self.progress, self.clock)
        tally = FrameTally()
        if frame_todo:
            store.ensure_frames_collection(binding)
            with self.clock.timing(Stage.FRAMES):
                tally = embed_frames(
                    frame_todo,
                    embedder,
                    store,
                    self.options.frame_options,
                    self.options.fetch_limits(
                        settings.network_timeout_s, settings.allow_private_urls
                    ),
                    self.progress(len(frame_todo), "frames"),
                    self.on_skipped_gif,
                )
        device = f"{embedder.device} ({embedder.precision})"
        return EmbedWork(embedder.name, device, load_seconds, tally)

    def read_source(self, source: Source) -> SourceRows:
        """Return the source's sampled rows, read summary and GIFs to frame; a source with
        descriptions but no usable row is refused, changing nothing."""
        options = self.options
        read = source.read(options.limit, options.seed, self.on_bad_line)
        if source.has_descriptions and not read.rows:
            summary = read.summary
            raise SourceError(
                f"no usable rows in {source.label} ({summary.rows_read} read, "
                f"{summary.dropped_total} dropped{format_drops(summary.dropped)}); "
                "nothing was changed"
            )
        return read


def prune_frames(store: GifStore, source: str, current_gifs: set[str]) -> int:
    """Delete the frames of source's GIFs that are no longer in it; return how many."""
    stale = [
        r.row_id
        for r in store.rows_for_source(source, RowKind.FRAME)
        if r.gif_id not in current_gifs
    ]
    return store.delete_ids(sorted(stale), RowKind.FRAME)


def overlaps_writes(device: str) -> bool:
    """Whether chunks are written on a second thread while the next one is embedded."""
    return device != "cpu"


def chunk_starts(rows: int) -> list[int]:
    """Return the first row of each EMBED_CHUNK_ROWS-row chunk of rows sorted by length, in
    a seeded random order. Shortest first made the rate fall by 2.5x over a run (a
    125,000-row ingest: 450 rows/s at the start, 170 at the end), so the ETA, which
    extrapolates the rate so far, promised half the time it took."""
    starts = list(range(0, rows, EMBED_CHUNK_ROWS))
    random.Random(CHUNK_ORDER_SEED).shuffle(starts)
    return starts


def embed_and_add(
    rows: list[GifRecord],
    embedder: Embedder,
    store: GifStore,
    batch_size: int,
    progress: ProgressFactory = _no_progress,
    clock: StageClock | None = None,
) -> None:
    """Embed new rows chunk by chunk and add each chunk to the store.

    Rows are sorted by length and cut into chunks, so each batch pads little, and the
    chunks are taken in a seeded random order (chunk_starts), so the rate holds from start
    to end and the progress bar's ETA with it. On an accelerator the
    previous chunk is written on a second thread while the next one is embedded; on the
    CPU that overlap measured slower (torch and Chroma's index build compete for the same
    cores; docs/results.md, "Design measurements"), so chunks are written in turn there.
    """
    clock = clock or StageClock()
    ordered = sorted(rows, key=lambda r: len(r.description))
    tick = progress(len(ordered), "embed")
    pending: Future[None] | None = None
    overlap = overlaps_writes(embedder.device)

    def write(chunk: list[GifRecord], vectors: np.ndarray) -> None:
        with clock.timing(Stage.WRITE):
            store.add_records(chunk, vectors)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="write") as pool:
        for start in chunk_starts(len(ordered)):
            chunk = ordered[start : start + EMBED_CHUNK_ROWS]
            with clock.timing(Stage.ENCODE):
                vectors = embedder.embed_texts([r.description for r in chunk], batch_size)
            if pending is not None:
                pending.result()
            if overlap:
                pending = pool.submit(write, chunk, vectors)
            else:
                write(chunk, vectors)
            tick(len(chunk))
        if pending is not None:
            pending.result()
