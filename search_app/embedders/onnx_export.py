"""The ONNX builder: exports a loaded model's towers for fast_embedder, and verifies them.

It imports torch, transformers and sentence-transformers, but only inside functions: a
search that merely loads a build never pays for them. A build is made in a hidden temp
directory beside its target, verified against the sentence-transformers path on a fixed
probe set, and only then renamed into place, so load_onnx_embedder never meets a
half-built one.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from search_app.embedders.image_preprocessing import ImagePreprocessing, three_floats
from search_app.embedders.onnx_embedder import (
    FORMAT_VERSION,
    IMAGE_MODEL_FILE,
    KIND_CLIP,
    KIND_TEXT,
    MANIFEST_NAME,
    POOLING_MODES,
    PROBE_MIN_COSINE,
    TEXT_MODEL_FILE,
    TOKENIZER_FILE,
    OnnxEmbedder,
    file_sha256,
    model_files_dir,
    open_embedder,
    parse_manifest,
)
from search_app.embedders.sbert import Embedder, load_model, normalize_rows
from search_app.errors import ModelLoadError, OnnxBuildError, first_line

VERSIONED_PACKAGES = (
    "torch", "onnxruntime", "tokenizers", "transformers", "sentence-transformers", "onnx"
)  # fmt: skip
ONNX_OPSET = 17  # LayerNormalization is one node from 17 on
VERIFY_THREADS = 2
_LONG_SCENE = "the man in the red shirt keeps dancing on the stage while two people clap"
PROBE_TEXTS: tuple[str, ...] = (
    "a man is dancing on a stage .",
    "Two dogs are playing with a red ball in the park.",
    "A CAT JUMPS OFF THE TABLE!!!",
    "the girl laughs, then waves; the boy (in blue) runs away...",
    "¿Dónde está la biblioteca? Café, naïve, résumé.",
    "一只猫在沙发上睡觉",
    "Ein Hund läuft über die Straße.",
    "emoji: 🐶🎉😂 dog party",
    "",
    "   leading and trailing spaces   ",
    "tabs\tand\nnewlines\r\nin the text",
    "a",
    "numbers 1 2 3 4.5 -6 1,000,000 and 3:45 pm",
    "http://example.com/path?query=1&x=2 <b>bold</b> tags",
    "it's a woman who doesn't stop smiling",
    "ALL CAPS SHOUTING ABOUT A GUY EATING PIZZA",
    "mIxEd CaSe TeXt AbOuT a DoG",
    "a person is riding a horse on the beach at sunset .",
    "Ελληνικά: ένας σκύλος τρέχει. По-русски: кошка спит.",
    "العربية: رجل يرقص",
    "repeated repeated repeated repeated words",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    'He said: "hello" — and left… (again)',
    "zero-width\u200bspace and non-breaking\u00a0space",
    "a;b;c;d;e;f;g",
    "a very long description: " + " and ".join([_LONG_SCENE] * 30),
    "; ".join(["dogs, cats & birds!"] * 90),
    " ".join(["naïve café crème brûlée"] * 60),
    " ".join(["word"] * 254),
    " ".join(["WORD"] * 255),
)


@dataclass(frozen=True)
class ExportPlan:
    """What a build exports, read off the loaded model before anything is written."""

    kind: str
    pooling: str | None
    normalize: bool
    max_length: int
    pad_id: int
    pad_token: str
    text_inputs: tuple[str, ...]
    image_preprocessing: ImagePreprocessing | None


def probe_images() -> list[Image.Image]:
    """Return the probe images: fixed, generated, of several sizes and modes (incl. a
    palette image with transparency like a GIF frame, and one smaller than any crop)."""
    rng = np.random.default_rng(7)
    gradient = np.linspace(0, 255, 64 * 48 * 3).reshape(48, 64, 3).astype(np.uint8)
    noise = rng.integers(0, 256, (96, 48, 3), dtype=np.uint8)
    rgba = rng.integers(0, 256, (60, 40, 4), dtype=np.uint8)
    palette = Image.fromarray(rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)).quantize(16)
    palette.info["transparency"] = 0
    return [
        Image.fromarray(gradient),
        Image.fromarray(noise),
        Image.fromarray(rng.integers(0, 256, (70, 70), dtype=np.uint8), mode="L"),
        Image.fromarray(rgba, mode="RGBA"),
        palette,
        Image.fromarray(rng.integers(0, 256, (9, 5, 3), dtype=np.uint8)),
        Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)),
        Image.fromarray(rng.integers(0, 2, (33, 65), dtype=np.uint8) * 255).convert("1"),
    ]


def build_onnx_embedder(embedder: Embedder, directory: Path) -> Path:
    """Export what embedder's model needs into directory, verify it, and return directory.

    The export runs from an fp32 CPU copy of the model (embedder itself when it is one).
    Raises OnnxBuildError when the model has parts the ONNX path can't reproduce, when the
    export fails, or when the probe's minimum cosine is below PROBE_MIN_COSINE.
    """
    reference = fp32_reference(embedder)
    plan = plan_export(reference)
    directory.parent.mkdir(parents=True, exist_ok=True)
    work = directory.with_name(f".{directory.name}.{uuid.uuid4().hex[:8]}.tmp")
    work.mkdir()  # not mkdtemp: its 0700 mode would outlive the rename
    try:
        export_model(reference, plan, work)
        data = manifest_data(reference, plan, work)
        onnx = open_embedder(work, parse_manifest(data, require_verified=False), VERIFY_THREADS)
        data["probe"] = verify(reference, onnx)
        data["check"] = {
            "text": PROBE_TEXTS[0],
            "vector": onnx.embed_query(PROBE_TEXTS[0]).tolist(),
        }
        write_json(work / MANIFEST_NAME, data)
        install(work, directory)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return directory


def fp32_reference(embedder: Embedder) -> Embedder:
    """Return embedder when it runs fp32 on the CPU, else the same model loaded so."""
    if embedder.precision == "fp32" and embedder.device == "cpu":
        return embedder
    try:
        return load_model(embedder.spec, "cpu", "fp32", local_only=True)
    except ModelLoadError as exc:
        raise OnnxBuildError(f"can't load an fp32 copy to export: {exc}") from exc


def plan_export(embedder: Embedder) -> ExportPlan:
    """Read what to export off a loaded model; raise OnnxBuildError for what isn't supported."""
    model: Any = embedder.model
    modules = list(model)
    unsupported = f"{embedder.name} can't be exported to ONNX"
    if getattr(model, "default_prompt_name", None) or getattr(model, "truncate_dim", None):
        raise OnnxBuildError(f"{unsupported}: it has a default prompt or a truncate_dim")
    if not modules or not is_module(modules[0], "Transformer"):
        first_name = type(modules[0]).__name__ if modules else "missing"
        raise OnnxBuildError(f"{unsupported}: its first module is {first_name}")
    first, rest = modules[0], modules[1:]
    config = getattr(first, "modality_config", None)
    if config is None:  # sentence-transformers 5 modules say nothing of their modalities
        raise OnnxBuildError(f"{unsupported} with this sentence-transformers: it needs 6 or later")
    if "image" in config:
        kind, pooling = KIND_CLIP, None
        methods = (config["text"]["method"], config["image"]["method"])
        if type(first.auto_model).__name__ != "CLIPModel" or methods != (
            "get_text_features",
            "get_image_features",
        ):
            raise OnnxBuildError(f"{unsupported}: only CLIP models export both towers")
    else:
        kind = KIND_TEXT
        text = config.get("text") or {}
        outputs = (text.get("method"), text.get("method_output_name"), first.module_output_name)
        if (
            set(config) != {"text"}
            or not rest
            or outputs
            != (
                "forward",
                "last_hidden_state",
                "token_embeddings",
            )
        ):
            raise OnnxBuildError(f"{unsupported}: a text model needs a Transformer + Pooling")
        pooler, rest = rest[0], rest[1:]
        pooling = getattr(pooler, "pooling_mode", None)
        if not is_module(pooler, "Pooling") or pooling not in POOLING_MODES:
            raise OnnxBuildError(
                f"{unsupported}: pooling {pooling!r}; supported: {', '.join(POOLING_MODES)}"
            )
    if any(not is_module(module, "Normalize") for module in rest):
        names = ", ".join(type(module).__name__ for module in rest)
        raise OnnxBuildError(f"{unsupported}: modules after pooling ({names})")
    tokenizer = first.tokenizer
    if tokenizer is None or tokenizer.pad_token_id is None:
        raise OnnxBuildError(f"{unsupported}: its tokenizer has no padding token")
    text_config = first.auto_model.config
    text_config = getattr(text_config, "text_config", None) or text_config
    positions = getattr(text_config, "max_position_embeddings", None)
    max_length = int(min(first.max_seq_length, positions or first.max_seq_length))
    inputs: tuple[str, ...] = ("input_ids", "attention_mask")
    if kind == KIND_TEXT and "token_type_ids" in tokenizer.model_input_names:
        inputs = (*inputs, "token_type_ids")
    return ExportPlan(
        kind=kind,
        pooling=pooling,
        normalize=bool(rest),
        max_length=max_length,
        pad_id=int(tokenizer.pad_token_id),
        pad_token=str(tokenizer.pad_token),
        text_inputs=inputs,
        image_preprocessing=image_params(first.processor) if kind == KIND_CLIP else None,
    )


