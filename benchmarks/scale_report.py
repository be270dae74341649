"""The scale benchmark's figures as plain tables (scale_bench.py makes the report)."""

from __future__ import annotations

from collections.abc import Callable

MIB_PER_GIB = 1024
LABEL_WIDTH = 40
CELL_WIDTH = 16


def _get(data: dict, *path: str) -> object:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _share(value: object) -> str:
    return "—" if value is None else f"{100 * float(value):.0f}%"  # type: ignore[arg-type]


def _ingest_split(build: dict) -> str:
    stages = _get(build, "ingest", "stages") or {}
    encode, write = stages.get("encode"), stages.get("write")  # type: ignore[union-attr]
    if write is None:
        return "—"
    replayed = _get(build, "ingest", "encode") == "replayed"
    encode_text = "replayed" if replayed or encode is None else f"{encode:.0f}"
    return f"{encode_text} / {write:.0f}"


def _eta(build: dict) -> str:
    checks = _get(build, "ingest", "eta") or []
    if not checks:
        return "—"
    return " ".join(f"{100 * c['error']:+.0f}%" for c in checks[:3])  # type: ignore[union-attr]


def _pair(figures: dict, first: str, second: str, digits: tuple[int, int]) -> str:
    """Two of a section's figures as 'a / b'."""
    section, left = first.split(".")
    right = second.split(".")[1]
    data = figures[section]
    return f"{data[left]:.{digits[0]}f} / {data[right]:.{digits[1]}f}"


ROWS: list[tuple[str, Callable[[dict], str]]] = [
    ("ingest rows/s", lambda f: f"{f['build']['ingest']['rows_per_s']:.0f}"),
    ("ingest s: encode / write", lambda f: _ingest_split(f["build"])),
    ("ingest peak RSS MiB (job process)", lambda f: f"{f['build']['ingest']['peak_rss_mib']:.0f}"),
    ("  Chroma server's peak RSS MiB", lambda f: _fmt(f["build"].get("server_peak_rss_mib"))),
    ("ingest ETA error at 10/25/50%", lambda f: _eta(f["build"])),
    ("ingest: others' CPU share", lambda f: _share(f["build"]["ingest"].get("others_cpu_share"))),
    ("store on disk MiB", lambda f: f"{f['build']['disk_bytes'] / 2**20:.0f}"),
    ("cold CLI search s (median)", lambda f: f"{f['cold']['median_s']:.2f}"),
    ("serve: page answers s", lambda f: f"{f['serve']['ready_s']:.2f}"),
    ("serve: first search s after it", lambda f: f"{f['serve']['first_search_s']:.2f}"),
    ("serve RSS MiB (after 21 searches)", lambda f: f"{f['serve']['rss_mib']:.0f}"),
    ("  Chroma server's RSS MiB", lambda f: _fmt(_get(f, "server_memory", "rss_mib"))),
    (
        "cold / serve: others' CPU share",
        lambda f: (
            _share(f["cold"]["others_cpu_share"]) + " / " + _share(f["serve"]["others_cpu_share"])
        ),
    ),  # fmt: skip
    (
        "engine: open s / first search s",
        lambda f: _pair(f, "engine.open_s", "engine.first_search_s", (2, 2)),
    ),  # fmt: skip
    ("hits' rows by GIF-id filter p50 / p99 ms", lambda f: _p(f, "filter")),
    (
        "catalog: built in s / RSS it took MiB",
        lambda f: _pair(f, "engine.catalog_s", "engine.catalog_rss_mib", (1, 0)),
    ),  # fmt: skip
    ("search p50 / p99 ms", lambda f: _p(f, "search")),
    ("encode + one Chroma query p50 / p99 ms", lambda f: _p(f, "bare")),
    ("stats(wait=False) p50 / p99 ms", lambda f: _p(f, "stats")),
    ("gifs(10 ids) p50 / p99 ms", lambda f: _p(f, "gifs")),
    ("featured(): first call s", lambda f: f"{f['engine']['featured_first_s']:.2f}"),
    ("every row's metadata read s (check-links)", lambda f: f"{f['engine']['read_all_s']:.1f}"),
    ("engine process RSS MiB (no web app)", lambda f: f"{f['engine']['rss_mib']:.0f}"),
    (
        "HNSW recall@10 vs brute force (ties counted)",
        lambda f: f"{f['engine']['recall_at_10']:.3f}",
    ),
    ("  by row id (a tie cut arbitrarily)", lambda f: f"{f['engine']['recall_at_10_ids']:.3f}"),
    (
        "  queries with >10 rows tied / most tied",
        lambda f: f"{f['engine']['tied_queries']} / {f['engine']['tied_rows_max']}",
    ),  # fmt: skip
    ("engine: others' CPU share", lambda f: _share(f["engine"]["others_cpu_share"])),
]


