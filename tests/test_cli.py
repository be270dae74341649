"""The gifsearch CLI through its entry point: exit codes, summaries and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gifsearch.cli import main
from tests.conftest import SAMPLE_LINES, write_tsv

SUMMARY_FIELDS = (
    "rows read",
    "kept",
    "dropped",
    "embedded",
    "unchanged",
    "upserted",
    "seconds",
    "rows/s",
    "model",
    "device",
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store filled once by `gifsearch ingest` from 200 real rows plus two bad ones."""
    root = tmp_path_factory.mktemp("cli")
    source = write_tsv(root / "gifs.tsv", SAMPLE_LINES[:200] + ["no tab here\n", "x\ty\n"])
    code = main(["ingest", "--source", str(source), "--store", str(root / "store"),
                 "--model", "minilm", "--quiet"])  # fmt: skip
    assert code == 0
    return root / "store"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_ingest_prints_every_summary_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_tsv(tmp_path / "gifs.tsv", SAMPLE_LINES[:20] + ["no tab here\n"])
    code, out, err = run(
        ["ingest", "--source", str(source), "--store", str(tmp_path / "s"), "--model", "minilm",
         "--quiet"], capsys)  # fmt: skip
    assert code == 0
    for field in SUMMARY_FIELDS:
        assert any(line.startswith(field) for line in out.splitlines()), field
    assert "wrong_columns 1" in out
    assert "embedded    20" in out


def test_ingest_json_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_tsv(tmp_path / "gifs.tsv", SAMPLE_LINES[:10])
    code, out, _ = run(
        ["ingest", "--source", str(source), "--store", str(tmp_path / "s"), "--model", "minilm",
         "--quiet", "--json"], capsys)  # fmt: skip
    report = json.loads(out)
    assert code == 0
    assert (report["embedded"], report["kept"], report["dropped"]) == (10, 10, {})


def test_search_prints_a_readable_table(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["search", "two dogs playing", "-k", "3", "--store", str(store)], capsys)
    assert code == 0
    ranks = [line for line in out.splitlines() if line[:3].strip().rstrip(".").isdigit()]
    assert len(ranks) == 3
    assert "https://" in ranks[0]


def test_search_json(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        ["search", "a man dancing", "-k", "4", "--json", "--store", str(store)], capsys
    )
    hits = json.loads(out)
    assert code == 0 and len(hits) == 4
    assert set(hits[0]) >= {"gif_id", "url", "score", "description", "other_descriptions"}
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


