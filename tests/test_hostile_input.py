"""Hostile and broken input through `gifsearch ingest`: counted skips or one-line errors.

Every case runs against a store that already holds real rows: valid rows in the same file
are never lost, and a refused file leaves the store exactly as it was.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from gifsearch.cli import main
from ingest.job import IngestOptions, run_ingest
from search_app.settings import Settings
from search_app.store import GifStore
from tests.conftest import SAMPLE_LINES, write_tsv
from tests.local_http import serve_routes

GOOD = [line.encode() for line in SAMPLE_LINES[:3]]
BASE_ROWS = 20


def good(*extra: bytes) -> bytes:
    """The three good rows with the hostile lines between them."""
    return GOOD[0] + b"".join(extra) + GOOD[1] + GOOD[2]


# (content, kept rows, drops by reason) for files that ingest with counted skips.
COUNTED = {
    "whitespace-descr": (good(b"https://x.test/w.gif\t   \n", b"https://x.test/v.gif\t\xc2\xa0\n"),
                         3, {"empty_description": 2}),
    "extra-and-missing-tabs": (good(b"https://x.test/a.gif\ta\tb\n", b"https://x.test/b.gif\n"), 3,
                               {"wrong_columns": 2}),
    "bom": (b"\xef\xbb\xbf" + good(), 3, {}),
    "crlf": (good().replace(b"\n", b"\r\n"), 3, {}),
    "invalid-utf8": (good(b"https://x.test/u.gif\ta \xc3\x28 cat\n"), 3, {"undecodable": 1}),
    "nul-bytes": (good(b"https://x.test/n.gif\ta\x00cat\n"), 3, {"control_chars": 1}),
    "one-megabyte-line": (good(b"https://x.test/m.gif\t" + b"y" * 1_000_000 + b"\n"), 3,
                          {"too_long": 1}),
    "bad-schemes": (good(b"javascript:alert(1)\tx\n", b"data:text/html,<b>\tx\n", b"/r.gif\tx\n"),
                    3, {"bad_url": 3}),
    "html-and-script": (good(b"https://x.test/h.gif\t<script>alert(1)</script> a cat\n",
                             b"https://x.test/i.gif\t<img src=x onerror=alert(1)>\n"), 5, {}),
    "exact-duplicates": (good(GOOD[0], GOOD[0]), 3, {"duplicate": 2}),
}  # fmt: skip

# (content or None for a missing file, message) for inputs refused with one line.
REFUSED = {
    "empty-file": (b"", "no usable rows"),
    "header-only": (b"url\tdescription\n", "no usable rows"),
    "binary-file": (random.Random(5).randbytes(200_000), "no usable rows"),
    "missing-path": (None, "does not exist"),
}


@pytest.fixture
def store(tmp_path: Path, cached_loader: Callable) -> Settings:
    """A store already holding BASE_ROWS real rows from another source.

    Filled by run_ingest with the session's MiniLM, as `ingest --model minilm` would.
    """
    settings = Settings(store_dir=tmp_path / "store")
    base = write_tsv(tmp_path / "base.tsv", SAMPLE_LINES[100 : 100 + BASE_ROWS])
    minilm_settings = replace(settings, model="minilm")
    run_ingest(IngestOptions(source=str(base)), minilm_settings, loader=cached_loader)
    return settings


def ingest(settings: Settings, source: Path | str) -> int:
    return main(["ingest", "--source", str(source), "--store", str(settings.store_dir),
                 "--model", "minilm", "--quiet", "--json"])  # fmt: skip


@pytest.mark.parametrize("case", list(COUNTED), ids=list(COUNTED))
def test_bad_lines_are_counted_and_valid_rows_kept(
    case: str, store: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    content, kept, dropped = COUNTED[case]
    path = tmp_path / f"{case}.tsv"
    path.write_bytes(content)
    capsys.readouterr()
    assert ingest(store, path) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert (report["kept"], report["embedded"], report["dropped"]) == (kept, kept, dropped)
    assert "Traceback" not in err
    rows = GifStore(store).read_all()
    assert len(rows) == BASE_ROWS + kept
    stored = {(r.url, r.description) for r in rows}
    for line in GOOD:
        url, description = line.decode().rstrip("\n").split("\t")
        assert (url, description) in stored


@pytest.mark.parametrize("case", list(REFUSED), ids=list(REFUSED))
def test_unusable_input_is_one_line_and_leaves_the_store_untouched(
    case: str, store: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content, message = REFUSED[case]
    path = tmp_path / f"{case}.tsv"
    if content is not None:
        path.write_bytes(content)
    before = sorted(GifStore(store).read_all(), key=lambda r: r.row_id)
    capsys.readouterr()
    assert ingest(store, path) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and message in err
    assert "Traceback" not in err
    assert sorted(GifStore(store).read_all(), key=lambda r: r.row_id) == before


def test_a_url_that_times_out_is_one_line_and_leaves_the_store_untouched(
    store: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIFSEARCH_NETWORK_TIMEOUT_S", "1")
    before = GifStore(store).count()
    with serve_routes({"/gifs.tsv": GOOD[0]}, delay_s=10) as (base, _):
        capsys.readouterr()
        assert ingest(store, f"{base}/gifs.tsv") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "failed" in err and "Traceback" not in err
    assert GifStore(store).count() == before