def is_module(module: object, class_name: str) -> bool:
    """Return whether module is a sentence-transformers class_name (by name: embedder.py
    stays the only module that imports sentence-transformers)."""
    return any(
        cls.__name__ == class_name and cls.__module__.startswith("sentence_transformers")
        for cls in type(module).__mro__
    )


def image_params(processor: Any) -> ImagePreprocessing:
    """Read the resize/crop/normalize settings off a loaded CLIPProcessor."""
    image = getattr(processor, "image_processor", processor)
    size, crop = image.size, image.crop_size
    if not image.do_convert_rgb or getattr(size, "longest_edge", None) or image.do_pad:
        raise OnnxBuildError(
            f"image processor settings not supported: convert_rgb={image.do_convert_rgb}, "
            f"size={size}, pad={image.do_pad}"
        )
    try:
        mean, std = three_floats(image.image_mean), three_floats(image.image_std)
    except (TypeError, ValueError) as exc:
        raise OnnxBuildError(f"image processor settings not supported: {exc}") from None
    return ImagePreprocessing(
        do_convert_rgb=True,
        do_resize=bool(image.do_resize),
        shortest_edge=size.shortest_edge,
        height=size.height,
        width=size.width,
        resample=int(image.resample),
        do_center_crop=bool(image.do_center_crop),
        crop_height=int(crop.height),
        crop_width=int(crop.width),
        do_rescale=bool(image.do_rescale),
        rescale_factor=float(image.rescale_factor),
        do_normalize=bool(image.do_normalize),
        image_mean=mean,
        image_std=std,
    )


