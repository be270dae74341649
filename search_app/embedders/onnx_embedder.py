"""The fast query embedder: a built ONNX export run by ONNX Runtime, without torch.

It imports only numpy, onnxruntime, tokenizers and PIL (plus light project modules), so a
search starts and embeds its query without loading torch or sentence-transformers.
onnx_export.build_onnx_embedder writes the directories it reads; onnx_dir_for names them
after a model's files, cheaply enough for a search to call at start-up.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image
from tokenizers import Tokenizer

from search_app.embedders.image_preprocessing import ImagePreprocessing, pixel_batch
from search_app.embedders.sbert import (
    CHUNK_ROWS,
    IMAGE_BATCH_SIZE,
    ModelSpec,
    load_ref,
    normalize_rows,
)
from search_app.errors import ImagesUnsupportedError, OnnxModelError, first_line

FORMAT_VERSION = 1  # bump when the directory layout or the manifest changes meaning
MANIFEST_NAME = "manifest.json"
TOKENIZER_FILE = "tokenizer.json"
TEXT_MODEL_FILE = "text.onnx"
IMAGE_MODEL_FILE = "image.onnx"
KIND_TEXT = "sentence-transformers-text"  # Transformer + Pooling (+ Normalize): pooled here
KIND_CLIP = "clip"  # text and vision towers with projections: already pooled
POOLING_MODES = ("mean", "cls", "max", "mean_sqrt_len_tokens")
PROBE_MIN_COSINE = 0.9999  # lowest cosine to sentence-transformers a usable build may show
CHECK_MIN_COSINE = 0.9999  # at load: the check vector vs the one the build stored
# Intra-op threads. 2 cut one query's encode p50 (3.41 against 5.31 ms), but gave 2 clients
# at once fewer queries/s and, in the one startup run with 2, a slower search and cold
# start (docs/results.md, "Instant search").
DEFAULT_THREADS = 1
DIR_HASH_CHARS = 12
SLUG_CHARS = 48
SENTENCE_TRANSFORMERS_ORG = "sentence-transformers"
REBUILD = "delete the directory and build it again"


@dataclass(frozen=True)
class Manifest:
    """What load_onnx_embedder needs from a build's manifest.json (the rest is a record)."""

    spec: ModelSpec
    kind: str
    dimension: int
    pooling: str | None
    max_length: int
    pad_id: int
    files: Mapping[str, Mapping[str, Any]]
    image_preprocessing: ImagePreprocessing | None
    check_text: str
    check_vector: np.ndarray


