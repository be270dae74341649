"""Settings: one frozen dataclass, built at the edge from flags and environment.

Each setting is declared once, as a field of Settings: its name, type, default, environment
variable, flag, help and check. The CLI's flags, the environment overrides, validation,
`--help` and the README's table of settings are all made from these declarations
(gifsearch/flags.py reads them; build_settings applies the environment).
"""

from __future__ import annotations

import math
import os
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from search_app.errors import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

DEFAULT_STORE_DIR = Path("chroma_store")
DEFAULT_COLLECTION = "gifs"
DEFAULT_CHROMA_PORT = 8000
DEFAULT_HOST = "127.0.0.1"  # where serve listens (gifsearch/serve_cmd.py, web.py)
DEFAULT_PORT = 7860
DEFAULT_BATCH_SIZE = 256
DEFAULT_NETWORK_TIMEOUT_S = 5.0
DEFAULT_DOWNLOAD_DEADLINE_S = 600.0  # the TGIF release (18.7 MB) at 32 KB/s
# Upper bounds: a timer can't wait an infinite or astronomic time (1e308 s overflowed one).
MAX_NETWORK_TIMEOUT_S = 3_600.0  # an hour for one connect or read
MAX_DOWNLOAD_DEADLINE_S = 86_400.0  # a day for one download
MODEL_CHOICES_HINT = "auto, clip, minilm, a sentence-transformers name or a local path"
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
QUERY_BACKENDS = ("auto", "onnx", "sentence-transformers")  # query_embedder.QueryBackend
MIN_COLLECTION_NAME_CHARS = 3
MAX_COLLECTION_NAME_CHARS = 200  # Chroma takes 512; the frames sibling adds ".frames"
COLLECTION_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
IPV4 = re.compile(r"\d{1,3}(\.\d{1,3}){3}")  # Chroma refuses a name that reads as one
MAX_SHOWN_CHARS = 60  # of a bad value, in its error
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")

SettingsT = TypeVar("SettingsT", bound="DataclassInstance")  # a settings dataclass
Number = TypeVar("Number", int, float)


class SettingGroup(StrEnum):
    """Which commands take a setting as a flag (every setting has its variable)."""

    INDEX = "index"  # every command that opens the index
    MODEL = "model"  # every command that embeds
    EMBED = "embed"  # commands that embed in bulk
    NETWORK = "network"  # commands that download
    SERVE = "serve"  # the web app's listening options


@dataclass(frozen=True)
class SettingInfo:
    """What the edge needs to offer one setting: help, variable, flag, group and check.

    check returns a problem ("is too short: ...") or None; it is given the value.
    """

    help: str
    env: str
    group: SettingGroup
    flag: str = ""
    label: str = ""  # what messages call it (default: the field name, spaced)
    env_only: bool = False  # no flag (a secret a flag would show in `ps`)
    default_text: str = ""  # how to show a default that depends on the machine
    choices: tuple[str, ...] = ()
    metavar: str | None = None
    check: Callable[[Any], str | None] | None = None

    def shown_default(self, default: object) -> str:
        """Return the default as a person reads it."""
        if self.default_text:
            return self.default_text
        return "none" if default in (None, "") else str(default)

    def help_text(self, default: object) -> str:
        """Return the flag's help, with its default and variable."""
        return f"{self.help} (default: {self.shown_default(default)}; env {self.env})"


def setting(
    default: Any = MISSING, *, factory: Callable[[], Any] | None = None, **info: Any
) -> Any:
    """Declare a Settings field: its default (or factory) and its SettingInfo."""
    metadata = {"setting": SettingInfo(**info)}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def default_cache_dir() -> Path:
    """Return ~/.cache/gifsearch (or $XDG_CACHE_HOME/gifsearch)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gifsearch"


def _store_problem(path: Path) -> str | None:
    if path.exists() and not path.is_dir():
        return "is a file, not a directory: give the store's directory (made if missing)"
    return None


def _collection_problem(name: str) -> str | None:
    """Chroma's rules for a name (and room for the ".frames" sibling's suffix)."""
    if len(name) < MIN_COLLECTION_NAME_CHARS:
        return f"is too short: use {MIN_COLLECTION_NAME_CHARS} or more characters"
    if len(name) > MAX_COLLECTION_NAME_CHARS:
        return f"is too long: use {MAX_COLLECTION_NAME_CHARS} characters at most"
    if not COLLECTION_NAME.fullmatch(name) or ".." in name or IPV4.fullmatch(name):
        return (
            "is not a collection name: use letters, digits, '.', '_' and '-', starting and "
            "ending with a letter or digit (no '..')"
        )
    return None


def _one_of(allowed: tuple[str, ...], prefix: str = "") -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if value in allowed or (prefix and value.startswith(prefix)):
            return None
        return f"is not one of {', '.join(allowed)}"

    return check


def _at_least(low: float) -> Callable[[float], str | None]:
    return lambda value: None if value >= low else f"must be {low:g} or more"


def _seconds_up_to(most: float) -> Callable[[float], str | None]:
    def check(value: float) -> str | None:
        if not value > 0:  # nan too
            return "must be above 0 s"
        return None if value <= most else f"must be {most:,g} s at most"

    return check


def port_problem(port: int) -> str | None:
    """Why a TCP port number can't be used, or None."""
    return None if 1 <= port <= 65_535 else "is not between 1 and 65535"


