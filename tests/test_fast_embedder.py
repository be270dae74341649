"""The ONNX query embedder: built from the real MiniLM and the tiny CLIP, checked against
the sentence-transformers path, refused when its directory is not a verified build."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from search_app.embedders import onnx_export
from search_app.embedders.frames import open_image, query_frames
from search_app.embedders.onnx_embedder import (
    MANIFEST_NAME,
    PROBE_MIN_COSINE,
    TEXT_MODEL_FILE,
    TOKENIZER_FILE,
    hub_cache_dir,
    length_batches,
    load_onnx_embedder,
    model_files_dir,
    onnx_dir_for,
)
from search_app.embedders.onnx_export import (
    PROBE_TEXTS,
    build_onnx_embedder,
    row_cosines,
    token_mismatches,
)
from search_app.embedders.sbert import (
    CLIP_NAME,
    Embedder,
    ModelSpec,
    bundled_minilm_path,
    load_embedder,
    resolve_model_spec,
)
from search_app.errors import ImagesUnsupportedError, OnnxBuildError, OnnxModelError
from tests.conftest import SAMPLE_LINES
from tests.tiny_clip import save_hub_layout

REPO = Path(__file__).resolve().parents[1]
HEAVY_MODULES = ("torch", "transformers", "sentence_transformers", "sklearn", "huggingface_hub")
UNSEEN_EDGE_TEXTS = [
    "A DOG and a cat, dancing!!! on the roof ...",
    "émoji 🙂 and ünïcödé in a query",
    " ".join(["the guy keeps running in circles on the stage while people laugh"] * 25),
    "  ",
    "x",
]


def sample_descriptions(start: int, count: int) -> list[str]:
    """Return count real TGIF descriptions (column 2) from the sample, from line start."""
    lines = SAMPLE_LINES[start : start + count]
    return [line.rstrip("\n").split("\t")[1] for line in lines]


def unseen_images() -> list[Image.Image]:
    """Images unlike the probe's: other sizes and modes, plus frames of an animated GIF
    picked as a search picks them."""
    rng = np.random.default_rng(123)
    frames = [
        Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).quantize(8)
        for _ in range(4)
    ]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], transparency=0)
    return [
        Image.fromarray(rng.integers(0, 256, (123, 77, 3), dtype=np.uint8)),
        Image.fromarray(rng.integers(0, 256, (20, 200), dtype=np.uint8), mode="L"),
        Image.fromarray(rng.integers(0, 256, (64, 64, 4), dtype=np.uint8), mode="RGBA"),
        Image.fromarray(rng.integers(0, 256, (31, 31, 3), dtype=np.uint8)).convert("CMYK"),
        *query_frames(open_image(gif.getvalue())),
    ]


@pytest.fixture(scope="module")
def minilm_fp32() -> Embedder:
    """The bundled MiniLM through sentence-transformers at fp32 (the reference path)."""
    return load_embedder("minilm", device="cpu", precision="fp32")


@pytest.fixture(scope="module")
def minilm_onnx_dir(minilm_fp32: Embedder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The MiniLM export, built once for the module."""
    return build_onnx_embedder(minilm_fp32, tmp_path_factory.mktemp("onnx") / "minilm")


@pytest.fixture(scope="module")
def clip_fp32(tiny_clip_dir: Path) -> Embedder:
    """The tiny CLIP through sentence-transformers at fp32."""
    return load_embedder(str(tiny_clip_dir), device="cpu", precision="fp32")


