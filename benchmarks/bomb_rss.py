"""Peak memory of a download fed a compression bomb, against the same download of a plain
GIF: every encoding a server may send (gzip, x-gzip, deflate, raw deflate, br, and stacked
ones; zstd is never offered and is refused by its header), through each download (the link
checker, the frames download, the source download), and the whole `gifsearch check-links`
command over four bomb links (the issue's 3.2 GB case).

    python benchmarks/bomb_rss.py             # every case
    python benchmarks/bomb_rss.py --quick     # gzip, br and gzip-gzip only
    python benchmarks/bomb_rss.py --before    # also httpx's own decoding (the old reader)

Each case runs in a fresh process, so its peak RSS (ru_maxrss) is its own; "over plain" is
that peak less the same download's peak for a plain GIF. The goal: within 150 MB of plain.
The bombs unpack to 64 MiB each (tests/hostile_http.py), served by a local HTTP server.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GOAL_MB = 150.0
DOWNLOADS = ("check_link", "fetch_gif", "source")
QUICK = ("gzip", "br", "gzip-gzip")


def child(kind: str, url: str) -> None:
    """Run one download in this (fresh) process and print what it did, as JSON."""
    from ingest.gif_fetch import fetch_gif
    from ingest.http_download import DownloadError, DownloadLimits
    from ingest.link_check import check_link
    from ingest.release import MAX_SOURCE_BYTES, download
    from search_app.errors import SourceError

    limits = DownloadLimits(timeout_s=10.0, deadline_s=60.0, allow_private=True)
    if kind == "source":  # a source's own cap: 1 GiB, so a 64 MiB bomb is written out whole
        limits = DownloadLimits(10.0, 60.0, MAX_SOURCE_BYTES, allow_private=True)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    outcome = "ok"
    try:
        if kind == "check_link":
            outcome = check_link(url, limits) or "alive"
        elif kind == "fetch_gif":
            outcome = f"{len(fetch_gif(url, limits)):,} bytes"
        elif kind == "source":
            with tempfile.TemporaryDirectory() as scratch:
                written = download(url, Path(scratch) / "rows.tsv", limits).stat().st_size
                outcome = f"{written:,} bytes written"
        elif kind == "httpx":  # the old reader: httpx decodes each chunk whole
            import httpx

            with httpx.stream("GET", url, timeout=10.0) as response:
                outcome = f"{sum(len(c) for c in response.iter_bytes(6)):,} bytes"
    except DownloadError as exc:
        outcome = exc.reason
    except SourceError as exc:
        outcome = str(exc).rsplit(".gif", 1)[-1].strip(" :")[:48]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds = time.perf_counter() - started
    print(json.dumps({"before_kb": before, "peak_kb": peak, "outcome": outcome, "s": seconds}))


def run_child(kind: str, url: str) -> dict[str, object]:
    """Run one case in a fresh interpreter; return its JSON line."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, url],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def command_peak(argv: list[str], env: dict[str, str]) -> tuple[int, float, str]:
    """Run a gifsearch command; return its exit code, peak RSS (MiB) and last line."""
    process = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    _, status, usage = os.wait4(process.pid, 0)
    output = process.stdout.read() if process.stdout else ""
    process.returncode = os.waitstatus_to_exitcode(status)
    lines = [line for line in output.splitlines() if line.strip()]
    return process.returncode, usage.ru_maxrss / 1024, lines[-1] if lines else ""