def session_options(threads: int) -> ort.SessionOptions:
    """Return ONNX Runtime options for low single-query latency on a small CPU."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: the optimizer's notes are noise here
    return options


class OnnxEmbedder:
    """A built ONNX export of a model; the same surface as Embedder, vectors L2-normalized."""

    device = "cpu"
    precision = "fp32"

    def __init__(self, directory: Path, manifest: Manifest, threads: int = DEFAULT_THREADS):
        self.directory = directory
        self.manifest = manifest
        self.spec = manifest.spec
        self.notice: str | None = None
        self.threads = threads
        self.tokenizer = _open_tokenizer(directory / TOKENIZER_FILE, manifest)
        self.text_session = open_session(directory / TEXT_MODEL_FILE, threads)
        self._text_inputs = {item.name for item in self.text_session.get_inputs()}
        self._image_session: ort.InferenceSession | None = None
        self._image_lock = threading.Lock()

    @property
    def name(self) -> str:
        """The model name collections are bound to."""
        return self.spec.name

    @property
    def dimension(self) -> int:
        """Length of each embedding vector."""
        return self.manifest.dimension

    @property
    def supports_images(self) -> bool:
        """Whether the model embeds images into its text space (a CLIP-family model)."""
        return self.manifest.kind == KIND_CLIP

    def describe(self) -> str:
        """Return 'name on device (precision, ONNX Runtime)' for summaries and status lines."""
        return f"{self.name} on {self.device} ({self.precision}, ONNX Runtime)"

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query; return a 1-d float32 unit vector."""
        row: np.ndarray = self._run_text([self.tokenizer.encode(text)])[0]
        return row

    def embed_texts(
        self,
        texts: Sequence[str],
        batch_size: int = 256,
        on_progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Embed texts in batches of similar length; return an (n, dim) float32 array."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), CHUNK_ROWS):
            part = list(texts[start : start + CHUNK_ROWS])
            encodings = self.tokenizer.encode_batch(part)
            lengths = [len(encoding.ids) for encoding in encodings]
            for rows in length_batches(lengths, batch_size):
                out[start + rows] = self._run_text([encodings[i] for i in rows])
            if on_progress:
                on_progress(len(part))
        return out

    def embed_images(
        self, images: Sequence[Image.Image], batch_size: int = IMAGE_BATCH_SIZE
    ) -> np.ndarray:
        """Embed PIL images with the model's vision tower; return (n, dim) float32 unit vectors.

        Raises ImagesUnsupportedError when the model embeds text only.
        """
        if not self.supports_images:
            raise ImagesUnsupportedError(f"{self.name} can't embed images; use a CLIP model")
        if not images:
            return np.zeros((0, self.dimension), dtype=np.float32)
        session = self._vision_session()
        params = self.manifest.image_preprocessing
        assert params is not None  # a CLIP manifest always has them (checked at load)
        chunks = []
        for start in range(0, len(images), batch_size):
            pixels = pixel_batch(images[start : start + batch_size], params)
            (vectors,) = session.run(None, {"pixel_values": pixels})
            chunks.append(normalize_rows(np.asarray(vectors, dtype=np.float32)))
        return np.concatenate(chunks)

    def _run_text(self, encodings: Sequence[Any]) -> np.ndarray:
        # Padded here, per batch, to the batch's longest (right side, the model's pad id).
        width = max(len(encoding.ids) for encoding in encodings)
        ids = np.full((len(encodings), width), self.manifest.pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            length = len(encoding.ids)
            ids[row, :length] = encoding.ids
            mask[row, :length] = encoding.attention_mask
            types[row, :length] = encoding.type_ids
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._text_inputs:
            feeds["token_type_ids"] = types
        (output,) = self.text_session.run(None, feeds)
        if self.manifest.kind == KIND_TEXT:
            output = pool_tokens(output, mask, self.manifest.pooling or "mean")
        return normalize_rows(np.asarray(output, dtype=np.float32))

    def _vision_session(self) -> ort.InferenceSession:
        # Opened on first use: a text query never pays for loading the vision tower.
        with self._image_lock:
            if self._image_session is None:
                self._image_session = open_session(self.directory / IMAGE_MODEL_FILE, self.threads)
            return self._image_session


def length_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Split row indices, longest first, into batches of at most batch_size rows whose
    shortest is at least half their longest (one long text pads no batch of short ones)."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    batches, current = [], [int(order[0])]
    for index in order[1:]:
        if len(current) == batch_size or 2 * lengths[index] < lengths[current[0]]:
            batches.append(np.asarray(current))
            current = []
        current.append(int(index))
    batches.append(np.asarray(current))
    return batches


def pool_tokens(token_embeddings: np.ndarray, attention_mask: np.ndarray, mode: str) -> np.ndarray:
    """Pool (batch, tokens, dim) embeddings into (batch, dim) as sentence-transformers' Pooling."""
    mask = attention_mask[..., None].astype(np.float32)
    pooled: np.ndarray
    if mode == "cls":  # the first real token (the first position under right padding)
        first = attention_mask.argmax(axis=1)
        pooled = token_embeddings[np.arange(len(first)), first]
    elif mode == "max":
        pooled = np.where(mask > 0, token_embeddings, -np.inf).max(axis=1)
    else:
        summed = (token_embeddings * mask).sum(axis=1)
        counts = np.maximum(mask.sum(axis=1), 1e-9)
        pooled = summed / (counts if mode == "mean" else np.sqrt(counts))
    return pooled


def load_onnx_embedder(
    directory: Path, threads: int = DEFAULT_THREADS, check_hashes: bool = False
) -> OnnxEmbedder:
    """Open a directory that build_onnx_embedder wrote and verified.

    Refuses, with a one-line OnnxModelError, a directory that is missing, half-written or
    unverified, whose files differ in size from the manifest (or, with check_hashes, in
    SHA-256), or whose text tower no longer gives the check vector the build stored.
    """
    manifest = read_manifest(directory)
    check_files(directory, manifest, check_hashes)
    embedder = open_embedder(directory, manifest, threads)
    cosine = float(embedder.embed_query(manifest.check_text) @ manifest.check_vector)
    if not cosine >= CHECK_MIN_COSINE:
        raise OnnxModelError(
            f"ONNX embedder in {directory} gives another vector than when built "
            f"(cosine {cosine:.6f}); {REBUILD}"
        )
    return embedder


def open_embedder(directory: Path, manifest: Manifest, threads: int) -> OnnxEmbedder:
    """Open the sessions of a directory without any check (the builder's verify step)."""
    try:
        return OnnxEmbedder(directory, manifest, threads)
    except OnnxModelError:
        raise
    except Exception as exc:  # ONNX Runtime and tokenizers raise their own types
        raise OnnxModelError(
            f"ONNX embedder in {directory} can't be opened ({first_line(exc)}); {REBUILD}"
        ) from exc


def read_manifest(directory: Path, require_verified: bool = True) -> Manifest:
    """Parse directory's manifest.json; raise OnnxModelError unless it is complete (and
    verified, unless require_verified is False)."""
    path = directory / MANIFEST_NAME
    if not directory.is_dir():
        raise OnnxModelError(f"no ONNX embedder at {directory}: the directory does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OnnxModelError(
            f"{directory} is no finished ONNX embedder (no {MANIFEST_NAME}); {REBUILD}"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OnnxModelError(f"{path} is unreadable ({first_line(exc)}); {REBUILD}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
        found = data.get("format") if isinstance(data, dict) else None
        raise OnnxModelError(
            f"{path} has format {found!r}, this gifsearch reads format {FORMAT_VERSION}; {REBUILD}"
        )
    probe = data.get("probe")
    if require_verified and not is_verified(probe):
        found = probe.get("min_cosine") if isinstance(probe, dict) else None
        raise OnnxModelError(
            f"ONNX embedder in {directory} was never verified against its model "
            f"(probe min cosine {found!r}, needs {PROBE_MIN_COSINE}); {REBUILD}"
        )
    try:
        return parse_manifest(data, require_verified)
    except (KeyError, TypeError, ValueError) as exc:
        raise OnnxModelError(f"{path} is incomplete ({exc!r}); {REBUILD}") from exc


def is_verified(probe: object) -> bool:
    """Return whether a manifest's probe entry says the build passed verification."""
    if not isinstance(probe, dict) or probe.get("passed") is not True:
        return False
    cosine = probe.get("min_cosine")
    return isinstance(cosine, (int, float)) and cosine >= PROBE_MIN_COSINE


def parse_manifest(data: Mapping[str, Any], require_verified: bool = True) -> Manifest:
    """Return the Manifest in a manifest.json's data; raise KeyError, TypeError or ValueError
    when a field is missing or malformed (require_verified: the check vector too)."""
    kind = data["kind"]
    if kind not in (KIND_TEXT, KIND_CLIP):
        raise ValueError(f"kind {kind!r}")
    pooling = data["pooling"]
    if kind == KIND_TEXT and pooling not in POOLING_MODES:
        raise ValueError(f"pooling {pooling!r}")
    tokenizer = data["tokenizer"]
    image = data["image_preprocessing"]
    check = data["check"] if require_verified else {"text": "", "vector": []}
    manifest = Manifest(
        spec=ModelSpec(ref=str(data["ref"]), name=str(data["name"])),
        kind=kind,
        dimension=int(data["dimension"]),
        pooling=pooling,
        max_length=int(data["max_length"]),
        pad_id=int(tokenizer["pad_id"]),
        files=dict(data["files"]),
        image_preprocessing=ImagePreprocessing.from_dict(image) if kind == KIND_CLIP else None,
        check_text=str(check["text"]),
        check_vector=np.asarray(check["vector"], dtype=np.float32),
    )
    needed = {TOKENIZER_FILE, TEXT_MODEL_FILE} | (
        {IMAGE_MODEL_FILE} if kind == KIND_CLIP else set()
    )
    if missing := needed - set(manifest.files):
        raise ValueError(f"files lacks {sorted(missing)}")
    if require_verified and manifest.check_vector.shape != (manifest.dimension,):
        raise ValueError(f"check vector of shape {manifest.check_vector.shape}")
    return manifest


def check_files(directory: Path, manifest: Manifest, check_hashes: bool) -> None:
    """Raise OnnxModelError unless every file the manifest lists is there, at its size
    (and, with check_hashes, its SHA-256)."""
    for name, entry in manifest.files.items():
        path = directory / name
        try:
            size = path.stat().st_size
        except OSError:
            raise OnnxModelError(f"ONNX embedder in {directory} lacks {name}; {REBUILD}") from None
        if size != entry["size"]:
            raise OnnxModelError(
                f"{path} has {size:,} bytes, the manifest says {entry['size']:,}; {REBUILD}"
            )
        if check_hashes and file_sha256(path) != entry["sha256"]:
            raise OnnxModelError(f"{path} does not match its SHA-256 in the manifest; {REBUILD}")


def file_sha256(path: Path) -> str:
    """Return the hex SHA-256 of a file's content."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _open_tokenizer(path: Path, manifest: Manifest) -> Tokenizer:
    # Truncation is set here, not trusted from the file, as sentence-transformers calls the
    # tokenizer: right, to max_length. Padding is per batch, in OnnxEmbedder._run_text.
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.enable_truncation(
        manifest.max_length, stride=0, strategy="longest_first", direction="right"
    )
    return tokenizer


def open_session(path: Path, threads: int) -> ort.InferenceSession:
    """Open an ONNX graph on the CPU; raise OnnxModelError when ONNX Runtime can't."""
    try:
        return ort.InferenceSession(
            str(path), sess_options=session_options(threads), providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # ONNX Runtime raises its own exception types
        raise OnnxModelError(
            f"ONNX Runtime can't open {path} ({first_line(exc)}); {REBUILD}"
        ) from exc


def onnx_dir_for(cache_root: Path, spec: ModelSpec, model_dir: Path) -> Path:
    """Return the directory under cache_root that holds the ONNX build of model_dir's files.

    Its name is a slug of the model name plus a short hash of every file's relative path,
    size and mtime (stat only, nothing read), so changing a model file names a new build.
    """
    digest = hashlib.sha256(f"{FORMAT_VERSION}\0{spec.name}\0".encode())
    for path in sorted(_model_files(model_dir)):
        stat = path.stat()
        digest.update(
            f"{path.relative_to(model_dir)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode()
        )
    name = Path(spec.name).name if Path(spec.name).is_absolute() else spec.name
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:SLUG_CHARS] or "model"
    return cache_root / f"{slug}-{digest.hexdigest()[:DIR_HASH_CHARS]}"


def _model_files(model_dir: Path) -> list[Path]:
    # Hidden entries are skipped: `hf download --local-dir` keeps lock files in .cache/.
    files: list[Path] = []
    for root, dirs, names in os.walk(model_dir, followlinks=True):
        dirs[:] = [name for name in dirs if not name.startswith(".")]
        files.extend(Path(root, name) for name in names if not name.startswith("."))
    return files


def model_files_dir(spec: ModelSpec, hub_cache: Path | None = None) -> Path | None:
    """Return the local directory of spec's model files, or None when there is none.

    The bundled MiniLM and local paths are their own directories; a hub name is looked up
    in hub_cache (None: the cache sentence-transformers uses, see hub_cache_dir) as
    models--org--name/refs/main -> snapshots/<revision>, without importing huggingface_hub.
    """
    ref = load_ref(spec.ref)  # the bundled MiniLM: its directory (a light import)
    local = Path(ref).expanduser()
    if local.is_absolute() or ref.startswith("."):
        return local if local.is_dir() else None
    cache = hub_cache if hub_cache is not None else hub_cache_dir(os.environ)
    names = [ref] if "/" in ref else [f"{SENTENCE_TRANSFORMERS_ORG}/{ref}", ref]
    for repo in names:
        repo_dir = cache / f"models--{repo.replace('/', '--')}"
        try:
            revision = (repo_dir / "refs" / "main").read_text(encoding="utf-8").strip()
        except OSError:
            continue
        snapshot = repo_dir / "snapshots" / revision
        if revision and snapshot.is_dir():
            return snapshot
    return None


def hub_cache_dir(environ: Mapping[str, str]) -> Path:
    """Return the model cache sentence-transformers loads hub models from under environ.

    SENTENCE_TRANSFORMERS_HOME wins (sentence-transformers passes it as the cache folder),
    then HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME/hub, XDG_CACHE_HOME/huggingface/hub.
    """
    for key in ("SENTENCE_TRANSFORMERS_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if environ.get(key):
            return Path(environ[key]).expanduser()
    if environ.get("HF_HOME"):
        return Path(environ["HF_HOME"]).expanduser() / "hub"
    cache = environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(cache).expanduser() / "huggingface" / "hub"