def _header_problem(value: str | None) -> str | None:
    if value is None or ":" in value:
        return None
    return "must look like 'Name: value'"


def _nonempty(value: str) -> str | None:
    return None if value.strip() else f"is empty: use {MODEL_CHOICES_HINT}"


@dataclass(frozen=True)
class Settings:
    """Where the index lives and how texts are embedded; passed down through constructors."""

    store_dir: Path = setting(
        DEFAULT_STORE_DIR,
        help="store directory (the embedded Chroma store)",
        env="GIFSEARCH_STORE",
        flag="--store",
        group=SettingGroup.INDEX,
        metavar="DIR",
        label="store",
        check=_store_problem,
    )
    collection: str = setting(
        DEFAULT_COLLECTION,
        help="collection name; several GIF sets live side by side",
        env="GIFSEARCH_COLLECTION",
        group=SettingGroup.INDEX,
        metavar="NAME",
        label="collection name",
        check=_collection_problem,
    )
    model: str = setting(
        "auto",
        help=f"embedding model: {MODEL_CHOICES_HINT}",
        env="GIFSEARCH_MODEL",
        group=SettingGroup.MODEL,
        check=_nonempty,
    )
    device: str = setting(
        "auto",
        help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps",
        env="GIFSEARCH_DEVICE",
        group=SettingGroup.MODEL,
        check=_one_of(DEVICES, prefix="cuda:"),
    )
    precision: str = setting(
        "auto",
        help="auto (fp16 on CUDA, bf16 on a CPU with bf16, else fp32), fp32, bf16, fp16",
        env="GIFSEARCH_PRECISION",
        group=SettingGroup.MODEL,
        choices=PRECISIONS,
        check=_one_of(PRECISIONS),
    )
    query_backend: str = setting(
        "auto",
        help="what embeds queries: auto (the ONNX query embedder, built once per model and "
        "checked against sentence-transformers, else sentence-transformers), onnx (or "
        "fail), sentence-transformers (for comparisons and debugging)",
        env="GIFSEARCH_QUERY_BACKEND",
        group=SettingGroup.MODEL,
        choices=QUERY_BACKENDS,
        check=_one_of(QUERY_BACKENDS),
    )
    batch_size: int = setting(
        DEFAULT_BATCH_SIZE,
        help="texts per encode batch",
        env="GIFSEARCH_BATCH_SIZE",
        group=SettingGroup.EMBED,
        check=_at_least(1),
    )
    cache_dir: Path = setting(
        factory=default_cache_dir,
        help="downloads and built query embedders",
        default_text="$XDG_CACHE_HOME/gifsearch or ~/.cache/gifsearch",
        env="GIFSEARCH_CACHE_DIR",
        group=SettingGroup.NETWORK,
        metavar="DIR",
    )
    network_timeout_s: float = setting(
        DEFAULT_NETWORK_TIMEOUT_S,
        help="seconds to wait for a connection or a read",
        env="GIFSEARCH_NETWORK_TIMEOUT_S",
        flag="--network-timeout",
        group=SettingGroup.NETWORK,
        metavar="SECONDS",
        label="network timeout",
        check=_seconds_up_to(MAX_NETWORK_TIMEOUT_S),
    )
    download_deadline_s: float = setting(
        DEFAULT_DOWNLOAD_DEADLINE_S,
        help="seconds a whole source download may take (a server that trickles is cut off)",
        env="GIFSEARCH_DOWNLOAD_DEADLINE_S",
        flag="--download-deadline",
        group=SettingGroup.NETWORK,
        metavar="SECONDS",
        label="download deadline",
        check=_seconds_up_to(MAX_DOWNLOAD_DEADLINE_S),
    )
    allow_private_urls: bool = setting(
        False,
        help="let the link checker and downloads reach loopback and private addresses "
        "(GIFs on this machine or the local network); off, a GIF URL or redirect there is "
        "refused",
        env="GIFSEARCH_ALLOW_PRIVATE_URLS",
        group=SettingGroup.NETWORK,
    )
    # Chroma server mode: when chroma_host is set every command uses Chroma's HttpClient.
    chroma_host: str | None = setting(
        None,
        help="use the Chroma server on this host instead of the embedded store",
        env="GIFSEARCH_CHROMA_HOST",
        group=SettingGroup.INDEX,
        metavar="HOST",
    )
    chroma_port: int = setting(
        DEFAULT_CHROMA_PORT,
        help="the Chroma server's port",
        env="GIFSEARCH_CHROMA_PORT",
        group=SettingGroup.INDEX,
        label="Chroma port",
        check=port_problem,
    )
    chroma_ssl: bool = setting(
        False,
        help="connect to the Chroma server with HTTPS",
        env="GIFSEARCH_CHROMA_SSL",
        group=SettingGroup.INDEX,
    )
    chroma_auth_header: str | None = setting(
        None,
        help="send this header to the Chroma server, e.g. 'Authorization: Bearer T'",
        env="GIFSEARCH_CHROMA_AUTH_HEADER",
        group=SettingGroup.INDEX,
        metavar="HEADER",
        label="Chroma auth header",
        check=_header_problem,
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "store_dir", Path(self.store_dir))
        object.__setattr__(self, "cache_dir", Path(self.cache_dir))
        validate(self)


