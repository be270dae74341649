"""What is derived from a collection's rows: its categories, its completion phrases and
its related-search candidates, built together from one sample and kept in one file.

Built at the end of an ingest that changed the collection (gifsearch ingest), and by a
reader that finds none for the collection as it is now (retrieval/derived_keeper.py).
Kept as JSON beside the data it comes from, so that it survives restarts and is never
built twice for the same rows: an embedded store's in <store>/derived/<collection>.json
(it moves with the store, and the web app never serves the store's folder), a Chroma
server's in <cache>/derived/<host>-<port>/<collection>.json (nothing of ours is written
to the server, and several gifsearch processes may share it). The file records the
collection's content signature (retrieval/sample.py): a file of other rows is stale. A
file is read only when it is a regular file under MAX_FILE_BYTES whose every field has
the type and bounds it should; anything else is built anew.
"""

from __future__ import annotations

import base64
import json
import os
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from search_app.errors import first_line
from search_app.records import RowKind
from search_app.retrieval.categories import Category, build_categories
from search_app.retrieval.completion import (
    RelatedPhrases,
    TextEmbedding,
    build_related,
    related_candidates,
)
from search_app.retrieval.phrases import (
    MAX_PHRASE_CHARS,
    PhraseIndex,
    count_phrases,
    tokens,
    topic_phrases,
)
from search_app.retrieval.request import GIF_ID_PATTERN
from search_app.retrieval.sample import (
    SAMPLE_ROWS,
    ProgressFactory,
    content_signature,
    no_progress,
    read_sample,
)
from search_app.settings import Settings
from search_app.store.client import GifStore

FORMAT = "gifsearch-derived"
VERSION = 1  # a file of another version is built anew
MAX_FILE_BYTES = 64 * 2**20  # the file is 6 MB at 125,000 rows; the sample bounds it
MAX_NAME_CHARS = 100
FILE_MODE = 0o644  # as Chroma's own files
MAX_DIMENSION = 4_096
T = TypeVar("T")
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,510}")


@dataclass(frozen=True)
class Derived:
    """What one state of a collection (its signature) gives: categories, completion
    phrases, related-search candidates; and the sample it came from, and the build time."""

    signature: str
    categories: tuple[Category, ...]
    phrases: PhraseIndex
    related: RelatedPhrases
    sample_rows: int = 0
    total_rows: int = 0
    built_s: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)  # seconds (of a build, not kept)


def build_derived(
    store: GifStore,
    embed_texts: TextEmbedding,
    signature: str | None = None,
    progress: ProgressFactory = no_progress,
) -> Derived:
    """Build everything derived from the collection's description rows, from its sample
    (a collection known only by its frames has none: empty categories and phrases);
    embed_texts embeds the related-search candidates with the collection's model."""
    started = time.perf_counter()
    stages: dict[str, float] = {}

    def lap(stage: str) -> None:
        stages[stage] = time.perf_counter() - started - sum(stages.values())

    signature = content_signature(store) if signature is None else signature
    sample = read_sample(store, RowKind.DESCRIPTION, SAMPLE_ROWS, progress)
    lap("sample")
    tokenized = [tokens(row.description) for row in sample.rows]
    topics = [topic_phrases(words) for words in tokenized]
    lap("words")
    categories = build_categories(sample, topics)
    lap("categories")
    phrases = count_phrases(tokenized)
    lap("phrases")
    related = build_related(
        related_candidates(topics, [c.search_term for c in categories]), embed_texts
    )
    lap("related")
    return Derived(
        signature,
        tuple(categories),
        phrases,
        related,
        sample_rows=len(sample.rows),
        total_rows=sample.total_rows,
        built_s=time.perf_counter() - started,
        stages=stages,
    )


