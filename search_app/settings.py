"""Settings: one frozen dataclass, built at the edge from flags and environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from search_app.errors import ConfigError

DEFAULT_STORE_DIR = Path("chroma_store")
DEFAULT_COLLECTION = "gifs"
DEFAULT_BATCH_SIZE = 256
DEFAULT_NETWORK_TIMEOUT_S = 5.0
MODEL_CHOICES_HINT = "auto, clip, minilm, a sentence-transformers name or a local path"
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
MIN_COLLECTION_NAME_CHARS = 3

# Environment variable for each field that may be set from the environment.
ENV_VARS = {
    "store_dir": "GIFSEARCH_STORE",
    "collection": "GIFSEARCH_COLLECTION",
    "model": "GIFSEARCH_MODEL",
    "device": "GIFSEARCH_DEVICE",
    "precision": "GIFSEARCH_PRECISION",
    "cache_dir": "GIFSEARCH_CACHE_DIR",
    "network_timeout_s": "GIFSEARCH_NETWORK_TIMEOUT_S",
}


def default_cache_dir() -> Path:
    """Return ~/.cache/gifsearch (or $XDG_CACHE_HOME/gifsearch)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gifsearch"


@dataclass(frozen=True)
class Settings:
    """Where the index lives and how texts are embedded; passed down through constructors."""

    store_dir: Path = DEFAULT_STORE_DIR
    collection: str = DEFAULT_COLLECTION
    model: str = "auto"
    device: str = "auto"
    precision: str = "auto"
    batch_size: int = DEFAULT_BATCH_SIZE
    cache_dir: Path = Path()
    network_timeout_s: float = DEFAULT_NETWORK_TIMEOUT_S

    def __post_init__(self) -> None:
        if self.cache_dir == Path():
            object.__setattr__(self, "cache_dir", default_cache_dir())
        object.__setattr__(self, "store_dir", Path(self.store_dir))
        object.__setattr__(self, "cache_dir", Path(self.cache_dir))
        validate_settings(self)


def validate_settings(settings: Settings) -> None:
    """Raise ConfigError quoting the bad value and the allowed ones."""
    if len(settings.collection) < MIN_COLLECTION_NAME_CHARS:
        raise ConfigError(
            f"collection name {settings.collection!r} is too short: "
            f"use {MIN_COLLECTION_NAME_CHARS} or more characters"
        )
    if settings.device not in DEVICES and not settings.device.startswith("cuda:"):
        raise ConfigError(f"device {settings.device!r} is not one of {', '.join(DEVICES)}")
    if settings.precision not in PRECISIONS:
        raise ConfigError(f"precision {settings.precision!r} is not one of {', '.join(PRECISIONS)}")
    if settings.batch_size < 1:
        raise ConfigError(f"batch size {settings.batch_size} must be 1 or more")
    if not settings.model.strip():
        raise ConfigError(f"model is empty: use {MODEL_CHOICES_HINT}")
    if settings.network_timeout_s <= 0:
        raise ConfigError(f"network timeout {settings.network_timeout_s} must be above 0 s")


def build_settings(overrides: Mapping[str, object], env: Mapping[str, str]) -> Settings:
    """Build Settings from defaults, then environment variables, then explicit overrides.

    Args:
        overrides: values given on the command line; None means "not given".
        env: the environment to read (os.environ at the edge, a dict in tests).
    """
    values: dict[str, object] = {}
    types = {f.name: f.type for f in fields(Settings)}
    for name, var in ENV_VARS.items():
        raw = env.get(var)
        if raw is None or raw == "":
            continue
        values[name] = _convert(name, types[name], raw, var)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return replace(Settings(), **values)


def _convert(name: str, type_name: object, raw: str, var: str) -> object:
    if type_name in ("float", float):
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{var}={raw!r} is not a number") from None
    if type_name in ("int", int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{var}={raw!r} is not a whole number") from None
    if type_name in ("Path", Path):
        return Path(raw)
    return raw
