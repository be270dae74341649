"""The link checker against a local HTTP server and real stores: which GIFs are alive or
dead (and why), recorded on every row of each GIF, re-checked by age, through the CLI."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from PIL import Image

from gifsearch.cli import main
from gifsearch.links_cmd import DEFAULT_RECHECK_AFTER
from ingest.gif_fetch import FETCH_FAILURES, fetch_gif
from ingest.http_download import DownloadLimits
from ingest.job import IngestOptions, run_ingest
from ingest.link_check import (
    DEAD_REASONS,
    DEFAULT_RECHECK_AFTER_S,
    UNREACHED_REASONS,
    LinkCheckOptions,
    LinkReport,
    check_link,
    check_links,
    format_age,
    parse_age,
)
from search_app.errors import ConfigError
from search_app.records import (
    HEIGHT_KEY,
    LINK_CHECKED_KEY,
    LINK_KEY,
    LINK_REASON_KEY,
    WIDTH_KEY,
    LinkState,
    LinkStatus,
    RowKind,
    StoredRow,
)
from search_app.settings import Settings
from search_app.store.client import GifStore
from search_app.store.lock import hold_writer_lock
from tests.chroma_server import free_port
from tests.frames.conftest import (
    gif_route,
    one_scene_gif,
    redirect,
    slow_route,
    tiny_clip_settings,
    write_gif_folder,
)
from tests.local_http import Route, serve_handlers

GIF = one_scene_gif("white", "circle", "red")
TIMEOUT_S = 2.0  # every check's connect and read timeout here (less flaked on a busy CPU)
SILENT_S = TIMEOUT_S + 3  # the silent route waits this long before answering
BIG_BYTES = 10 * 1024 * 1024
T0 = 1_750_000_000  # a fixed "now" for the checks, in epoch seconds
HOUR = 3_600
DAY = 24 * HOUR
LIMITS = DownloadLimits(timeout_s=TIMEOUT_S, deadline_s=5.0, allow_private=True)


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "PNG")
    return buffer.getvalue()


def status_route(code: int) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(code)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", "4")
        handler.end_headers()
        handler.wfile.write(b"gone")

    return route


@dataclass
class BigRoute:
    """A 10 MB body starting with a GIF signature, counting the bytes it got to send.

    Its socket's send buffer is kept small, so bytes sent is close to bytes the client
    took (else the kernel would buffer megabytes of it on the server's side)."""

    sent: int = 0
    finished: threading.Event = field(default_factory=threading.Event)

    def __call__(self, handler: BaseHTTPRequestHandler) -> None:
        self.sent = 0
        self.finished.clear()
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        handler.send_response(200)
        handler.send_header("Content-Type", "image/gif")
        handler.send_header("Content-Length", str(BIG_BYTES))
        handler.end_headers()
        body = b"GIF89a" + b"\0" * (BIG_BYTES - 6)
        try:
            for start in range(0, BIG_BYTES, 64 * 1024):
                piece = body[start : start + 64 * 1024]
                handler.wfile.write(piece)
                self.sent += len(piece)
        except OSError:
            return  # the client hung up, as it should
        finally:
            self.finished.set()

    def sent_in_all(self) -> int:
        assert self.finished.wait(10), "the big route never finished"
        return self.sent


@dataclass
class FickleRoute:
    """A GIF whose answer a test sets: 'gif', 'gone' (410) or 'silent' (a timeout)."""

    mode: str = "gif"

    def __call__(self, handler: BaseHTTPRequestHandler) -> None:
        if self.mode == "gone":
            status_route(410)(handler)
        elif self.mode == "silent":
            slow_route(GIF, SILENT_S)(handler)
        else:
            gif_route(GIF)(handler)


FICKLE = FickleRoute()
BIG = BigRoute()
ROUTES: dict[str, Route] = {
    "/alive.gif": gif_route(GIF),
    "/octet.gif": gif_route(GIF, content_type="application/octet-stream"),
    "/gone-410.gif": status_route(410),
    "/to-page.gif": redirect("/page.html"),
    "/page.html": gif_route(b"<html>a cat</html>", content_type="text/html; charset=utf-8"),
    "/png-as-gif.gif": gif_route(png_bytes()),
    "/silent.gif": slow_route(GIF, SILENT_S),
    "/to-file.gif": redirect("file:///etc/passwd"),
    "/big.gif": BIG,
    "/fickle.gif": FICKLE,
}
# GIF path -> (status, reason) after a first check; "/missing.gif" has no route (a 404).
# The silent GIF is left out of most stores: every check of it waits out the timeout.
EXPECTED = {
    "/alive.gif": ("alive", ""),
    "/octet.gif": ("alive", ""),
    "/missing.gif": ("dead", "http_error"),
    "/gone-410.gif": ("dead", "http_error"),
    "/to-page.gif": ("dead", "not_gif"),
    "/png-as-gif.gif": ("dead", "not_gif"),
    "/big.gif": ("alive", ""),
    "/fickle.gif": ("alive", ""),  # while FICKLE serves a GIF
}
DESCRIPTIONS = ("a red circle moves right", "a ball rolls across a white wall")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve_handlers(ROUTES) as (base, _):
        yield base


@pytest.fixture(autouse=True)
def fickle_is_a_gif() -> Iterator[None]:
    FICKLE.mode = "gif"
    yield
    FICKLE.mode = "gif"


def tsv_of(base: str, paths: list[str]) -> str:
    """Two description rows for each GIF path."""
    return "".join(f"{base}{path}\t{text} {path}\n" for path in paths for text in DESCRIPTIONS)


def ingest_tsv(settings: Settings, root: Path, text: str, loader: Callable, **options) -> None:
    source = root / f"gifs-{time.monotonic_ns()}.tsv"
    source.write_text(text, encoding="utf-8")
    run_ingest(IngestOptions(source=str(source), **options), settings, loader=loader)


def fill(settings: Settings, base: str, root: Path, loader: Callable) -> Settings:
    """Ingest the EXPECTED GIFs, two rows each, into the settings' collection."""
    settings = replace(settings, network_timeout_s=TIMEOUT_S)
    ingest_tsv(settings, root, tsv_of(base, list(EXPECTED)), loader)
    return settings


@pytest.fixture
def store(server: str, tmp_path: Path, cached_loader: Callable) -> Settings:
    """An embedded MiniLM store of the EXPECTED GIFs, two rows each, never checked."""
    settings = Settings(store_dir=tmp_path / "store", cache_dir=tmp_path / "cache",
                        model="minilm", device="cpu", allow_private_urls=True)  # fmt: skip
    return fill(settings, server, tmp_path, cached_loader)


@pytest.fixture
def any_store(settings: Settings, server: str, tmp_path: Path, cached_loader: Callable) -> Settings:
    """The same, on the embedded store and on a real Chroma server (`chroma run`)."""
    return fill(settings, server, tmp_path, cached_loader)


def rows_by_path(settings: Settings) -> dict[str, list[StoredRow]]:
    rows: dict[str, list[StoredRow]] = {}
    for row in GifStore(settings).read_all(documents=False):
        rows.setdefault("/" + row.url.rsplit("/", 1)[-1], []).append(row)
    return rows


def raw_metadata(settings: Settings, kind: str = RowKind.DESCRIPTION) -> dict[str, dict]:
    """Each row's metadata as Chroma holds it (the reason is not in StoredRow)."""
    store = GifStore(settings)
    name = store.frames_name if kind == RowKind.FRAME else store.collection_name
    page = store.client.get_collection(name).get(include=["metadatas"])
    return dict(zip(page["ids"], page["metadatas"], strict=True))


def check(settings: Settings, at: float = T0, **options) -> LinkReport:
    return check_links(settings, LinkCheckOptions(**options), clock=lambda: at)


# --- One check: what it finds and what it records


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/alive.gif", ""),
        ("/octet.gif", ""),
        ("/missing.gif", "http_error"),
        ("/gone-410.gif", "http_error"),
        ("/to-page.gif", "not_gif"),
        ("/png-as-gif.gif", "not_gif"),
        ("/silent.gif", "timeout"),
        ("/to-file.gif", "bad_redirect"),
    ],
    ids=["alive", "octet-stream", "404", "410", "redirect-to-html", "png-body", "timeout",
         "redirect-to-file"],
)  # fmt: skip
def test_a_link_is_alive_or_says_why_not(server: str, path: str, reason: str) -> None:
    started = time.monotonic()
    assert check_link(server + path, LIMITS) == reason
    assert time.monotonic() - started < SILENT_S  # a silent server is given up on in time