# A query's -words wherever they stand (issue 22, case 18: "-ball a dog" was refused as an
# unknown flag unless written after --); (argv after "search", the same query quoted whole)
MINUS_WORDS = {
    "leading": (["-ball", "a", "dog", "plays"], "a dog plays -ball"),
    "leading-quoted": (["-ball a dog plays"], "a dog plays -ball"),
    "trailing-words": (["a", "dog", "plays", "-ball", "-cat"], "a dog plays -ball -cat"),
    "like-a-short-flag": (["a", "dog", "plays", "-kitten", "-happy"],
                          "a dog plays -kitten -happy"),
    "phrase": (["a", "dog", "plays", '-"red ball"'], 'a dog plays -"red ball"'),
    "leading-kitten-quoted": (["-kitten plays with a dog"], "plays with a dog -kitten"),
    "between-flags": (["-k", "4", "-ball", "a", "dog", "--json"], "a dog -ball"),
    "after-dashes": (["a", "dog", "--", "-ball"], "a dog -ball"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(MINUS_WORDS), ids=list(MINUS_WORDS))
def test_a_querys_minus_words_are_query_words_wherever_they_stand(
    store: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    words, quoted = MINUS_WORDS[case]
    flags = ["--store", str(store), "--json"]
    k = ["-k", "4"] if "-k" not in words else []
    code, out, err = run(["search", *flags, *k, *words], capsys)
    assert code == 0 and "Traceback" not in err, err
    code, expected, _ = run(["search", quoted, *flags, "-k", "4"], capsys)
    assert code == 0 and json.loads(out) == json.loads(expected) and len(json.loads(out)) == 4


def test_a_glued_short_flag_is_still_a_flag(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["search", "a", "dog", "-k3", "--store", str(store), "--json"], capsys)
    assert code == 0 and len(json.loads(out)) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "--source", "no/such.tsv"], "source file no/such.tsv does not exist"),
        (["search", "a dog", "--collection", "nothing-here"], 'no collection "nothing-here"'),
        (["search", "   "], "the query is empty"),
        (["search", "a dog", "--model", "clip"], "was built with"),
    ],
    ids=["missing-source", "missing-collection", "empty-query", "model-mismatch"],
)
def test_expected_failures_are_one_line_exit_1(
    store: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run([*args, "--store", str(store)], capsys)
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("gifsearch: error: ")
    assert message in err
    assert "Traceback" not in err and out == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "a dog", "-k", "0"], "k 0 is out of range: use 1 to 50"),
        (["ingest", "--limit", "many"], "is not a whole number"),
        (["frobnicate"], "invalid choice"),
        (["ingest", "--collection", "ab"], "'ab' is too short"),
        (["search", "a dog", "--chroma-port", "0"], "is not between 1 and 65535"),
        (["search", "a dog", "--precision", "fp8"], "is not one of auto, fp32, bf16, fp16"),
        (["ingest", "--network-timeout", "0"], "must be above 0 s"),
        (["search", "a dog", "--no-such-flag=secret"], "unrecognized arguments: --no-such-flag"),
    ],
    ids=[
        "k-zero",
        "limit-not-a-number",
        "unknown-command",
        "short-collection",
        "port-zero",
        "precision",
        "timeout-zero",
        "unknown-flag",
    ],
)
def test_bad_flags_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(args)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and "secret" not in err


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("GIFSEARCH_COLLECTION", "ab", "collection name 'ab' is too short"),
        ("GIFSEARCH_CHROMA_PORT", "many", "GIFSEARCH_CHROMA_PORT='many' is not a whole number"),
        ("GIFSEARCH_CHROMA_SSL", "maybe", "GIFSEARCH_CHROMA_SSL='maybe' is not one of"),
        ("GIFSEARCH_DEVICE", "tpu", "device 'tpu' is not one of"),
    ],
    ids=["short-collection", "port-text", "ssl-word", "device"],
)
def test_bad_environment_values_are_one_line_exit_1(
    variable: str,
    value: str,
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(variable, value)
    code, _, err = run(["search", "a dog"], capsys)
    assert code == 1 and err.count("\n") == 1 and message in err


def test_help_shows_defaults_and_variables(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["ingest", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: 20,000)" in out and "(default: gifs; env GIFSEARCH_COLLECTION)" in out
    assert "GIFSEARCH_NETWORK_TIMEOUT_S --network-timeout" in out


def test_console_script_falls_back_to_minilm_offline_and_says_so(tmp_path: Path) -> None:
    source = write_tsv(tmp_path / "gifs.tsv", SAMPLE_LINES[:5])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}  # no CLIP cached
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gifsearch",
            "ingest",
            "--source",
            str(source),
            "--store",
            str(tmp_path / "s"),
            "--quiet",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    notice = [line for line in result.stderr.splitlines() if "CLIP" in line]
    assert len(notice) == 1
    assert "using the bundled sentence-transformers/all-MiniLM-L6-v2" in notice[0]
    assert "model       sentence-transformers/all-MiniLM-L6-v2" in result.stdout


def test_server_mode_by_flags_and_by_environment(
    chroma_server: tuple[str, int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host, port = chroma_server
    source = write_tsv(tmp_path / "gifs.tsv", SAMPLE_LINES[:30])
    code, out, _ = run(
        ["ingest", "--source", str(source), "--chroma-host", host, "--chroma-port", str(port),
         "--collection", "cli-server", "--model", "minilm", "--quiet"], capsys)  # fmt: skip
    assert code == 0 and "embedded    30" in out
    assert not (tmp_path / "chroma_store").exists()
    monkeypatch.setenv("GIFSEARCH_CHROMA_HOST", host)
    monkeypatch.setenv("GIFSEARCH_CHROMA_PORT", str(port))
    code, out, _ = run(
        ["search", "a man", "-k", "2", "--json", "--collection", "cli-server"], capsys
    )
    assert code == 0 and len(json.loads(out)) == 2


def test_unreachable_server_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.chroma_server import free_port

    code, out, err = run(
        ["search", "a dog", "--chroma-host", "127.0.0.1", "--chroma-port", str(free_port())],
        capsys,
    )
    assert code == 1
    assert err.startswith("gifsearch: error: can't reach the Chroma server http://127.0.0.1:")
    assert err.count("\n") == 1