@pytest.fixture(scope="module")
def clip_onnx_dir(clip_fp32: Embedder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny CLIP export (text and vision towers), built once for the module."""
    return build_onnx_embedder(clip_fp32, tmp_path_factory.mktemp("onnx") / "tiny-clip")


def test_minilm_onnx_matches_sentence_transformers_on_unseen_texts(
    minilm_fp32: Embedder, minilm_onnx_dir: Path
) -> None:
    texts = sample_descriptions(1000, 300)
    assert not set(texts + UNSEEN_EDGE_TEXTS) & set(PROBE_TEXTS)
    onnx = load_onnx_embedder(minilm_onnx_dir)
    # Apart: in one call sentence-transformers would pad a batch of 256 to the long text.
    wanted = np.concatenate(
        [minilm_fp32.embed_texts(texts), minilm_fp32.embed_texts(UNSEEN_EDGE_TEXTS)]
    )
    got = onnx.embed_texts(texts + UNSEEN_EDGE_TEXTS, batch_size=64)
    assert got.shape == wanted.shape == (len(texts) + len(UNSEEN_EDGE_TEXTS), 384)
    assert got.dtype == np.float32
    assert row_cosines(wanted, got).min() >= PROBE_MIN_COSINE
    queries = texts[:5] + UNSEEN_EDGE_TEXTS
    singles = np.stack([onnx.embed_query(text) for text in queries])
    wanted_singles = np.stack([minilm_fp32.embed_query(text) for text in queries])
    assert row_cosines(wanted_singles, singles).min() >= PROBE_MIN_COSINE
    assert np.allclose(np.linalg.norm(singles, axis=1), 1.0, atol=1e-5)


def test_minilm_onnx_ranks_like_sentence_transformers(
    minilm_fp32: Embedder, minilm_onnx_dir: Path
) -> None:
    documents = sample_descriptions(2000, 300)
    queries = sample_descriptions(3000, 40)
    onnx = load_onnx_embedder(minilm_onnx_dir)
    wanted_scores = minilm_fp32.embed_texts(queries) @ minilm_fp32.embed_texts(documents).T
    got_scores = np.stack([onnx.embed_query(q) for q in queries]) @ onnx.embed_texts(documents).T
    wanted_top, got_top = wanted_scores.argmax(axis=1), got_scores.argmax(axis=1)
    rows = np.arange(len(queries))
    near_ties = np.abs(wanted_scores[rows, wanted_top] - wanted_scores[rows, got_top]) < 1e-4
    assert np.all((wanted_top == got_top) | near_ties)
    assert np.mean(wanted_top == got_top) >= 0.95


def test_tiny_clip_onnx_matches_texts_and_images(clip_fp32: Embedder, clip_onnx_dir: Path) -> None:
    onnx = load_onnx_embedder(clip_onnx_dir)
    assert onnx.supports_images and onnx.dimension == clip_fp32.dimension == 16
    texts = ["a dog is dancing", "two cats are sleeping on a car", *UNSEEN_EDGE_TEXTS]
    text_cosines = row_cosines(clip_fp32.embed_texts(texts), onnx.embed_texts(texts))
    assert text_cosines.min() >= PROBE_MIN_COSINE
    query = clip_fp32.embed_query("a red ball")
    assert float(query @ onnx.embed_query("a red ball")) >= PROBE_MIN_COSINE
    images = unseen_images()
    wanted, got = clip_fp32.embed_images(images), onnx.embed_images(images, batch_size=3)
    assert got.shape == (len(images), 16)
    assert row_cosines(wanted, got).min() >= PROBE_MIN_COSINE
    wanted_top = (clip_fp32.embed_texts(texts) @ wanted.T).argmax(axis=1)
    assert np.array_equal(wanted_top, (onnx.embed_texts(texts) @ got.T).argmax(axis=1))


def test_tokenizer_that_truncates_differently_is_caught(
    clip_fp32: Embedder, clip_onnx_dir: Path
) -> None:
    onnx = load_onnx_embedder(clip_onnx_dir)
    texts = ["a dog", "two people are dancing on the stage with a ball"]
    assert token_mismatches(clip_fp32, onnx, texts) == []
    onnx.tokenizer.enable_truncation(5)
    assert token_mismatches(clip_fp32, onnx, texts) == texts[1:]


def test_loading_and_embedding_import_no_torch(minilm_onnx_dir: Path, clip_onnx_dir: Path) -> None:
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from PIL import Image\n"
        "from search_app.embedders.onnx_embedder import load_onnx_embedder\n"
        f"text = load_onnx_embedder(Path({str(minilm_onnx_dir)!r}))\n"
        "text.embed_query('a dog runs')\n"
        "text.embed_texts(['one', 'two words'])\n"
        f"clip = load_onnx_embedder(Path({str(clip_onnx_dir)!r}))\n"
        "clip.embed_query('a cat')\n"
        "clip.embed_images([Image.new('RGB', (40, 30), 'red')])\n"
        f"print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_embedder_surface_matches_embedder(minilm_fp32: Embedder, minilm_onnx_dir: Path) -> None:
    onnx = load_onnx_embedder(minilm_onnx_dir)
    assert onnx.spec == minilm_fp32.spec == ModelSpec(ref="minilm", name=minilm_fp32.name)
    assert (onnx.name, onnx.dimension) == (minilm_fp32.name, minilm_fp32.dimension)
    assert (onnx.device, onnx.precision, onnx.notice) == ("cpu", "fp32", None)
    assert onnx.describe() == f"{onnx.name} on cpu (fp32, ONNX Runtime)"
    vector = onnx.embed_query("a man is playing guitar")
    assert vector.shape == (384,) and vector.dtype == np.float32
    progress: list[int] = []
    assert onnx.embed_texts(["a", "b", "c"], on_progress=progress.append).shape == (3, 384)
    assert progress == [3]
    assert onnx.embed_texts([]).shape == (0, 384)


def test_length_batches_keep_long_texts_apart() -> None:
    batches = length_batches([3, 256, 4, 5, 5, 5], batch_size=2)
    assert [batch.tolist() for batch in batches] == [[1], [3, 4], [5, 2], [0]]


def test_text_only_model_refuses_images(minilm_onnx_dir: Path) -> None:
    onnx = load_onnx_embedder(minilm_onnx_dir)
    assert not onnx.supports_images
    with pytest.raises(ImagesUnsupportedError, match="can't embed images"):
        onnx.embed_images([Image.new("RGB", (8, 8))])


def corrupt_missing_dir(directory: Path) -> Path:
    shutil.rmtree(directory)
    return directory


def corrupt_half_written(directory: Path) -> Path:
    (directory / MANIFEST_NAME).unlink()
    return directory


def corrupt_bad_json(directory: Path) -> Path:
    (directory / MANIFEST_NAME).write_text('{"format": 1, "name": ', encoding="utf-8")
    return directory


def edit_manifest(directory: Path, **changes: object) -> Path:
    path = directory / MANIFEST_NAME
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(json.dumps(data), encoding="utf-8")
    return directory


def corrupt_unverified(directory: Path) -> Path:
    return edit_manifest(directory, probe=None)


def corrupt_failed_probe(directory: Path) -> Path:
    return edit_manifest(directory, probe={"passed": True, "min_cosine": 0.97})


def corrupt_old_format(directory: Path) -> Path:
    return edit_manifest(directory, format=0)


def corrupt_no_kind(directory: Path) -> Path:
    return edit_manifest(directory, kind="bag-of-words")


def corrupt_missing_tokenizer(directory: Path) -> Path:
    (directory / TOKENIZER_FILE).unlink()
    return directory


def corrupt_truncated_model(directory: Path) -> Path:
    path = directory / TEXT_MODEL_FILE
    path.write_bytes(path.read_bytes()[:1000])
    return directory


def corrupt_overwritten_model(directory: Path) -> Path:
    path = directory / TEXT_MODEL_FILE
    data = bytearray(path.read_bytes())
    data[-4000:] = bytes(4000)  # same size, weights zeroed: only a hash or the check sees it
    path.write_bytes(bytes(data))
    return directory


def corrupt_check_vector(directory: Path) -> Path:
    check = json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))["check"]
    vector = np.zeros(len(check["vector"]))
    vector[np.argmin(check["vector"])] = 1.0  # a unit vector far from the real one
    return edit_manifest(directory, check={"text": check["text"], "vector": vector.tolist()})


REFUSALS = [
    pytest.param(corrupt_missing_dir, "does not exist", id="missing-directory"),
    pytest.param(corrupt_half_written, "no manifest.json", id="half-written"),
    pytest.param(corrupt_bad_json, "unreadable", id="corrupt-manifest"),
    pytest.param(corrupt_unverified, "never verified", id="unverified"),
    pytest.param(corrupt_failed_probe, "never verified", id="probe-below-threshold"),
    pytest.param(corrupt_old_format, "format 0", id="other-format"),
    pytest.param(corrupt_no_kind, "incomplete", id="unknown-kind"),
    pytest.param(corrupt_missing_tokenizer, "lacks tokenizer.json", id="missing-file"),
    pytest.param(corrupt_truncated_model, "bytes, the manifest says", id="truncated-file"),
    pytest.param(corrupt_overwritten_model, "SHA-256", id="same-size-corruption"),
    pytest.param(corrupt_check_vector, "another vector than when built", id="check-vector"),
]


@pytest.mark.parametrize(("corrupt", "message"), REFUSALS)
def test_broken_directory_is_refused_in_one_line(
    clip_onnx_dir: Path, tmp_path: Path, corrupt, message: str
) -> None:
    directory = corrupt(Path(shutil.copytree(clip_onnx_dir, tmp_path / "build")))
    with pytest.raises(OnnxModelError, match=message) as caught:
        load_onnx_embedder(directory, check_hashes=True)
    assert "\n" not in str(caught.value)


def test_failed_verification_raises_and_leaves_no_directory(
    clip_fp32: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnx_export, "PROBE_MIN_COSINE", 1.5)  # no build can reach it
    with pytest.raises(OnnxBuildError, match="probe min cosine") as caught:
        build_onnx_embedder(clip_fp32, tmp_path / "build")
    assert caught.value.min_cosine is not None and caught.value.min_cosine > 0.999
    assert list(tmp_path.iterdir()) == []


def test_rebuild_replaces_an_old_directory_and_leaves_no_temp(
    clip_fp32: Embedder, tmp_path: Path
) -> None:
    directory = tmp_path / "build"
    directory.mkdir()
    (directory / "stale.txt").write_text("from an earlier build", encoding="utf-8")
    build_onnx_embedder(clip_fp32, directory)
    assert [path.name for path in tmp_path.iterdir()] == ["build"]
    assert not (directory / "stale.txt").exists()
    assert load_onnx_embedder(directory, check_hashes=True).supports_images


def test_model_with_layers_after_pooling_is_refused(minilm_fp32: Embedder, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense

    transformer, pooling = minilm_fp32.model[0], minilm_fp32.model[1]
    model = SentenceTransformer(modules=[transformer, pooling, Dense(384, 8)], device="cpu")
    dense = Embedder(model, minilm_fp32.spec, "cpu", "fp32")
    with pytest.raises(OnnxBuildError, match=r"modules after pooling \(Dense\)"):
        build_onnx_embedder(dense, tmp_path / "build")
    assert list(tmp_path.iterdir()) == []


def test_dir_name_changes_when_a_model_file_changes(tiny_clip_dir: Path, tmp_path: Path) -> None:
    model_dir = Path(shutil.copytree(tiny_clip_dir, tmp_path / "My Tiny CLIP"))
    spec = resolve_model_spec(str(model_dir))
    first = onnx_dir_for(tmp_path / "cache", spec, model_dir)
    assert first == onnx_dir_for(tmp_path / "cache", spec, model_dir)
    assert first.parent == tmp_path / "cache" and first.name.startswith("my-tiny-clip-")
    config = model_dir / "config.json"
    stat = config.stat()
    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000))
    touched = onnx_dir_for(tmp_path / "cache", spec, model_dir)
    (model_dir / "extra.txt").write_text("x", encoding="utf-8")
    added = onnx_dir_for(tmp_path / "cache", spec, model_dir)
    assert len({first, touched, added}) == 3


def test_model_files_dir_finds_bundled_local_and_cached_models(
    tiny_clip_dir: Path, tmp_path: Path
) -> None:
    assert model_files_dir(resolve_model_spec("minilm")) == bundled_minilm_path()
    assert model_files_dir(resolve_model_spec(str(tiny_clip_dir))) == tiny_clip_dir
    clip = resolve_model_spec("clip")
    assert model_files_dir(clip, hub_cache=tmp_path) is None
    repo = tmp_path / "models--sentence-transformers--clip-ViT-B-32"
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123", encoding="utf-8")
    assert model_files_dir(clip, hub_cache=tmp_path) == repo / "snapshots" / "abc123"
    short = ModelSpec(ref="clip-ViT-B-32", name="clip-ViT-B-32")
    assert model_files_dir(short, hub_cache=tmp_path) == repo / "snapshots" / "abc123"
    assert model_files_dir(ModelSpec(ref=CLIP_NAME, name=CLIP_NAME), hub_cache=tmp_path)


def test_clip_preset_in_the_hub_layout_builds_from_the_cache(
    tiny_clip_dir: Path, tmp_path: Path
) -> None:
    hub = tmp_path / "hub"
    repo = hub / "models--sentence-transformers--clip-ViT-B-32"
    snapshot = save_hub_layout(tiny_clip_dir, repo / "snapshots" / "0123abcd")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd", encoding="utf-8")
    spec = resolve_model_spec("clip")
    model_dir = model_files_dir(spec, hub_cache=hub)
    assert model_dir == snapshot
    loaded = load_embedder(str(model_dir), device="cpu", precision="fp32")
    clip = Embedder(loaded.model, spec, "cpu", "fp32")  # as load_embedder("clip") gives it
    directory = build_onnx_embedder(clip, onnx_dir_for(tmp_path / "onnx", spec, model_dir))
    assert directory.name.startswith("sentence-transformers-clip-vit-b-32-")
    onnx = load_onnx_embedder(directory)
    assert (onnx.name, onnx.spec.ref, onnx.supports_images) == (CLIP_NAME, "clip", True)
    manifest = json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert manifest["max_length"] == 77
    assert manifest["image_preprocessing"]["shortest_edge"] == 32  # from "size": 32
    images = unseen_images()
    got, wanted = onnx.embed_images(images), clip.embed_images(images)
    assert row_cosines(wanted, got).min() >= PROBE_MIN_COSINE


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "~/.cache/huggingface/hub"),
        ({"XDG_CACHE_HOME": "/x"}, "/x/huggingface/hub"),
        ({"HF_HOME": "/h", "XDG_CACHE_HOME": "/x"}, "/h/hub"),
        ({"HF_HUB_CACHE": "/c", "HF_HOME": "/h"}, "/c"),
        ({"SENTENCE_TRANSFORMERS_HOME": "/s", "HF_HUB_CACHE": "/c"}, "/s"),
    ],
    ids=["default", "xdg", "hf-home", "hf-hub-cache", "sentence-transformers-home"],
)
def test_hub_cache_dir_follows_the_environment(environ: dict[str, str], expected: str) -> None:
    assert hub_cache_dir(environ) == Path(expected).expanduser()