@pytest.mark.parametrize(
    ("url", "reason"),
    [(f"http://127.0.0.1:{free_port()}/a.gif", "network_error"), ("ftp://x.test/a.gif", "bad_url")],
    ids=["closed-port", "ftp"],
)
def test_unreachable_and_bad_urls_say_why(url: str, reason: str) -> None:
    assert check_link(url, LIMITS) == reason


def test_the_checker_stops_reading_a_big_gif_after_its_signature(server: str) -> None:
    assert check_link(server + "/big.gif", LIMITS) == ""
    checked = BIG.sent_in_all()
    assert fetch_gif(server + "/big.gif", replace(LIMITS, max_bytes=BIG_BYTES)).startswith(b"GIF")
    downloaded = BIG.sent_in_all()
    assert downloaded == BIG_BYTES  # the route does send it all to a real download
    assert checked < BIG_BYTES // 10, f"the check let the server send {checked:,} bytes"


def test_every_failure_reason_is_either_dead_or_unreached() -> None:
    assert set(DEAD_REASONS) | set(UNREACHED_REASONS) == set(FETCH_FAILURES) - {"unreadable"}
    assert not set(DEAD_REASONS) & set(UNREACHED_REASONS)


def test_statuses_and_times_are_recorded_on_every_row(
    any_store: Settings, server: str, tmp_path: Path, cached_loader: Callable
) -> None:
    ingest_tsv(any_store, tmp_path, tsv_of(server, ["/silent.gif"]), cached_loader)
    before = rows_by_path(any_store)
    assert all(r.link == "" and r.link_checked_at == 0 for rs in before.values() for r in rs)

    report = check(any_store)
    assert (report.gifs, report.checked, report.alive, report.skipped_recent) == (9, 9, 4, 0)
    assert report.dead == {"http_error": 2, "not_gif": 2}
    assert report.unreached == {"timeout": 1}  # the silent GIF: left never checked, shown
    assert report.rows_updated == 2 * 8

    rows = rows_by_path(any_store)  # read back by a new GifStore
    meta = raw_metadata(any_store)
    for path, (status, reason) in {**EXPECTED, "/silent.gif": ("", "")}.items():
        assert len(rows[path]) == 2, path
        for row in rows[path]:
            assert (row.link, row.link_checked_at) == (status, T0 if status else 0), path
            assert row.is_dead == (status == LinkStatus.DEAD)
            assert meta[row.row_id].get(LINK_REASON_KEY) == (reason or None), path
            assert meta[row.row_id]["url"] == row.url  # the other metadata is kept


