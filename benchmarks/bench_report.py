"""The benchmark's report: results arranged per run, targets checked, tables printed."""

from __future__ import annotations

import os

from search_app.embedders.frames import DEFAULT_FRAMES_PER_GIF

# Targets: (name, threshold, "min" = value must be >= threshold, "max" = <=). The ingest
# ratios are issue 12's (per precision), the others issue 6's.
TARGETS = {
    "ingest / bare encode, bf16": (0.8, "min"),
    "ingest / bare encode, fp32": (0.9, "min"),
    "bf16 / fp32 ingest": (2.5, "min"),
    "re-ingest / first ingest": (0.05, "max"),
    "search p50 / bare p50": (1.5, "max"),
    "HNSW recall@10": (0.99, "min"),
    "peak RSS of 100k ingest (MiB)": (2048.0, "max"),
}


def collect(
    results: list[dict], machine: dict, runs: list[tuple[str, int]], model: str, quick: bool
) -> dict:
    """Arrange results into the report: ingest rows, query latency, CLIP, targets."""
    ingest: list[dict] = []
    by_key = {
        (r["task"]["kind"], r["task"].get("precision"), r["task"].get("size")): r for r in results
    }
    for precision, size in runs:
        first = by_key[("ingest", precision, size)]
        bare = by_key[("encode", precision, size)]
        again = by_key[("reingest", precision, size)]
        ingest.append(
            {
                "precision": precision,
                "rows": size,
                "data": first["task"]["data"],
                "ingest_rows_per_s": first["rows_per_s"],
                "encode_rows_per_s": bare["rows_per_s"],
                "ingest_vs_encode": first["rows_per_s"] / bare["rows_per_s"],
                "ingest_seconds": first["seconds"],
                "model_load_seconds": first["load_seconds"],
                "ingest_peak_rss_mb": first["peak_rss_mb"],
                "encode_peak_rss_mb": bare["peak_rss_mb"],
                "reingest_seconds": again["seconds"],
                "reingest_process_seconds": again["process_seconds"],
                "ingest_process_seconds": first["process_seconds"],
                "reingest_vs_ingest": again["seconds"] / first["seconds"],
                "stages": first.get("stages", {}),
                "ingest_others_cpu_share": first.get("others_cpu_share"),
                "encode_others_cpu_share": bare.get("others_cpu_share"),
            }
        )
    query = next(r for r in results if r["task"]["kind"] == "query")
    profile = next((r for r in results if r["task"]["kind"] == "profile"), None)
    clip = next((r for r in results if r["task"]["kind"] == "clip"), None)
    if clip:
        for vision in clip["vision"].values():
            vision["seconds_per_gif"] = DEFAULT_FRAMES_PER_GIF / vision["images_per_s"]
        for text in clip["text"].values():
            text["minutes_for_20k_rows"] = 20_000 / text["rows_per_s"] / 60
    machine["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    report = {
        "machine": machine,
        "model": model,
        "quick": quick,
        "ingest": ingest,
        "query": query,
        "clip": clip,
        "profile": profile,
    }
    if profile:
        report["stage_profile"] = stage_profile(ingest, profile)
    report["targets"] = check_targets(report)
    return report


# The per-stage profile's rows: (key, label, indent); the write's parts come from replays.
PROFILE_ROWS = (
    ("open", "opening the store (chromadb import, client, collection)", 0),
    ("read", "reading and sampling the source", 0),
    ("hash", "hashing ids (blake2b of URL and of URL + description)", 0),
    ("existing", "existing-id check (none for a new collection)", 0),
    ("encode", "encoding (the job's embed_texts calls)", 0),
    ("write", "write (Chroma add, the job's chunks)", 0),
    ("write_log", "SQLite log and id rows", 1),
    ("write_hnsw", "HNSW insert (Chroma's other threads)", 1),
    ("write_metadata", "metadata rows (url, gif_id, source), indexes", 1),
    ("write_documents", "document rows, full-text (trigram) index", 1),
    ("other", "other (ordering, chunking, the job's glue)", 0),
    ("job", "the job, model load excluded", 0),
)