def cli_cases(base: str, bombs: list[str]) -> None:
    """`gifsearch check-links` over 4 links of one kind, in a fresh store each time."""
    gifsearch = str(Path(sys.executable).with_name("gifsearch"))
    env = dict(os.environ, GIFSEARCH_ALLOW_PRIVATE_URLS="1")
    print("\n`gifsearch check-links`, 4 links each (peak RSS of the whole command)")
    print(f"{'links':<22} {'peak MiB':>9} {'over plain':>11}  summary")
    plain_peak = None
    for name in ["plain", *bombs]:
        scratch = Path(tempfile.mkdtemp(prefix="bomb-rss-"))
        try:
            rows = "".join(f"{base}/{name}-{n}.gif\ta GIF number {n}\n" for n in range(4))
            (scratch / "rows.tsv").write_text(rows)
            store = str(scratch / "store")
            subprocess.run(
                [gifsearch, "ingest", "--source", str(scratch / "rows.tsv"), "--store", store,
                 "--model", "minilm", "--quiet"],
                env=env, check=True, capture_output=True,
            )  # fmt: skip
            code, peak, last = command_peak(
                [gifsearch, "check-links", "--store", store, "--quiet", "--json"], env
            )
            plain_peak = peak if plain_peak is None else plain_peak
            summary = "exit 0" if code == 0 else f"exit {code}: {last[:60]}"
            if code == 0:
                report = json.loads(subprocess.run(
                    [gifsearch, "check-links", "--store", store, "--quiet", "--json", "--all"],
                    env=env, check=True, capture_output=True, text=True,
                ).stdout)  # fmt: skip
                summary = f"alive {report['alive']}, dead {report['dead']}"
            print(f"{name:<22} {peak:>9.0f} {peak - plain_peak:>+11.0f}  {summary}")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    """Serve the bombs, measure each case in a fresh process, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("KIND", "URL"), help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="gzip, br and gzip-gzip only")
    parser.add_argument("--before", action="store_true", help="also httpx's own decoding")
    parser.add_argument("--no-cli", action="store_true", help="leave out check-links")
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    from tests.frames.conftest import SET_OF_GIFS, gif_route
    from tests.hostile_http import BOMB_BYTES, BOMBS, bomb_body, encoded_route, zstd_body
    from tests.local_http import serve_handlers

    bombs = [name for name in BOMBS if not args.quick or name in QUICK]
    routes = {"/plain.gif": gif_route(SET_OF_GIFS["two-scenes.gif"])}
    for name in bombs:
        header, body = bomb_body(name)
        routes[f"/zeros-{name}.gif"] = encoded_route(body, header)
    routes["/zstd.gif"] = encoded_route(zstd_body(), "zstd")
    for n in range(4):  # the command's links: four GIFs of each kind
        routes[f"/plain-{n}.gif"] = routes["/plain.gif"]
        routes.update({f"/{name}-{n}.gif": routes[f"/zeros-{name}.gif"] for name in bombs})
    print(f"bombs: {BOMB_BYTES / 2**20:.0f} MiB of zeros each; body sizes:", ", ".join(
        f"{name} {len(bomb_body(name)[1]):,} B" for name in bombs))  # fmt: skip
    kinds = [*DOWNLOADS, *(["httpx"] if args.before else [])]
    with serve_handlers(routes) as (base, _):
        print(f"\n{'download':<11} {'answer of':<20} {'peak MiB':>9} {'over plain':>11}  "
              f"{'seconds':>7}  outcome")  # fmt: skip
        worst = 0.0
        for kind in kinds:
            plain = run_child(kind, f"{base}/plain.gif")
            plain_mb = float(str(plain["peak_kb"])) / 1024
            for name in ["plain", *bombs, "zstd"]:
                path = {"plain": "/plain.gif", "zstd": "/zstd.gif"}.get(name, f"/zeros-{name}.gif")
                result = plain if name == "plain" else run_child(kind, base + path)
                peak = float(str(result["peak_kb"])) / 1024
                if kind != "httpx":
                    worst = max(worst, peak - plain_mb)
                print(f"{kind:<11} {name:<20} {peak:>9.0f} {peak - plain_mb:>+11.0f}  "
                      f"{float(str(result['s'])):>7.2f}  {result['outcome']}")  # fmt: skip
        print(f"\nworst bomb over plain: {worst:+.0f} MiB (goal: within {GOAL_MB:.0f} MB)")
        if not args.no_cli:
            cli_cases(base, [name for name in bombs if name in ("br", "gzip-gzip", "gzip")])


if __name__ == "__main__":
    main()