def declared(cls: type) -> list[tuple[Field[Any], SettingInfo]]:
    """Return the fields of a settings dataclass with their declarations, in order."""
    return [(f, f.metadata["setting"]) for f in fields(cls) if "setting" in f.metadata]


def field_type(cls: type, name: str) -> type:
    """Return a declared field's value type (X for an `X | None` field)."""
    hint: type = typing.get_type_hints(cls)[name]
    if isinstance(hint, types.UnionType):
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return hint


def default_of(item: Field[Any]) -> object:
    """Return a field's default value (calling its factory)."""
    if item.default_factory is not MISSING:
        return item.default_factory()
    return item.default


def flag_of(item: Field[Any], info: SettingInfo) -> str:
    """Return a setting's flag: its declared one, else --its-name."""
    return info.flag or "--" + item.name.replace("_", "-")


def shorten(text: str, limit: int = MAX_SHOWN_CHARS) -> str:
    """Return text cut to limit characters (what a message may repeat of an input)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def validate(instance: object) -> None:
    """Raise ConfigError naming the first setting whose value fails its check."""
    for item, info in declared(type(instance)):
        if info.check is None:
            continue
        value = getattr(instance, item.name)
        problem = info.check(value)
        if problem:
            label = info.label or item.name.replace("_", " ")
            # An environment-only setting is a secret (a password): never repeat its value.
            shown = "" if info.env_only else f" {shorten(repr(value))}"
            raise ConfigError(f"{label}{shown} {problem}")


def parse_number(kind: type[Number], raw: str, where: str) -> Number:
    """Convert text to a whole or a finite number of kind; ConfigError names where."""
    noun = "a whole number" if kind is int else "a finite number"
    try:
        value = kind(raw.strip())
    except ValueError:
        raise ConfigError(f"{where}={shorten(repr(raw))} is not {noun}") from None
    if not math.isfinite(value):  # inf and nan would overflow a timeout or a deadline
        raise ConfigError(f"{where}={shorten(repr(raw))} is not {noun}")
    return value


def parse_text(kind: type, raw: str, where: str) -> object:
    """Convert a flag's or a variable's text to the field's type; ConfigError names where."""
    if kind is bool:
        if raw.lower() in TRUE_WORDS:
            return True
        if raw.lower() in FALSE_WORDS:
            return False
        allowed = ", ".join(TRUE_WORDS + FALSE_WORDS)
        raise ConfigError(f"{where}={shorten(repr(raw))} is not one of {allowed}")
    if kind is int:
        return parse_number(int, raw, where)
    if kind is float:
        return parse_number(float, raw, where)
    if kind is Path:
        return Path(raw).expanduser()
    return raw


def build_from(
    cls: type[SettingsT], overrides: Mapping[str, object], env: Mapping[str, str]
) -> SettingsT:
    """Build a settings dataclass from defaults, then its variables, then explicit overrides.

    Args:
        overrides: values given on the command line, by field name; None means "not given".
        env: the environment to read (os.environ at the edge, a dict in tests).
    """
    values: dict[str, object] = {}
    for item, info in declared(cls):
        raw = env.get(info.env)
        if raw:
            values[item.name] = parse_text(field_type(cls, item.name), raw, info.env)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return replace(cls(), **values)


def build_settings(overrides: Mapping[str, object], env: Mapping[str, str]) -> Settings:
    """Build Settings from defaults, then environment variables, then explicit overrides."""
    return build_from(Settings, overrides, env)


def env_vars(cls: type = Settings) -> dict[str, str]:
    """Return each declared field's environment variable, by field name."""
    return {item.name: info.env for item, info in declared(cls)}


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