def write_split(profile: dict) -> dict[str, float]:
    """Return the write's parts as shares of the replayed whole write (which sum to 1).

    What metadata and documents add is the difference between replays; the ids-and-vectors
    replay is split between SQLite and HNSW by its threads' CPU seconds.
    """
    parts = profile["write_parts"]
    vectors, metadata, whole = (parts[k]["seconds"] for k in ("vectors", "metadata", "documents"))
    cpu = parts["vectors"]["sqlite_cpu_seconds"] + parts["vectors"]["other_cpu_seconds"]
    sqlite_share = parts["vectors"]["sqlite_cpu_seconds"] / cpu if cpu > 0 else 0.0
    seconds = {
        "write_log": vectors * sqlite_share,
        "write_hnsw": vectors * (1.0 - sqlite_share),
        "write_metadata": max(0.0, metadata - vectors),
        "write_documents": max(0.0, whole - metadata),
    }
    total = sum(seconds.values())
    return {key: value / total if total > 0 else 0.0 for key, value in seconds.items()}


def stage_profile(ingest: list[dict], profile: dict) -> dict[str, dict[str, float]]:
    """Return seconds per profile row for each precision's ingest at the profile's size."""
    out: dict[str, dict[str, float]] = {}
    split = write_split(profile)
    for row in ingest:
        stages = row.get("stages") or {}
        if row["rows"] != profile["rows"] or not stages:
            continue
        job = row["ingest_seconds"] - row["model_load_seconds"]
        hashing = min(profile["hash_seconds"], stages.get("read", 0.0))
        seconds = {
            "open": stages.get("open", 0.0),
            "read": stages.get("read", 0.0) - hashing,
            "hash": hashing,
            "existing": stages.get("existing", 0.0),
            "encode": stages.get("encode", 0.0),
            "write": stages.get("write", 0.0),
            **{key: share * stages.get("write", 0.0) for key, share in split.items()},
            "job": job,
        }
        counted = ("open", "read", "hash", "existing", "encode", "write")
        seconds["other"] = job - sum(seconds[key] for key in counted)
        seconds["bare_encode"] = row["rows"] / row["encode_rows_per_s"]
        out[row["precision"]] = seconds
    return out


def check_targets(report: dict) -> list[dict]:
    """Return each target with the measured value(s) and whether it is met."""
    checks: list[tuple[str, str, float]] = []
    for row in report["ingest"]:
        label = f"{row['precision']} {row['rows']} rows"
        ratio_target = f"ingest / bare encode, {row['precision']}"
        checks.append((ratio_target, label, row["ingest_vs_encode"]))
        checks.append(("re-ingest / first ingest", label, row["reingest_vs_ingest"]))
        if row["rows"] >= 100_000:
            checks.append(("peak RSS of 100k ingest (MiB)", label, row["ingest_peak_rss_mb"]))
    fp32 = {r["rows"]: r for r in report["ingest"] if r["precision"] == "fp32"}
    for row in report["ingest"]:
        if row["precision"] == "bf16" and row["rows"] in fp32:
            ratio = row["ingest_rows_per_s"] / fp32[row["rows"]]["ingest_rows_per_s"]
            checks.append(("bf16 / fp32 ingest", f"{row['rows']} rows", ratio))
    latency = report["query"]["latency"]
    rows = f"{report['query']['index_rows']} rows"
    checks.append(
        ("search p50 / bare p50", rows, latency["search"]["p50_ms"] / latency["bare"]["p50_ms"])
    )
    checks.append(("HNSW recall@10", rows, report["query"]["hnsw_recall_at_k"]))
    out = []
    for name, where, value in checks:
        threshold, kind = TARGETS[name]
        met = value >= threshold if kind == "min" else value <= threshold
        out.append(
            {"target": name, "where": where, "value": value, "threshold": threshold, "met": met}
        )
    return out


def share(value: float | None) -> str:
    """Return a 0-1 share with two decimals, or '-' when it was not measured."""
    return "-" if value is None else f"{value:.2f}"


def format_stage_profile(report: dict) -> list[str]:
    """Return the per-stage profile table: seconds and share of the job per precision."""
    stages, profile = report["stage_profile"], report["profile"]
    precisions = list(stages)
    header = "".join(f" {p + ' s':>8} {'share':>6}" for p in precisions)
    lines = [
        f"per-stage profile, {profile['rows']} rows: the job's own timers; its write split in "
        "the proportions of the replays below",
        f"{'stage':<58}{header}",
    ]
    for key, label, indent in PROFILE_ROWS:
        cells = ""
        for precision in precisions:
            seconds, job = stages[precision][key], stages[precision]["job"]
            cells += f" {seconds:>8.2f} {100 * seconds / job:>5.1f}%"
        lines.append(f"{'  ' * indent + label:<58}{cells}")
    bare = ""
    for precision in precisions:
        seconds, job = stages[precision]["bare_encode"], stages[precision]["job"]
        bare += f" {seconds:>8.2f} {seconds / job:>6.2f}"
    lines.append(f"{'bare model.encode of the same texts; ratio bare / job':<58}{bare}")
    parts = profile["write_parts"]
    vectors = parts["vectors"]
    lines.append(
        f"write replays ({profile['rows']} rows, {profile['task']['precision']} vectors, "
        f"{profile['chunk_rows']}-row chunks, fresh stores): ids + vectors "
        f"{vectors['seconds']:.2f} s (CPU s: SQLite threads {vectors['sqlite_cpu_seconds']:.2f}, "
        f"other threads {vectors['other_cpu_seconds']:.2f}), + metadata "
        f"{parts['metadata']['seconds']:.2f} s, + documents {parts['documents']['seconds']:.2f} s"
    )
    return lines


