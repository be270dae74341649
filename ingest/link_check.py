"""The link checker: whether each GIF's URL still loads as a GIF, recorded on its rows.

A web GIF is fetched under the frames download's rules (ingest/http_download.py, with
ingest/gif_fetch.py's checks: http(s) only, checked redirects, timeouts, a deadline, a
size cap, an accepted Content-Type and a GIF signature), but only its first bytes are
read: the download stops as soon as the signature and the GIF's width and height are in
(recorded with an alive GIF's state). Checks run on a small thread pool; the statuses are
written from the calling thread, a batch at a time. Ctrl+C cuts the checks in flight
(their connections are shut down), so the run, and its writer lock, end at once.

A GIF is dead when the server's answer says so (http_error, not_gif, bad_redirect,
too_large, bad_url). A timeout or a network error says as much about our own network as
about the GIF (a machine offline would otherwise mark every GIF dead and empty the
search), so it changes nothing: the GIF keeps the status it had, a GIF never checked
stays shown, and both are tried again on the next run; so does a GIF on a loopback or
private address while those may not be reached (ingest/reach.py). Local (file://) GIFs
of a folder source are not checked. A check time in the future (a damaged row, a clock
set wrong) is not believed: the GIF is due.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import closing, nullcontext
from dataclasses import dataclass, field

from ingest.gif_fetch import GIF_HEADER_BYTES, check_gif_type, check_signature, gif_size
from ingest.http_download import (
    PRIVATE_ADDRESS,
    UNREACHED_FAILURES,
    Cancel,
    DownloadError,
    DownloadLimits,
    stream_download,
)
from ingest.reach import ALLOW_HINT
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
MAX_RECHECK_AFTER_DAYS = 3_650  # ten years: a longer age means never, and overflows a clock
# Not the GIF's fault (our network, or our own reach policy): its status is kept.
UNREACHED_REASONS = (*UNREACHED_FAILURES, PRIVATE_ADDRESS)
DEAD_REASONS = ("http_error", "not_gif", "bad_redirect", "too_large", "bad_url", "bad_encoding")
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
        return self.limits or DownloadLimits(
            timeout_s=settings.network_timeout_s, allow_private=settings.allow_private_urls
        )


@dataclass(frozen=True)
class LinkReport:
    """What a link check did: GIFs checked, found alive, dead and unreached (by reason),
    skipped (checked recently, or local files), rows written and seconds taken;
    answered: checks a server answered (took the connection), whatever came of them."""

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
    answered: int = 0

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
    answered: int = 0
    rows: int = 0


@dataclass(frozen=True)
class LinkProbe:
    """One check's outcome: why the GIF is not alive ("" when it is), whether a server
    answered, and the GIF's width and height from its first bytes (0 when not read)."""

    reason: str
    answered: bool = False
    width: int = 0
    height: int = 0


def parse_age(text: str) -> float:
    """Return the seconds in an age written as days or hours: '7d', '12h', '1.5' (days)."""
    match = AGE.fullmatch(text.strip())
    if not match:
        raise ConfigError(f"{text[:40]!r} is not an age: use days or hours, e.g. 7d or 12h")
    number, unit = float(match.group(1)), match.group(2).lower()
    seconds = number * (HOUR_S if unit == "h" else DAY_S)
    if not math.isfinite(seconds) or seconds > MAX_RECHECK_AFTER_DAYS * DAY_S:
        raise ConfigError(
            f"{text[:40]!r} is too long an age: use at most {MAX_RECHECK_AFTER_DAYS:,} days"
        )
    return seconds


def format_age(seconds: float) -> str:
    """Return an age as a person reads it: '7 days', '12 hours', '1 day'."""
    days, hours = seconds / DAY_S, seconds / HOUR_S
    if days >= 1 and days == int(days):
        return f"{days:g} day" + ("s" if days != 1 else "")
    return f"{hours:g} hour" + ("s" if hours != 1 else "")