def export_model(embedder: Embedder, plan: ExportPlan, work: Path) -> None:
    """Write tokenizer.json and the ONNX graph(s) of embedder's model into work."""
    import torch

    first: Any = embedder.model[0]  # a Transformer module, read by name as in plan_export
    model = first.auto_model.eval()
    tokenizer_json = json.loads(first.tokenizer.backend_tokenizer.to_str())
    tokenizer_json["truncation"] = None  # fast_embedder sets both as sentence-transformers
    tokenizer_json["padding"] = None  # calls the tokenizer
    write_json(work / TOKENIZER_FILE, tokenizer_json)
    sample = first.tokenizer(
        ["a short one", "a longer sample sentence that pads the short one"],
        padding=True,
        return_tensors="pt",
    )
    text_args = tuple(sample[name] for name in plan.text_inputs)
    token_axes = {0: "batch", 1: "tokens"}
    axes = dict.fromkeys(plan.text_inputs, token_axes)
    if plan.kind == KIND_TEXT:
        text = tower_module(model, "forward", "last_hidden_state", plan.text_inputs)
        _export(text, text_args, plan.text_inputs, "token_embeddings", token_axes, axes, work)
        return
    text = tower_module(model, "get_text_features", "pooler_output", plan.text_inputs)
    _export(text, text_args, plan.text_inputs, "text_embeds", {0: "batch"}, axes, work)
    params = plan.image_preprocessing
    assert params is not None
    pixels = torch.randn(2, 3, params.crop_height, params.crop_width)
    vision = tower_module(model, "get_image_features", "pooler_output", ("pixel_values",))
    _export(vision, (pixels,), ("pixel_values",), "image_embeds", {0: "batch"},
            {"pixel_values": {0: "batch"}}, work, IMAGE_MODEL_FILE)  # fmt: skip