def format_report(report: dict) -> str:
    """Return the report as plain-text tables."""
    m = report["machine"]
    lines = [
        f"machine  {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, bf16 {m['bf16']}, "
        f"GPU: {m['gpu']}",
        f"load     before {m['load_average_before']}, after {m['load_average_after']} (1/5/15 min)",
        f"model    {report['model']}"
        + ("  (--quick: RSS not isolated per run)" if report["quick"] else ""),
        "",
        "ingest (rows/s exclude model load)",
        f"{'prec':<5} {'rows':>7} {'data':<34} {'ingest/s':>9} {'encode/s':>9} {'ratio':>6} "
        f"{'RSS MiB':>8} {'re-ingest s':>11} {'vs first':>8} {'others':>11}",
    ]
    for r in report["ingest"]:
        lines.append(
            f"{r['precision']:<5} {r['rows']:>7} {r['data']:<34} {r['ingest_rows_per_s']:>9.0f} "
            f"{r['encode_rows_per_s']:>9.0f} {r['ingest_vs_encode']:>6.2f} "
            f"{r['ingest_peak_rss_mb']:>8.0f} {r['reingest_seconds']:>11.2f} "
            f"{r['reingest_vs_ingest']:>8.3f} "
            f"{share(r.get('ingest_others_cpu_share'))}/{share(r.get('encode_others_cpu_share'))}"
        )
    lines.append(
        "others: the share of the cores other processes kept busy during the ingest / the "
        "bare encode (0.00 = none; above ~0.10 the pair was not measured alike)"
    )
    if report.get("stage_profile"):
        lines += ["", *format_stage_profile(report)]
    q = report["query"]
    lines += [
        "",
        f"query latency, k={q['k']}, {q['index_rows']} rows indexed, {q['queries']} queries, "
        f"{q['precision']}",
        f"{'path':<44} {'p50 ms':>8} {'p99 ms':>8}",
    ]
    names = {
        "search": "SearchEngine.search (end to end)",
        "bare": "bare: model.encode + store.query(k)",
        "encode": "  model.encode alone",
        "query": "  store.query(k) (Chroma) alone",
        "query_overfetch": f"search's steps: store.query({q.get('candidate_rows')} rows)",
        "descriptions": f"  the descriptions of the top {q.get('k')} GIFs, for display",
    }
    for key, label in names.items():
        lat = q["latency"][key]
        lines.append(f"{label:<44} {lat['p50_ms']:>8.2f} {lat['p99_ms']:>8.2f}")
    lines.append(f"HNSW recall@{q['k']} vs exact brute force: {q['hnsw_recall_at_k']:.4f}")
    clip = report["clip"]
    if clip:
        lines += [
            "",
            f"CLIP ViT-B/32, random weights: text tower ({clip['texts']} texts, "
            f"{clip['mean_tokens']:.1f} tokens on average), vision tower ({clip['images']} "
            f"images 224x224)",
        ]
        for precision, text in clip["text"].items():
            vision = clip["vision"][precision]
            lines.append(
                f"{precision:<5} text {text['rows_per_s']:>7.0f} rows/s "
                f"(20k rows: {text['minutes_for_20k_rows']:.1f} min)   vision "
                f"{vision['images_per_s']:>6.1f} images/s ({DEFAULT_FRAMES_PER_GIF} frames/GIF: "
                f"{vision['seconds_per_gif']:.3f} s/GIF)"
            )
    lines += ["", "targets"]
    for t in report["targets"]:
        sign = ">=" if TARGETS[t["target"]][1] == "min" else "<="
        lines.append(
            f"{'met ' if t['met'] else 'MISS'} {t['target']:<30} {t['where']:<20} "
            f"{t['value']:.3f} ({sign} {t['threshold']:g})"
        )
    return "\n".join(lines)
