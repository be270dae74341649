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
DEFAULT_CHROMA_PORT = 8000
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
    "chroma_host": "GIFSEARCH_CHROMA_HOST",
    "chroma_port": "GIFSEARCH_CHROMA_PORT",
    "chroma_ssl": "GIFSEARCH_CHROMA_SSL",
    "chroma_auth_header": "GIFSEARCH_CHROMA_AUTH_HEADER",
}
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


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
    # Chroma server mode: when chroma_host is set every command uses Chroma's HttpClient.
    chroma_host: str | None = None
    chroma_port: int = DEFAULT_CHROMA_PORT
    chroma_ssl: bool = False
    chroma_auth_header: str | None = None  # "Name: value", e.g. for an auth proxy

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
    if not 1 <= settings.chroma_port <= 65_535:
        raise ConfigError(f"Chroma port {settings.chroma_port} is not between 1 and 65535")
    if settings.chroma_auth_header is not None and ":" not in settings.chroma_auth_header:
        raise ConfigError(
            f"Chroma auth header {settings.chroma_auth_header!r} must look like 'Name: value'"
        )
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


def chroma_headers(settings: Settings) -> dict[str, str]:
    """Return the HTTP headers to send to a Chroma server (the auth header, if any)."""
    if not settings.chroma_auth_header:
        return {}
    name, _, value = settings.chroma_auth_header.partition(":")
    return {name.strip(): value.strip()}


def store_location(settings: Settings) -> str:
    """Return where the index lives, for messages: a directory or a server address."""
    if settings.chroma_host:
        scheme = "https" if settings.chroma_ssl else "http"
        return f"Chroma server {scheme}://{settings.chroma_host}:{settings.chroma_port}"
    return f"{settings.store_dir}/"


def _convert(name: str, type_name: object, raw: str, var: str) -> object:
    if type_name in ("bool", bool):
        if raw.lower() in TRUE_WORDS:
            return True
        if raw.lower() in FALSE_WORDS:
            return False
        raise ConfigError(f"{var}={raw!r} is not one of {', '.join(TRUE_WORDS + FALSE_WORDS)}")
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
