"""The link checker: whether each GIF's URL still loads as a GIF, recorded on its rows.

A web GIF is fetched under the frames download's rules (ingest/http_download.py, with
ingest/gif_fetch.py's checks: http(s) only, checked redirects, timeouts, a deadline, a
size cap, an accepted Content-Type and a GIF signature), but only its first bytes are
read: the download stops as soon as the signature is in. Checks run on a small thread
pool; the statuses are written from the calling thread, a batch at a time.

A GIF is dead when the server's answer says so (http_error, not_gif, bad_redirect,
too_large, bad_url). A timeout or a network error says as much about our own network as
about the GIF (a machine offline would otherwise mark every GIF dead and empty the
search), so it changes nothing: the GIF keeps the status it had, a GIF never checked
stays shown, and both are tried again on the next run. Local (file://) GIFs of a folder
source are not checked.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import nullcontext
from dataclasses import dataclass, field

from ingest.gif_fetch import GIF_SIGNATURES, check_gif_type, check_signature
from ingest.http_download import (
    UNREACHED_FAILURES,
    DownloadError,
    DownloadLimits,
    stream_download,
)
from search_app.errors import ConfigError
from search_app.records import GifLinks, LinkState, LinkStatus, RowKind
from search_app.settings import Settings
from search_app.store.client import GifStore
from search_app.store.lock import hold_writer_lock

LINK_WORKERS = 8  # concurrent checks: enough to hide latency, polite to one host
IN_FLIGHT_PER_WORKER = 4  # checks queued ahead per worker (Ctrl+C waits for no more)
WRITE_BATCH_GIFS = 256  # GIFs whose statuses are written together
HOUR_S = 3_600
DAY_S = 24 * HOUR_S
# A week: TGIF's links die over months, not days, and a collection of 20,000 GIFs takes
# minutes to check; a GIF that dies in between still shows as a placeholder tile.
DEFAULT_RECHECK_AFTER_S = 7 * DAY_S
UNREACHED_REASONS = UNREACHED_FAILURES  # not the GIF's fault: status kept
DEAD_REASONS = ("http_error", "not_gif", "bad_redirect", "too_large", "bad_url")
SIGNATURE_BYTES = max(len(signature) for signature in GIF_SIGNATURES)
REQUEST_HEADERS = {"User-Agent": "gifsearch (link check)", "Accept": "image/gif"}
LOCAL_SCHEME = "file:"
AGE = re.compile(r"(\d+(?:\.\d*)?)\s*([dh]?)", re.IGNORECASE)

Tick = Callable[[int], None]
ProgressFactory = Callable[[int, str], Tick]
FailureHandler = Callable[[str, str], None]  # (GIF URL, reason)


@dataclass(frozen=True)
class LinkCheckOptions:
    """Which GIFs to check: those never checked or checked over recheck_after_s ago (all
    of them with check_all). limits bound each check (None: the frames download's limits
    with the settings' network timeout)."""

    recheck_after_s: float = DEFAULT_RECHECK_AFTER_S
    check_all: bool = False
    limits: DownloadLimits | None = None

    def __post_init__(self) -> None:
        if self.recheck_after_s < 0:
            raise ConfigError(f"re-check age {self.recheck_after_s!r} s must be 0 or more")

    def limits_for(self, settings: Settings) -> DownloadLimits:
        """Return the limits of one check."""
        return self.limits or DownloadLimits(timeout_s=settings.network_timeout_s)


@dataclass(frozen=True)
class LinkReport:
    """What a link check did: GIFs checked, found alive, dead and unreached (by reason),
    skipped (checked recently, or local files), rows written and seconds taken."""

    collection: str
    gifs: int
    checked: int
    alive: int
    dead: dict[str, int]
    unreached: dict[str, int]
    skipped_recent: int
    skipped_local: int
    rows_updated: int
    recheck_after_s: float | None  # None: every GIF was due (check_all)
    seconds: float

    @property
    def dead_total(self) -> int:
        """GIFs found dead."""
        return sum(self.dead.values())

    @property
    def unreached_total(self) -> int:
        """GIFs that timed out or hit a network error (their status kept)."""
        return sum(self.unreached.values())


@dataclass
class _Tally:
    alive: int = 0
    dead: Counter[str] = field(default_factory=Counter)
    unreached: Counter[str] = field(default_factory=Counter)
    rows: int = 0


def parse_age(text: str) -> float:
    """Return the seconds in an age written as days or hours: '7d', '12h', '1.5' (days)."""
    match = AGE.fullmatch(text.strip())
    if not match:
        raise ConfigError(f"{text[:40]!r} is not an age: use days or hours, e.g. 7d or 12h")
    number, unit = float(match.group(1)), match.group(2).lower()
    return number * (HOUR_S if unit == "h" else DAY_S)


def format_age(seconds: float) -> str:
    """Return an age as a person reads it: '7 days', '12 hours', '1 day'."""
    days, hours = seconds / DAY_S, seconds / HOUR_S
    if days >= 1 and days == int(days):
        return f"{days:g} day" + ("s" if days != 1 else "")
    return f"{hours:g} hour" + ("s" if hours != 1 else "")


def check_link(url: str, limits: DownloadLimits) -> str:
    """Return "" when url loads as a GIF, else why not (a download failure reason).

    Only the first bytes are read: the download stops once the GIF signature is in.
    """
    head = bytearray()

    def take(chunk: bytes) -> bool:
        head.extend(chunk[: SIGNATURE_BYTES - len(head)])
        return len(head) >= SIGNATURE_BYTES

    try:
        stream_download(
            url, limits, take, check_gif_type, REQUEST_HEADERS, chunk_bytes=SIGNATURE_BYTES
        )
        check_signature(bytes(head), url)
    except DownloadError as exc:
        return exc.reason
    return ""


def is_due(gif: GifLinks, now: float, options: LinkCheckOptions) -> bool:
    """Return whether a GIF is to be checked now (never checked, or checked too long ago)."""
    if options.check_all or not gif.checked_at or not gif.link:
        return True
    return now - gif.checked_at >= options.recheck_after_s


def check_links(
    settings: Settings,
    options: LinkCheckOptions | None = None,
    progress: ProgressFactory = lambda total, label: lambda n: None,
    on_failure: FailureHandler | None = None,
    clock: Callable[[], float] = time.time,
) -> LinkReport:
    """Check the links of the settings' collection that are due and record what was found.

    on_failure hears of each GIF found dead or not reached (reason in UNREACHED_REASONS).
    The embedded store's writer lock is held throughout; a Chroma server needs none.
    Raises CollectionNotFoundError when there is no such collection, StoreLockedError
    when another process writes to the embedded store.
    """
    options = options or LinkCheckOptions()
    if not settings.chroma_host and not settings.store_dir.exists():
        GifStore.raise_missing(settings)  # before the lock, which would make the folder
    started = time.perf_counter()
    lock = nullcontext() if settings.chroma_host else hold_writer_lock(settings.store_dir)
    with lock:
        store = GifStore(settings)
        store.require_binding()
        gifs = store.read_gif_links()
        web = [gif for gif in gifs if not gif.url.lower().startswith(LOCAL_SCHEME)]
        now = clock()
        due = [gif for gif in web if is_due(gif, now, options)]
        tally = _Tally()
        limits = options.limits_for(settings)
        tick = progress(len(due), "links")
        pending: list[tuple[GifLinks, LinkState]] = []
        for gif, reason in run_checks(due, limits):
            state = record_outcome(gif, reason, int(clock()), tally, on_failure)
            if state is not None:
                pending.append((gif, state))
            if len(pending) >= WRITE_BATCH_GIFS:
                tally.rows += write_states(store, pending)
                pending = []
            tick(1)
        tally.rows += write_states(store, pending)
    return LinkReport(
        collection=store.collection_name,
        gifs=len(gifs),
        checked=len(due),
        alive=tally.alive,
        dead=dict(sorted(tally.dead.items())),
        unreached=dict(sorted(tally.unreached.items())),
        skipped_recent=len(web) - len(due),
        skipped_local=len(gifs) - len(web),
        rows_updated=tally.rows,
        recheck_after_s=None if options.check_all else options.recheck_after_s,
        seconds=time.perf_counter() - started,
    )


def run_checks(gifs: Sequence[GifLinks], limits: DownloadLimits) -> Iterator[tuple[GifLinks, str]]:
    """Check gifs on a thread pool; yield (GIF, reason or "") as each check ends.

    Only a few checks per worker are queued at a time, so an interrupted run stops soon.
    """
    queue = iter(gifs)
    with ThreadPoolExecutor(max_workers=LINK_WORKERS, thread_name_prefix="link-check") as pool:
        running: dict[Future[str], GifLinks] = {}

        def fill() -> None:
            while len(running) < LINK_WORKERS * IN_FLIGHT_PER_WORKER:
                gif = next(queue, None)
                if gif is None:
                    return
                running[pool.submit(check_link, gif.url, limits)] = gif

        fill()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                yield running.pop(future), future.result()
            fill()


def record_outcome(
    gif: GifLinks,
    reason: str,
    checked_at: int,
    tally: _Tally,
    on_failure: FailureHandler | None,
) -> LinkState | None:
    """Count one check's outcome; return the state to record (None: leave the GIF as is)."""
    if not reason:
        tally.alive += 1
        return LinkState(LinkStatus.ALIVE, checked_at)
    if on_failure:
        on_failure(gif.url, reason)
    if reason in UNREACHED_REASONS:
        tally.unreached[reason] += 1
        return None
    tally.dead[reason] += 1
    return LinkState(LinkStatus.DEAD, checked_at, reason)


def write_states(store: GifStore, states: Iterable[tuple[GifLinks, LinkState]]) -> int:
    """Record each GIF's state on all its rows (descriptions and frames); return rows."""
    descriptions, frames = [], []
    for gif, state in states:
        descriptions += [(row_id, state) for row_id in gif.description_ids]
        frames += [(row_id, state) for row_id in gif.frame_ids]
    written = store.write_link_states(descriptions, RowKind.DESCRIPTION)
    return written + store.write_link_states(frames, RowKind.FRAME)


def format_counts(counts: dict[str, int], order: Sequence[str]) -> str:
    """Return 'reason n, ...' for every reason in order, zeros included."""
    return ", ".join(f"{reason} {counts.get(reason, 0)}" for reason in order)


def format_link_report(report: LinkReport) -> str:
    """Return the summary: GIFs checked, skipped, alive, dead and unreached, rows, time."""
    recent = (
        "--all: none as recent"
        if report.recheck_after_s is None
        else f"{report.skipped_recent} checked within {format_age(report.recheck_after_s)}"
    )
    return "\n".join(
        [
            f"collection  {report.collection}",
            f"checked     {report.checked} of {report.gifs} GIFs",
            f"skipped     {report.skipped_recent + report.skipped_local} ({recent}, "
            f"{report.skipped_local} local files)",
            f"alive       {report.alive}",
            f"dead        {report.dead_total} ({format_counts(report.dead, DEAD_REASONS)})",
            f"unreached   {report.unreached_total} "
            f"({format_counts(report.unreached, UNREACHED_REASONS)}; status kept, "
            "tried again next run)",
            f"rows        {report.rows_updated} updated",
            f"seconds     {report.seconds:.2f}",
        ]
    )


def offline_notice(report: LinkReport) -> str:
    """Return a notice when no check reached any server (our network may be down), or ""."""
    if report.unreached_total and not report.alive and not report.dead_total:
        return (
            f"none of the {report.unreached_total} GIFs checked could be reached (timeouts or "
            "network errors): is this machine offline? nothing was marked dead"
        )
    return ""