def test_a_gif_that_comes_back_loses_its_reason(any_store: Settings) -> None:
    FICKLE.mode = "gone"
    check(any_store)
    ids = [r.row_id for r in rows_by_path(any_store)["/fickle.gif"]]
    assert {raw_metadata(any_store)[i][LINK_REASON_KEY] for i in ids} == {"http_error"}
    FICKLE.mode = "gif"
    assert check(any_store, T0 + HOUR, check_all=True).alive == 4
    meta = raw_metadata(any_store)
    assert all(meta[i][LINK_KEY] == "alive" and LINK_REASON_KEY not in meta[i] for i in ids)
    assert {meta[i][LINK_CHECKED_KEY] for i in ids} == {T0 + HOUR}


def test_a_timeout_keeps_the_status_a_gif_had(store: Settings) -> None:
    check(store)
    FICKLE.mode = "silent"
    later = T0 + 10 * DAY
    report = check(store, later)  # everything is due again
    assert report.unreached == {"timeout": 1} and report.alive == 3
    rows = rows_by_path(store)
    assert {(r.link, r.link_checked_at) for r in rows["/fickle.gif"]} == {("alive", T0)}
    assert {(r.link, r.link_checked_at) for r in rows["/alive.gif"]} == {("alive", later)}
    assert check(store, later + HOUR).checked == 1  # not stamped: due again next run


def test_recent_checks_are_skipped_and_old_ones_checked_again(store: Settings) -> None:
    check(store)
    soon = check(store, T0 + HOUR)
    assert (soon.checked, soon.skipped_recent) == (0, 8)
    assert {r.link_checked_at for r in rows_by_path(store)["/alive.gif"]} == {T0}
    week = check(store, T0 + 7 * DAY)
    assert (week.checked, week.skipped_recent) == (8, 0)
    custom = check(store, T0 + 7 * DAY + 2 * HOUR, recheck_after_s=HOUR)
    assert (custom.checked, custom.skipped_recent) == (8, 0)
    assert check(store, T0 + 7 * DAY + 3 * HOUR, recheck_after_s=2 * HOUR).checked == 0
    everything = check(store, T0 + 7 * DAY + 3 * HOUR, check_all=True)
    assert (everything.checked, everything.recheck_after_s) == (8, None)


