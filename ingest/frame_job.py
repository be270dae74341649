"""The frames step of an ingest: fetch each GIF, pick frames, embed them, upsert them.

GIFs are fetched and their frames picked on a small thread pool (the work is mostly
waiting on the network) one chunk ahead of the embedding, which runs on the calling
thread. A GIF that fails to download or decode is counted by reason and skipped. Each
frame row records its GIF's width and height, read from the GIF's first bytes. Ctrl+C
cuts the downloads in flight, so an interrupted ingest stops at once.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ingest.gif_fetch import GIF_HEADER_BYTES, fetch_gif, gif_size, read_gif_file
from ingest.gif_folder import file_url
from ingest.http_download import Cancel, DownloadError, DownloadLimits
from search_app.embedders.frames import (
    DEFAULT_FRAME_STRATEGY,
    DEFAULT_FRAMES_PER_GIF,
    SelectedFrames,
    check_frame_options,
    open_image,
    select_frames,
)
from search_app.embedders.sbert import Embedder
from search_app.errors import ImageReadError
from search_app.records import FrameRecord, GifRecord, RowKind, make_frame_id, make_gif_id
from search_app.store.client import GifStore

FETCH_WORKERS = 8  # concurrent downloads: enough to hide latency, polite to one host
FRAME_CHUNK_GIFS = 32  # GIFs per embed + upsert step; one more chunk is fetched meanwhile
DECODE_ERROR = "decode_error"

Tick = Callable[[int], None]
SkipHandler = Callable[[str, str], None]  # (GIF URL, reason)


@dataclass(frozen=True)
class FrameOptions:
    """How a GIF's frames are picked: strategy ('diverse' or 'even') and how many."""

    strategy: str = DEFAULT_FRAME_STRATEGY
    per_gif: int = DEFAULT_FRAMES_PER_GIF

    def __post_init__(self) -> None:
        check_frame_options(self.strategy, self.per_gif)

    @property
    def frame_set(self) -> str:
        """The name frames picked this way are stored under, e.g. 'diverse-3'."""
        return f"{self.strategy}-{self.per_gif}"


@dataclass(frozen=True)
class GifTarget:
    """A GIF whose frames to embed: a web URL, or a local file (path) with a file:// URL."""

    url: str
    gif_id: str
    source: str
    path: Path | None = None


@dataclass(frozen=True)
class LoadedGif:
    """A GIF's picked frames and its logical screen size (0 x 0: not a GIF header)."""

    frames: SelectedFrames
    width: int = 0
    height: int = 0


@dataclass
class FrameTally:
    """What the frames step did: GIFs embedded, frames embedded, failures by reason."""

    gifs: int = 0
    frames: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


def targets_from_records(records: Sequence[GifRecord]) -> list[GifTarget]:
    """Return one target per distinct GIF URL among description rows, in order."""
    seen: dict[str, GifTarget] = {}
    for record in records:
        seen.setdefault(record.gif_id, GifTarget(record.url, record.gif_id, record.source))
    return list(seen.values())


def targets_from_files(paths: Sequence[Path], source: str) -> list[GifTarget]:
    """Return one target per local GIF file."""
    targets = []
    for path in paths:
        resolved = path.resolve()
        url = file_url(resolved)
        targets.append(GifTarget(url, make_gif_id(url), source, resolved))
    return targets


def split_done(
    targets: Sequence[GifTarget], store: GifStore, options: FrameOptions
) -> tuple[list[GifTarget], int]:
    """Return the targets without frames of options.frame_set yet, and how many have them.

    A GIF's frames are upserted together, so its first frame's id stands for all of them.
    """
    first_ids = [make_frame_id(t.gif_id, options.frame_set, 0) for t in targets]
    done = store.existing_ids(first_ids, RowKind.FRAME)
    todo = [t for t, row_id in zip(targets, first_ids, strict=True) if row_id not in done]
    return todo, len(targets) - len(todo)