def probe_link(url: str, limits: DownloadLimits, cancel: Cancel | None = None) -> LinkProbe:
    """Check whether url loads as a GIF, reading only its first bytes (the download stops
    once its signature, width and height are in); never raises for a failed download."""
    head = bytearray()

    def take(chunk: bytes) -> bool:
        head.extend(chunk[: GIF_HEADER_BYTES - len(head)])
        return len(head) >= GIF_HEADER_BYTES

    try:
        stream_download(
            url,
            limits,
            take,
            check_gif_type,
            REQUEST_HEADERS,
            chunk_bytes=GIF_HEADER_BYTES,
            cancel=cancel,
        )
    except DownloadError as exc:
        return LinkProbe(exc.reason, exc.reached)
    try:
        check_signature(bytes(head), url)
    except DownloadError as exc:
        return LinkProbe(exc.reason, answered=True)
    return LinkProbe("", True, *gif_size(bytes(head)))


def check_link(url: str, limits: DownloadLimits) -> str:
    """Return "" when url loads as a GIF, else why not (a download failure reason)."""
    return probe_link(url, limits).reason


def is_due(gif: GifLinks, now: float, options: LinkCheckOptions) -> bool:
    """Return whether a GIF is to be checked now: never checked, checked too long ago, or
    "checked" in the future (a damaged row or a wrong clock: not to be believed)."""
    if options.check_all or not gif.checked_at or not gif.link:
        return True
    age = now - gif.checked_at
    return age < 0 or age >= options.recheck_after_s


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
        with closing(run_checks(due, limits)) as checks:  # on Ctrl+C too: checks are cut
            for gif, probe in checks:
                state = record_outcome(gif, probe, int(clock()), tally, on_failure)
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
        answered=tally.answered,
    )


def run_checks(
    gifs: Sequence[GifLinks], limits: DownloadLimits
) -> Generator[tuple[GifLinks, LinkProbe], None, None]:
    """Check gifs on a thread pool; yield (GIF, its probe) as each check ends.

    Only a few checks per worker are queued at a time, and when the caller stops early
    (Ctrl+C) the checks in flight are cut (their connections shut down) and the queued
    ones dropped, so the run ends at once instead of waiting out each deadline.
    """
    queue = iter(gifs)
    cancel = Cancel()
    pool = ThreadPoolExecutor(max_workers=LINK_WORKERS, thread_name_prefix="link-check")
    running: dict[Future[LinkProbe], GifLinks] = {}

    def fill() -> None:
        while len(running) < LINK_WORKERS * IN_FLIGHT_PER_WORKER:
            gif = next(queue, None)
            if gif is None:
                return
            running[pool.submit(probe_link, gif.url, limits, cancel)] = gif

    try:
        fill()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                yield running.pop(future), future.result()
            fill()
    finally:
        if running:  # stopped early: interrupted, or the caller gave up
            cancel.set()
        pool.shutdown(wait=True, cancel_futures=True)


def record_outcome(
    gif: GifLinks,
    probe: LinkProbe,
    checked_at: int,
    tally: _Tally,
    on_failure: FailureHandler | None,
) -> LinkState | None:
    """Count one check's outcome; return the state to record (None: leave the GIF as is)."""
    reason = probe.reason
    tally.answered += probe.answered
    if not reason:
        tally.alive += 1
        return LinkState(LinkStatus.ALIVE, checked_at, width=probe.width, height=probe.height)
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


def link_notices(report: LinkReport) -> list[str]:
    """Return the notices a report calls for: GIFs on private addresses left unchecked,
    and, when no server answered at all (our network may be down), that question."""
    notices = []
    private = report.unreached.get(PRIVATE_ADDRESS, 0)
    if private:
        notices.append(
            f"{private} GIF(s) point at a loopback or private address, which the link "
            f"checker doesn't reach (their status is kept): {ALLOW_HINT}"
        )
    if report.unreached_total > private and not report.answered:
        notices.append(
            f"none of the {report.unreached_total - private} GIFs checked could be reached "
            "(no server answered: timeouts or network errors): is this machine offline? "
            "nothing was marked dead"
        )
    return notices