def test_a_gif_with_a_row_added_since_its_check_is_due_again(
    store: Settings, server: str, tmp_path: Path, cached_loader: Callable
) -> None:
    check(store)
    ingest_tsv(store, tmp_path, f"{server}/alive.gif\ta red ball bounces\n", cached_loader)
    rows = rows_by_path(store)["/alive.gif"]
    assert sorted(r.link for r in rows) == ["", "alive", "alive"]  # never checked: shown
    report = check(store, T0 + HOUR)
    assert report.checked == 1
    assert {(r.link, r.link_checked_at) for r in rows_by_path(store)["/alive.gif"]} == {
        ("alive", T0 + HOUR)
    }


def test_frames_rows_are_recorded_and_local_gifs_left_alone(
    server: str, tmp_path: Path, tiny_clip_dir: Path, cached_loader: Callable
) -> None:
    settings = replace(tiny_clip_settings(tmp_path, tiny_clip_dir), network_timeout_s=TIMEOUT_S)
    paths = ["/alive.gif", "/fickle.gif", "/gone-410.gif"]
    ingest_tsv(settings, tmp_path, tsv_of(server, paths), cached_loader, frames=True)
    folder = write_gif_folder(tmp_path / "folder")
    run_ingest(IngestOptions(source=str(folder)), settings, loader=cached_loader)
    store = GifStore(settings)
    frames = {r.url.rsplit("/", 1)[-1]: r for r in store.read_all([RowKind.FRAME], False)}
    assert {"alive.gif", "fickle.gif", "red-circle.gif"} <= set(frames)  # 410: no frames

    FICKLE.mode = "gone"
    report = check(settings)
    assert (report.gifs, report.checked, report.skipped_local) == (7, 3, 4)
    assert (report.alive, report.dead) == (1, {"http_error": 2})
    for row in GifStore(settings).read_all(documents=False):
        name = row.url.rsplit("/", 1)[-1]
        if row.url.startswith("file:"):
            assert (row.link, row.link_checked_at) == ("", 0), name
        else:
            expected = "alive" if name == "alive.gif" else "dead"
            assert (row.link, row.link_checked_at) == (expected, T0), (name, row.kind)
    frame_meta = raw_metadata(settings, RowKind.FRAME)
    fickle_frames = [m for m in frame_meta.values() if m["url"].endswith("/fickle.gif")]
    assert fickle_frames and all(m[LINK_REASON_KEY] == "http_error" for m in fickle_frames)
    assert all("frame_index" in m for m in fickle_frames)  # the frame metadata is kept


def test_link_states_are_written_in_batches_the_client_takes(store: Settings) -> None:
    """Chroma refuses one update over its max batch size; ids it doesn't hold it skips, so
    padding the real rows' ids past that size shows the writes are split."""
    gif_store = GifStore(store)
    ids = [r.row_id for r in gif_store.read_all(documents=False)]
    padded = ids + [f"not-a-row-{n}" for n in range(gif_store.max_batch_rows())]
    state = LinkState(LinkStatus.DEAD, T0, "not_gif")
    assert gif_store.write_link_states([(i, state) for i in padded]) == len(padded)
    assert {(r.link, r.link_checked_at) for r in GifStore(store).read_all()} == {("dead", T0)}
    assert GifStore(store).count() == len(ids) == 16  # nothing was added


# --- Ages


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("7d", 7 * DAY), ("36h", 36 * HOUR), ("1.5", 1.5 * DAY), ("0", 0.0), ("12H", 12 * HOUR)],
    ids=["days", "hours", "bare-days", "zero", "upper-case"],
)
def test_ages_are_days_or_hours(text: str, seconds: float) -> None:
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["3x", "-1d", "", "d", "7 days"], ids=repr)
def test_other_ages_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="is not an age"):
        parse_age(text)


def test_the_default_age_is_a_week_and_reads_as_one() -> None:
    assert parse_age(DEFAULT_RECHECK_AFTER) == DEFAULT_RECHECK_AFTER_S == 7 * DAY
    assert (format_age(7 * DAY), format_age(DAY), format_age(36 * HOUR)) == (
        "7 days", "1 day", "36 hours")  # fmt: skip