def _fmt(value: object) -> str:
    return "—" if value is None else f"{float(value):.0f}"  # type: ignore[arg-type]


def _p(figures: dict, name: str) -> str:
    latency = figures["engine"]["latency"][name]
    return f"{latency['p50_ms']:.1f} / {latency['p99_ms']:.1f}"


def _cell(render: Callable[[dict], str], figures: dict | None) -> str:
    if figures is None:
        return "—"
    try:
        return render(figures)
    except (KeyError, TypeError):
        return "—"  # not measured in this run (e.g. --build-only)


def table(report: dict, kind: str) -> list[str]:
    """One store kind's figures, a column per size."""
    sizes = sorted(report["sizes"], key=int)
    title = "embedded store" if kind == "embedded" else "Chroma server (`chroma run`)"
    head = f"{title:<{LABEL_WIDTH}}" + "".join(f"{int(s):>{CELL_WIDTH},}" for s in sizes)
    lines = [head]
    for label, render in ROWS:
        cells = [_cell(render, report["sizes"][s].get(kind)) for s in sizes]
        if all(cell == "—" for cell in cells):
            continue
        lines.append(f"{label:<{LABEL_WIDTH}}" + "".join(f"{c:>{CELL_WIDTH}}" for c in cells))
    for size in sizes:
        build = _get(report["sizes"][size], kind, "build")
        if isinstance(build, dict):
            lines.append(f"  {int(size):,} rows built {build['built_at']} at {build['commit']}")
    return lines


def targets(report: dict) -> list[str]:
    """Where the issue's targets stand (met / MISS), per store kind."""
    sizes = report["sizes"]
    lines = ["targets"]

    def check(ok: bool, label: str, value: str) -> None:
        lines.append(f"{'met ' if ok else 'MISS'}  {label:<58} {value}")

    for kind in ("embedded", "server"):
        mid, big, small = (_get(sizes, rows, kind) for rows in ("125000", "1000000", "20000"))
        if isinstance(mid, dict) and "serve" in mid:
            serve, cold = mid["serve"], mid["cold"]
            check(
                serve["ready_s"] <= 6.0,
                f"{kind} 125k: page answers <= 6 s",
                f"{serve['ready_s']:.2f} s",
            )
            check(serve["first_search_s"] <= 1.0, f"{kind} 125k: first search <= 1 s after",
                  f"{serve['first_search_s']:.2f} s")  # fmt: skip
            check(
                cold["median_s"] <= 2.0,
                f"{kind} 125k: cold CLI search <= 2.0 s",
                f"{cold['median_s']:.2f} s",
            )
            check(serve["rss_mib"] <= MIB_PER_GIB, f"{kind} 125k: serve RSS <= 1 GiB",
                  f"{serve['rss_mib']:.0f} MiB")  # fmt: skip
        if isinstance(big, dict):
            peak = big["build"]["ingest"]["peak_rss_mib"]
            check(
                peak <= 4 * MIB_PER_GIB, f"{kind} 1M: ingest peak RSS <= 4 GiB", f"{peak:.0f} MiB"
            )
            if "engine" in big:
                recall = big["engine"]["recall_at_10"]
                check(
                    recall >= 0.95,
                    f"{kind} 1M: HNSW recall@10 >= 0.95 (ties counted)",
                    f"{recall:.3f}",
                )
                if isinstance(small, dict) and "engine" in small:
                    ratio = (big["engine"]["latency"]["search"]["p50_ms"]
                             / small["engine"]["latency"]["search"]["p50_ms"])  # fmt: skip
                    check(
                        ratio <= 2.0, f"{kind} 1M: search p50 <= 2 x the 20k p50", f"{ratio:.2f} x"
                    )
            if "serve" in big:
                ready = big["serve"]["ready_s"]
                check(ready <= 10.0, f"{kind} 1M: page answers <= 10 s", f"{ready:.2f} s")
    return lines


def format_report(report: dict) -> str:
    """The whole report: the machine, a table per store kind, the targets."""
    machine = report["machine"]
    lines = [
        f"scale benchmark: {machine['cpu']}, {machine['cores']} cores, {machine['ram_gib']} GiB; "
        f"load average before {machine['load_average_before']}, after "
        f"{report.get('load_average_after')}; {report.get('seconds', 0) / 60:.1f} min",
        "MiniLM (bf16 ingest, ONNX query embedder); synthetic TGIF rows; the server's ingest "
        "replays the embedded store's vectors (its encode is not measured)",
        "",
    ]
    report = {**report, "sizes": {str(k): v for k, v in report["sizes"].items()}}
    kinds = {kind for figures in report["sizes"].values() for kind in figures}
    for kind in sorted(kinds):
        lines += table(report, kind) + [""]
    return "\n".join(lines + targets(report))