def load_frames(
    target: GifTarget, options: FrameOptions, limits: DownloadLimits, cancel: Cancel | None = None
) -> LoadedGif:
    """Fetch (or read) one GIF and pick its frames; raise DownloadError or ImageReadError."""
    if target.path is not None:
        data = read_gif_file(target.path, limits.max_bytes)
    else:
        data = fetch_gif(target.url, limits, cancel)
    frames = select_frames(open_image(data), options.strategy, options.per_gif)
    return LoadedGif(frames, *gif_size(data[:GIF_HEADER_BYTES]))


def try_load_frames(
    target: GifTarget, options: FrameOptions, limits: DownloadLimits, cancel: Cancel | None = None
) -> LoadedGif | str:
    """Return a GIF's picked frames and size, or the reason it failed (never raises)."""
    try:
        return load_frames(target, options, limits, cancel)
    except (DownloadError, ImageReadError) as exc:
        return exc.reason
    except Exception:  # anything else a hostile file makes Pillow raise: skip that GIF
        return DECODE_ERROR


def embed_frames(
    targets: Sequence[GifTarget],
    embedder: Embedder,
    store: GifStore,
    options: FrameOptions,
    limits: DownloadLimits,
    tick: Tick = lambda n: None,
    on_skip: SkipHandler | None = None,
) -> FrameTally:
    """Fetch, pick, embed and upsert the frames of targets; count what failed."""
    tally = FrameTally()
    started = time.perf_counter()
    chunks = [targets[i : i + FRAME_CHUNK_GIFS] for i in range(0, len(targets), FRAME_CHUNK_GIFS)]
    cancel = Cancel()
    pool = ThreadPoolExecutor(max_workers=FETCH_WORKERS, thread_name_prefix="gif-fetch")

    def submit(chunk: Sequence[GifTarget]) -> list[Future[LoadedGif | str]]:
        return [pool.submit(try_load_frames, t, options, limits, cancel) for t in chunk]

    try:
        pending = submit(chunks[0]) if chunks else []
        for number, chunk in enumerate(chunks):
            outcomes = [future.result() for future in pending]
            pending = submit(chunks[number + 1]) if number + 1 < len(chunks) else []
            store_chunk(chunk, outcomes, embedder, store, options, tally, on_skip)
            tick(len(chunk))
    except BaseException:  # Ctrl+C, or a failed write: cut the downloads in flight
        cancel.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    tally.seconds = time.perf_counter() - started
    return tally


def store_chunk(
    chunk: Sequence[GifTarget],
    outcomes: Sequence[LoadedGif | str],
    embedder: Embedder,
    store: GifStore,
    options: FrameOptions,
    tally: FrameTally,
    on_skip: SkipHandler | None,
) -> None:
    """Embed the frames of one chunk's good GIFs, upsert them, drop their older frame sets."""
    records: list[FrameRecord] = []
    images = []
    framed: list[str] = []
    for target, outcome in zip(chunk, outcomes, strict=True):
        if isinstance(outcome, str):
            tally.failed[outcome] += 1
            if on_skip:
                on_skip(target.url, outcome)
            continue
        framed.append(target.gif_id)
        picked = outcome.frames
        for slot, (index, image) in enumerate(zip(picked.indices, picked.images, strict=True)):
            records.append(frame_record(target, options, outcome, index, slot))
            images.append(image)
    if not records:
        return
    vectors = embedder.embed_images(images)
    store.upsert_frames(records, vectors)
    store.delete_other_frame_sets(framed, options.frame_set)
    tally.gifs += len(framed)
    tally.frames += len(records)


def frame_record(
    target: GifTarget, options: FrameOptions, loaded: LoadedGif, index: int, slot: int
) -> FrameRecord:
    """Return the stored record of one picked frame (with its GIF's size)."""
    return FrameRecord(
        url=target.url,
        gif_id=target.gif_id,
        source=target.source,
        frame_index=index,
        frame_count=loaded.frames.frame_count,
        frame_set=options.frame_set,
        slot=slot,
        path=str(target.path) if target.path else "",
        width=loaded.width,
        height=loaded.height,
    )