def tower_module(model: Any, method: str, output: str, names: tuple[str, ...]) -> Any:
    """Wrap model.method as a torch module taking names positionally, returning output."""
    import torch

    class Forward(torch.nn.Module):
        """One tower of the model as a module whose positional inputs are names."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *args: Any) -> Any:
            result = getattr(self.model, method)(**dict(zip(names, args, strict=True)))
            return result if isinstance(result, torch.Tensor) else getattr(result, output)

    return Forward().eval()


def _export(
    module: Any,
    args: tuple[Any, ...],
    input_names: tuple[str, ...],
    output_name: str,
    output_axes: dict[int, str],
    input_axes: dict[str, dict[int, str]],
    work: Path,
    file_name: str = TEXT_MODEL_FILE,
) -> None:
    import torch

    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about Python control flow
            torch.onnx.export(
                module,
                args,
                str(work / file_name),
                input_names=list(input_names),
                output_names=[output_name],
                dynamic_axes={**input_axes, output_name: output_axes},
                opset_version=ONNX_OPSET,
                dynamo=False,  # the TorchScript exporter: no onnxscript needed
            )
    except Exception as exc:  # the exporter raises many types
        raise OnnxBuildError(f"ONNX export of {file_name} failed: {first_line(exc)}") from exc


def manifest_data(embedder: Embedder, plan: ExportPlan, work: Path) -> dict[str, Any]:
    """Return the manifest of the files in work, before verification adds its probe."""
    names = [TOKENIZER_FILE, TEXT_MODEL_FILE] + ([IMAGE_MODEL_FILE] * (plan.kind == KIND_CLIP))
    model_dir = model_files_dir(embedder.spec)
    return {
        "format": FORMAT_VERSION,
        "name": embedder.spec.name,
        "ref": embedder.spec.ref,
        "kind": plan.kind,
        "dimension": embedder.dimension,
        "pooling": plan.pooling,
        "normalize": True,  # always L2-normalized, as Embedder's vectors
        "model_has_normalize": plan.normalize,
        "max_length": plan.max_length,
        "tokenizer": {"pad_id": plan.pad_id, "pad_token": plan.pad_token},
        "text_inputs": list(plan.text_inputs),
        "image_preprocessing": plan.image_preprocessing and plan.image_preprocessing.to_dict(),
        "files": {
            name: {"size": (work / name).stat().st_size, "sha256": file_sha256(work / name)}
            for name in names
        },
        "onnx_opset": ONNX_OPSET,
        "model_dir": str(model_dir) if model_dir else None,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": {name: metadata.version(name) for name in VERSIONED_PACKAGES},
        "probe": None,
        "check": None,
    }


def verify(reference: Embedder, onnx: OnnxEmbedder) -> dict[str, Any]:
    """Embed the probe set both ways; return the probe record, or raise OnnxBuildError.

    Texts are embedded in one padded batch and one at a time; a mismatch of token ids
    against the model's own tokenizer fails the build even when the cosines pass.
    """
    texts = list(PROBE_TEXTS)
    mismatched = token_mismatches(reference, onnx, texts)
    if mismatched:
        raise OnnxBuildError(
            f"{TOKENIZER_FILE} tokenizes {len(mismatched)} probe texts unlike the model's "
            f"tokenizer (first: {mismatched[0][:60]!r})"
        )
    wanted = reference.embed_texts(texts)
    batched = row_cosines(wanted, onnx.embed_texts(texts))
    single = row_cosines(wanted, np.stack([onnx.embed_query(text) for text in texts]))
    text_min = float(min(batched.min(), single.min()))
    image_min = None
    images = probe_images() if onnx.supports_images else []
    if images:
        image_min = float(
            row_cosines(reference.embed_images(images), onnx.embed_images(images)).min()
        )
    lowest = min(text_min, image_min if image_min is not None else text_min)
    if not lowest >= PROBE_MIN_COSINE:
        raise OnnxBuildError(
            f"ONNX vectors of {reference.name} differ from sentence-transformers': probe min "
            f"cosine {lowest:.6f} (texts {text_min:.6f}, images {image_min}), "
            f"needs {PROBE_MIN_COSINE}",
            min_cosine=lowest,
        )
    return {
        "texts": len(texts),
        "images": len(images),
        "min_cosine": lowest,
        "min_cosine_texts": text_min,
        "min_cosine_images": image_min,
        "threshold": PROBE_MIN_COSINE,
        "reference": reference.describe(),
        "passed": True,
    }


def token_mismatches(reference: Embedder, onnx: OnnxEmbedder, texts: list[str]) -> list[str]:
    """Return the texts whose token ids from tokenizer.json differ from the model's own."""
    first: Any = reference.model[0]  # a Transformer module, read by name as in plan_export
    expected = first.preprocess(texts)
    mismatched = []
    for row, text in enumerate(texts):
        wanted = expected["input_ids"][row][expected["attention_mask"][row].bool()].tolist()
        if onnx.tokenizer.encode(text).ids != wanted:
            mismatched.append(text)
    return mismatched


def row_cosines(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Return the cosine of each row of left with the same row of right."""
    cosines: np.ndarray = np.sum(normalize_rows(left) * normalize_rows(right), axis=1)
    return cosines


def write_json(path: Path, data: object) -> None:
    """Write data as JSON to path through a temp file and a rename."""
    part = path.with_name(f".{path.name}.part")
    part.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(part, path)


def install(work: Path, directory: Path) -> None:
    """Rename the finished work directory to directory, replacing an older build there."""
    old = directory.with_name(f".{directory.name}.old-{uuid.uuid4().hex[:8]}")
    if directory.exists():
        os.rename(directory, old)
    try:
        os.rename(work, directory)
    except OSError:
        if not directory.is_dir():  # another builder's finished copy is there: keep it
            raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