def derived_path(settings: Settings) -> Path | None:
    """Where the collection's derived file is kept (see the module); None for a
    collection name that is no safe file name (then it is kept in memory only)."""
    if not SAFE_NAME.fullmatch(settings.collection):
        return None
    name = f"{settings.collection}.json"
    if settings.chroma_host:
        server = re.sub(r"[^A-Za-z0-9.-]", "_", settings.chroma_host)[:200]
        return settings.cache_dir / "derived" / f"{server}-{settings.chroma_port}" / name
    return settings.store_dir / "derived" / name


def to_json(derived: Derived) -> dict[str, Any]:
    """Return derived as JSON-ready data (the file's content)."""
    vectors = np.ascontiguousarray(derived.related.vectors, dtype="<f4")
    return {
        "format": FORMAT,
        "version": VERSION,
        "signature": derived.signature,
        "sample_rows": derived.sample_rows,
        "total_rows": derived.total_rows,
        "built_s": round(derived.built_s, 3),
        "categories": [asdict(category) for category in derived.categories],
        "phrases": derived.phrases.phrases,
        "counts": derived.phrases.counts.tolist(),
        "related_phrases": list(derived.related.phrases),
        "related_dimension": int(vectors.shape[1]) if vectors.ndim == 2 else 0,
        "related_vectors": base64.b64encode(vectors.tobytes()).decode("ascii"),
    }


def save_derived(path: Path, derived: Derived) -> None:
    """Write derived to path atomically (a reader sees the old file or the new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".derived-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(to_json(derived), out, separators=(",", ":"))
        os.chmod(temporary, FILE_MODE)  # mkstemp's 0600 would hide it from other readers
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class Unusable(ValueError):
    """A derived file that is not what this module writes (the message says how)."""


def _field(data: dict[str, Any], key: str, kind: type[T]) -> T:
    """Return data[key] when it is of kind (bool is no int here), else raise Unusable."""
    value = data.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise Unusable(f"its {key} is missing or not a {kind.__name__}")
    return value


def _text_list(data: dict[str, Any], key: str, max_chars: int) -> list[str]:
    items = _field(data, key, list)
    if not all(isinstance(p, str) and 0 < len(p) <= max_chars and p.isprintable() for p in items):
        raise Unusable(f"its {key} holds something that is not a short line of text")
    return items


def _category(item: object) -> Category:
    if not isinstance(item, dict):
        raise Unusable("a category is not an object")
    name = _field(item, "name", str)
    term = _field(item, "search_term", str)
    gif_id = _field(item, "gif_id", str)
    size = _field(item, "size", int)
    if not all(0 < len(text) <= MAX_NAME_CHARS and text.isprintable() for text in (name, term)):
        raise Unusable("a category's name or search term is not a short line of text")
    if not GIF_ID_PATTERN.fullmatch(gif_id) or size < 1:
        raise Unusable("a category's GIF id or size is not one")
    return Category(name, term, gif_id, size)


def from_json(data: object) -> Derived:
    """Return the Derived a file's JSON holds; Unusable when a field is missing or bad."""
    if not isinstance(data, dict):
        raise Unusable("it is not a JSON object")
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise Unusable(f"it is not {FORMAT} version {VERSION}")
    phrases = _text_list(data, "phrases", MAX_PHRASE_CHARS)
    counts = _field(data, "counts", list)
    if len(counts) != len(phrases) or not all(type(n) is int and n > 0 for n in counts):
        raise Unusable("its counts are not one positive number a phrase")
    related = _text_list(data, "related_phrases", MAX_PHRASE_CHARS)
    dimension = _field(data, "related_dimension", int)
    try:
        raw = base64.b64decode(_field(data, "related_vectors", str), validate=True)
    except ValueError:
        raise Unusable("its related vectors are not base64") from None
    if not 0 <= dimension <= MAX_DIMENSION or len(raw) != 4 * len(related) * dimension:
        raise Unusable("its related vectors are not one vector a related phrase")
    vectors = np.frombuffer(raw, dtype="<f4").reshape(len(related), dimension)
    if not np.isfinite(vectors).all():
        raise Unusable("its related vectors hold something that is not a number")
    sample_rows, total_rows = _field(data, "sample_rows", int), _field(data, "total_rows", int)
    built_s = data.get("built_s")
    return Derived(
        signature=_field(data, "signature", str),
        categories=tuple(_category(item) for item in _field(data, "categories", list)),
        phrases=PhraseIndex(phrases, np.array(counts, dtype=np.int64)),
        related=RelatedPhrases(tuple(related), vectors.astype(np.float32)),
        sample_rows=max(sample_rows, 0),
        total_rows=max(total_rows, 0),
        built_s=float(built_s) if isinstance(built_s, (int, float)) else 0.0,
    )


