"""The CLI with frames: ingest a GIF folder, search by text and by image, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from gifsearch.cli import main
from tests.conftest import write_tsv
from tests.frames.conftest import SET_OF_GIFS, write_gif_folder


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, tiny_clip_dir: Path) -> Path:
    """A store filled by `gifsearch ingest --source FOLDER` with the tiny CLIP, once per module
    (its tests only search it)."""
    root = tmp_path_factory.mktemp("cli-store")
    gif_folder = write_gif_folder(root / "gifs")
    store = root / "store"
    code = main(["ingest", "--source", str(gif_folder), "--store", str(store),
                 "--model", str(tiny_clip_dir), "--precision", "fp32", "--quiet"])  # fmt: skip
    assert code == 0
    return store


@pytest.fixture
def png(tmp_path: Path) -> Path:
    """The first frame of blue-square.gif as a PNG file."""
    path = tmp_path / "query.png"
    (Path(tmp_path) / "q.gif").write_bytes(SET_OF_GIFS["blue-square.gif"])
    Image.open(tmp_path / "q.gif").convert("RGB").save(path)
    return path


def test_folder_ingest_prints_the_frames_summary(
    tmp_path: Path, gif_folder: Path, tiny_clip_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        ["ingest", "--source", str(gif_folder), "--store", str(tmp_path / "s"),
         "--model", str(tiny_clip_dir), "--frame-strategy", "even", "--frames-per-gif", "2",
         "--quiet"], capsys)  # fmt: skip
    assert code == 0
    assert "frames      8 from 4 GIFs (even-2; 0 GIFs already had them)" in out
    assert "GIFs failed 0 (" in out and "frame time" in out


def test_search_by_image_finds_the_gif(
    store: Path, png: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["search", "--image", str(png), "-k", "2", "--json",
                        "--store", str(store)], capsys)  # fmt: skip
    hits = json.loads(out)
    assert code == 0 and hits[0]["url"].endswith("/blue-square.gif")
    assert hits[0]["matched"] == ["frame"] and hits[0]["description"] == ""


def test_text_results_say_what_matched(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["search", "a blue square", "-k", "4", "--store", str(store)], capsys)
    assert code == 0
    assert out.count("(no description)  [matched: frame ") == 4


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("missing.png", "image {tmp}/missing.png does not exist"),
        ("notes.txt", "can't read image {tmp}/notes.txt: not an image format Pillow can decode"),
    ],
    ids=["missing", "not-an-image"],
)
def test_bad_image_queries_are_one_line_errors(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], image: str, message: str
) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    code, out, err = run(["search", "--image", str(tmp_path / image), "--store", str(store)],
                         capsys)  # fmt: skip
    assert code == 1 and out == ""
    assert err == f"gifsearch: error: {message.format(tmp=tmp_path)}\n"


def test_image_search_on_a_text_only_collection_says_why(
    tmp_path: Path, png: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_tsv(tmp_path / "rows.tsv", ["https://x.test/1.gif\ta dog runs\n"])
    store = str(tmp_path / "minilm")
    assert main(["ingest", "--source", str(source), "--store", store, "--model", "minilm",
                 "--quiet"]) == 0  # fmt: skip
    capsys.readouterr()
    code, out, err = run(["search", "--image", str(png), "--store", store], capsys)
    assert code == 1 and out == ""
    assert err == (
        'gifsearch: error: collection "gifs" uses sentence-transformers/all-MiniLM-L6-v2, '
        "which can't embed images; ingest with --model clip to search by image\n"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["search"],
        ["search", "a dog", "--image-weight", "1.5"],
        ["ingest", "--frames-per-gif", "0"],
        ["ingest", "--frames-per-gif", "17"],
        ["ingest", "--frame-strategy", "random"],
    ],
    ids=["no-query", "image-weight-over-1", "zero-frames", "too-many-frames", "bad-strategy"],
)
def test_bad_frame_flags_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(args)
    assert caught.value.code == 2
    assert "Traceback" not in capsys.readouterr().err
