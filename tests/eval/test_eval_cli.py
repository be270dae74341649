"""`gifsearch eval` and `gifsearch bench` through the CLI entry point (bench on tiny sizes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gifsearch.cli import main
from tests.conftest import SAMPLE_LINES, write_tsv


def test_eval_prints_a_table_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_tsv(tmp_path / "rows.tsv", SAMPLE_LINES[:300])
    out = tmp_path / "eval.json"
    argv = ["eval", "--source", str(source), "--model", "minilm", "--device", "cpu"]
    code = main([*argv, "--protocol", "all-descriptions", "--quiet", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0
    assert "all-descriptions:" in captured.out
    assert "soft-best *" in captured.out  # search's ranking, marked
    assert "target GIF with 1 findable description(s)" in captured.out  # a stratum table
    data = json.loads(out.read_text())
    variants = data["protocols"]["all-descriptions"]["variants"]
    bm25, search = variants["bm25"]["all"], variants["soft-best"]["all"]
    assert 0.0 <= bm25["recall@10"]["value"] <= search["recall@10"]["value"] <= 1.0
    assert data["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert data["default_variant"] == "soft-best" and data["baseline"] == "best"


def test_eval_reads_several_sources_as_one_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write_tsv(tmp_path / "a.tsv", SAMPLE_LINES[:150])
    second = write_tsv(tmp_path / "b.tsv", SAMPLE_LINES[150:300] + SAMPLE_LINES[:10])
    argv = ["eval", "--source", str(first), str(second), "--model", "minilm", "--json"]
    code = main([*argv, "--protocol", "all-descriptions", "--quiet"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["sources"] == [str(first.resolve()), str(second.resolve())]
    assert data["rows"] == 300  # the 10 repeated rows are read once


def test_eval_on_a_folder_of_gifs_fails_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "gifs"
    folder.mkdir()
    (folder / "a.gif").write_bytes(b"GIF89a")  # a folder of GIFs has no descriptions
    code = main(["eval", "--source", str(folder), "--model", "minilm", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and err[0].startswith("gifsearch: error: source ")
    assert "folder of GIFs" in err[0] and "TGIF-format file" in err[0]


def test_eval_on_rows_without_shared_urls_fails_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_tsv(tmp_path / "single.tsv", ["https://x.test/a.gif\ta cat sleeps .\n"])
    code = main(["eval", "--source", str(source), "--model", "minilm", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1].startswith("gifsearch: error: no GIF in")
    assert "two or more descriptions" in err[-1]


@pytest.mark.parametrize(
    "argv",
    [["eval", "--protocol", "best"], ["bench", "--sizes", "ten"], ["bench", "--precisions", "fp8"]],
    ids=["eval-protocol", "bench-sizes", "bench-precision"],
)
def test_bad_flags_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2


def test_bench_quick_runs_every_measurement_on_tiny_sizes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    code = main(["bench", "--quick", "--no-progress", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0
    assert "targets" in captured.out
    data = json.loads(out.read_text())
    (ingest,) = data["ingest"]
    assert ingest["rows"] == 100
    assert ingest["ingest_rows_per_s"] > 0 and ingest["encode_rows_per_s"] > 0
    assert ingest["reingest_seconds"] < ingest["ingest_seconds"]
    assert data["query"]["hnsw_recall_at_k"] > 0.9
    assert {"search", "bare", "encode", "query"} <= set(data["query"]["latency"])
    assert data["clip"]["text_parameters"] > 60_000_000  # the real ViT-B/32 text tower
    ratio = f"ingest / bare encode, {ingest['precision']}"
    assert {t["target"] for t in data["targets"]} >= {ratio, "HNSW recall@10"}
    stages = data["stage_profile"][ingest["precision"]]  # the per-stage profile, 100 rows
    assert all(stages[key] >= 0 for key in ("read", "hash", "encode", "write", "write_hnsw"))
    parts = ("write_log", "write_hnsw", "write_metadata", "write_documents")
    assert sum(stages[key] for key in parts) == pytest.approx(stages["write"])
    assert stages["encode"] > 0 and 0 < stages["job"] < ingest["ingest_seconds"]
    assert "per-stage profile, 100 rows" in captured.out
    assert data["machine"]["cores"] >= 1