def load_derived(path: Path) -> tuple[Derived | None, str]:
    """Read a derived file: (what it holds, "") or (None, why it can't be used; "" when
    there is none)."""
    try:
        if path.is_symlink() or (path.exists() and not path.is_file()):
            return None, f"{path} is not a regular file"
        if not path.exists():
            return None, ""
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, f"{path} is {size} bytes, over {MAX_FILE_BYTES}"
        with path.open("rb") as stream:
            text = stream.read(MAX_FILE_BYTES + 1)
        return from_json(json.loads(text)), ""
    except (OSError, ValueError, RecursionError) as exc:  # Unusable is a ValueError too
        return None, f"{path} can't be used ({first_line(exc)})"


def current_derived(store: GifStore) -> tuple[Derived | None, str]:
    """Return the kept file's Derived when it is of the collection's rows as they are now
    (else None), and the collection's content signature."""
    signature = content_signature(store)
    path = derived_path(store.settings)
    found, _ = load_derived(path) if path else (None, "")
    return (found if found is not None and found.signature == signature else None), signature


def ensure_derived(
    store: GifStore, embed_texts: TextEmbedding, progress: ProgressFactory = no_progress
) -> tuple[Derived, str | None]:
    """Return what is derived from the collection as it is now: the kept file's when it
    is of these rows, else built (embed_texts: the collection's model, e.g. a
    lazy_embedding) and kept. The notice says what was built and where it was kept, or
    why it could not be (None: the kept file was current)."""
    found, signature = current_derived(store)
    if found is not None:
        return found, None
    derived = build_derived(store, embed_texts, signature, progress)
    return derived, keep_derived(store.settings, derived)


def lazy_embedding(settings: Settings, model: str) -> TextEmbedding:
    """Embed texts with a model at the settings' device and precision, loaded on first
    use (never, for a collection with no phrases to embed)."""
    loaded: list[TextEmbedding] = []

    def embed(texts: Sequence[str]) -> np.ndarray:
        if not loaded:
            from search_app.embedders.query_embedder import load_for_settings

            loaded.append(load_for_settings(model, settings).embed_texts)
        return loaded[0](texts)

    return embed


def categories_of(store: GifStore, embed_texts: TextEmbedding | None = None) -> list[Category]:
    """Return the collection's categories as it is now, building (and keeping) them when
    none are kept for these rows: a blocking call, for the CLI and scripts (a server uses
    retrieval/derived_keeper.py, which never makes a request wait)."""
    if embed_texts is None:
        embed_texts = lazy_embedding(store.settings, store.require_binding().model)
    return list(ensure_derived(store, embed_texts)[0].categories)


def keep_derived(settings: Settings, derived: Derived) -> str:
    """Save derived where the settings' collection keeps it; return a notice of what was
    built and where it went (or why it stays in memory only)."""
    built = (
        f"categories ({len(derived.categories)}) and completions "
        f"({len(derived.phrases):,} phrases) of {derived.sample_rows:,} sampled descriptions "
        f"built in {derived.built_s:.1f} s"
    )
    path = derived_path(settings)
    if path is None:
        return f"{built}; kept in memory only (the collection's name is no safe file name)"
    try:
        save_derived(path, derived)
    except OSError as exc:
        return f"{built}; kept in memory only: can't write {path} ({exc.strerror or exc})"
    return f"{built}, kept in {path}"