# --- The CLI


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(args)
    except SystemExit as stopped:
        code = int(stopped.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def links_args(settings: Settings, *more: str) -> list[str]:
    return ["check-links", "--store", str(settings.store_dir), "--quiet",
            "--network-timeout", str(TIMEOUT_S), *more]  # fmt: skip


def test_check_links_prints_its_summary_and_json(
    store: Settings, server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(links_args(store, "--json"), capsys)
    assert code == 0 and "Traceback" not in err
    report = json.loads(out)
    assert (report["checked"], report["alive"], report["dead"], report["unreached"]) == (
        8, 4, {"http_error": 2, "not_gif": 2}, {})  # fmt: skip
    assert report["recheck_after_s"] == DEFAULT_RECHECK_AFTER_S

    code, out, err = run(links_args(store, "--recheck-after", "12h"), capsys)
    assert code == 0
    assert "checked     0 of 8 GIFs" in out
    assert "skipped     8 (8 checked within 12 hours, 0 local files)" in out
    assert "unreached   0 (timeout 0, network_error 0, private_address 0; status kept" in out
    assert "dead        0 (http_error 0, not_gif 0, bad_redirect 0" in out
    with hold_writer_lock(store.store_dir):  # the lock was released
        pass


def test_verbose_names_each_dead_and_unreached_gif(
    store: Settings, server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    FICKLE.mode = "silent"
    code, _, err = run(links_args(store, "-v"), capsys)
    assert code == 0
    for path, (status, reason) in EXPECTED.items():
        if status == "dead":
            assert err.count(f"gifsearch: {server}{path}: dead ({reason})\n") == 1, path
        elif path != "/fickle.gif":
            assert f"{server}{path}:" not in err, path
    assert f"{server}/fickle.gif: not reached (timeout); its status is kept" in err
    assert err.count("\n") == 5


def test_check_links_fails_in_one_line(
    store: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-store"
    cases = {
        "missing-store": (["check-links", "--store", str(missing)], 1,
                          f'no collection "gifs" in {missing}/; run "gifsearch ingest" first'),
        "missing-collection": (links_args(store, "--collection", "nope"), 1,
                               'no collection "nope"'),
        "bad-age": (links_args(store, "--recheck-after", "3x"), 2, "'3x' is not an age"),
        "all-and-age": (links_args(store, "--all", "--recheck-after", "1d"), 2,
                        "not allowed with argument"),
    }  # fmt: skip
    for case, (argv, expected_code, says) in cases.items():
        code, out, err = run(argv, capsys)
        assert (code, out, err.count("\n")) == (expected_code, "", 1), case
        assert says in err and "Traceback" not in err, (case, err)
    assert not missing.exists()  # a missing store is not created by looking for it
    with hold_writer_lock(store.store_dir):
        code, out, err = run(links_args(store), capsys)
    assert (code, out, err.count("\n")) == (1, "", 1)
    assert "is being written by pid" in err
    assert {r.link for r in GifStore(store).read_all()} == {""}  # nothing was recorded


def test_ingest_check_links_checks_the_new_collection(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "gifs.tsv"
    source.write_text(tsv_of(server, ["/alive.gif", "/gone-410.gif"]), encoding="utf-8")
    store_dir = tmp_path / "store"
    code, out, err = run(["ingest", "--source", str(source), "--store", str(store_dir),
                          "--model", "minilm", "--quiet", "--json", "--check-links",
                          "--network-timeout", str(TIMEOUT_S)], capsys)  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["embedded"] == 4
    assert (report["links"]["checked"], report["links"]["alive"]) == (2, 1)
    assert report["links"]["dead"] == {"http_error": 1}
    rows = rows_by_path(Settings(store_dir=store_dir))
    assert {r.link for r in rows["/gone-410.gif"]} == {"dead"}


# --- Round 3 (issue 22): sizes, notices that say what happened, times not to believe


def test_an_alive_gifs_size_is_recorded_with_its_state(store: Settings) -> None:
    check(store)
    meta = raw_metadata(store)
    for path, rows in rows_by_path(store).items():
        for row in rows:
            # one_scene_gif is 64 x 48; /big.gif's header says 0 x 0, which is "not known"
            if EXPECTED[path][0] == "alive" and path != "/big.gif":
                assert (meta[row.row_id][WIDTH_KEY], meta[row.row_id][HEIGHT_KEY]) == (64, 48)
                assert (row.width, row.height) == (64, 48)
            else:  # never seen as a GIF (or no size in its header): no size
                assert WIDTH_KEY not in meta[row.row_id] and (row.width, row.height) == (0, 0)


def test_frames_and_folder_gifs_record_their_size(
    server: str, tmp_path: Path, tiny_clip_dir: Path, cached_loader: Callable
) -> None:
    settings = replace(tiny_clip_settings(tmp_path, tiny_clip_dir), network_timeout_s=TIMEOUT_S)
    ingest_tsv(settings, tmp_path, tsv_of(server, ["/alive.gif"]), cached_loader, frames=True)
    folder = write_gif_folder(tmp_path / "folder")
    run_ingest(IngestOptions(source=str(folder)), settings, loader=cached_loader)
    frames = GifStore(settings).read_all([RowKind.FRAME], documents=False)
    assert {r.url.rsplit("/", 1)[-1] for r in frames} >= {"alive.gif", "red-circle.gif"}
    assert {(r.width, r.height) for r in frames} == {(64, 48)}  # every GIF drawn 64 x 48
    descriptions = GifStore(settings).read_all([RowKind.DESCRIPTION], documents=False)
    assert {(r.width, r.height) for r in descriptions} == {(0, 0)}  # not seen by these rows


def test_a_check_time_in_the_future_is_not_believed(store: Settings) -> None:
    gif_store = GifStore(store)
    future = LinkState(LinkStatus.ALIVE, T0 + 10 * 365 * DAY)
    gif_store.write_link_states([(r.row_id, future) for r in gif_store.read_all()])
    assert check(store).checked == 8  # all due now, and stamped with now
    assert {r.link_checked_at for r in GifStore(store).read_all()} == {T0}


def test_damaged_check_times_read_as_never_checked(store: Settings) -> None:
    gif_store = GifStore(store)
    rows = gif_store.read_all()
    collection = gif_store.client.get_collection(gif_store.collection_name)
    damaged = ["abc", 1.5, -7, 1e300, True, ""]
    collection.update(
        ids=[r.row_id for r in rows],
        metadatas=[{LINK_KEY: "alive", LINK_CHECKED_KEY: damaged[n % len(damaged)],
                    "frame_index": "x", WIDTH_KEY: "wide"} for n, _ in enumerate(rows)],
    )  # fmt: skip
    read = GifStore(store).read_all()
    assert {(r.link_checked_at, r.frame_index, r.width) for r in read} == {(0, None, 0)}
    assert check(store).checked == 8


def test_no_offline_notice_when_servers_answered_slowly(
    server: str, tmp_path: Path, cached_loader: Callable
) -> None:
    """The issue: "is this machine offline?" when only hostile (slow) links were due."""
    from ingest.link_check import link_notices

    settings = Settings(store_dir=tmp_path / "store", cache_dir=tmp_path / "cache",
                        model="minilm", device="cpu", allow_private_urls=True,
                        network_timeout_s=TIMEOUT_S)  # fmt: skip
    ingest_tsv(settings, tmp_path, tsv_of(server, ["/silent.gif"]), cached_loader)
    slow = check(settings)
    assert slow.unreached == {"timeout": 1} and slow.answered == 1
    assert link_notices(slow) == []
    closed = f"http://127.0.0.1:{free_port()}"
    ingest_tsv(settings, tmp_path, tsv_of(closed, ["/a.gif"]), cached_loader)
    offline = check(settings, T0 + HOUR)  # the silent GIF again (never stamped), the closed one
    assert offline.unreached == {"timeout": 1, "network_error": 1}
    assert link_notices(offline) == []  # the silent server still answered


def test_only_unanswered_checks_ask_whether_this_machine_is_offline(
    tmp_path: Path, cached_loader: Callable
) -> None:
    from ingest.link_check import link_notices

    settings = Settings(store_dir=tmp_path / "store", cache_dir=tmp_path / "cache",
                        model="minilm", device="cpu", allow_private_urls=True,
                        network_timeout_s=TIMEOUT_S)  # fmt: skip
    closed = f"http://127.0.0.1:{free_port()}"
    ingest_tsv(settings, tmp_path, tsv_of(closed, ["/a.gif", "/b.gif"]), cached_loader)
    report = check(settings)
    assert report.unreached == {"network_error": 2} and report.answered == 0
    assert ["is this machine offline?" in n for n in link_notices(report)] == [True]


def test_gifs_on_private_addresses_are_not_checked_unless_allowed(
    store: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    from ingest.link_check import link_notices

    closed = replace(store, allow_private_urls=False)
    report = check(closed)
    assert report.unreached == {"private_address": 8} and report.alive == 0
    assert {r.link for r in GifStore(store).read_all()} == {""}  # statuses kept
    notices = link_notices(report)
    assert len(notices) == 1 and "GIFSEARCH_ALLOW_PRIVATE_URLS=1" in notices[0]
    assert check(store, T0 + HOUR).alive == 4  # allowed: checked as before
