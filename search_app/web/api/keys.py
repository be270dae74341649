"""API keys: read from a file or the environment (never a flag: `ps` shows flags), and
checked in constant time. No keys configured: the API is open (a loopback-only server)."""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from pathlib import Path

from search_app.errors import ConfigError
from search_app.small_files import read_small_text

MAX_KEYS_FILE_BYTES = 64 * 1024
MAX_KEYS = 1_000
KEY_PATTERN = re.compile(r"[A-Za-z0-9._~+/=-]{16,200}")  # what a generated token looks like
KEY_HINT = "16 to 200 letters, digits or ._~+/=- each (e.g. from `openssl rand -hex 24`)"


class KeyCheck:
    """What a request's key amounts to."""

    OPEN = "open"  # no keys configured
    VALID = "valid"
    MISSING = "missing"  # 401 in every dialect
    INVALID = "invalid"  # 403


@dataclass(frozen=True)
class ApiKeys:
    """The keys a client may present; empty: none needed."""

    keys: tuple[str, ...] = ()

    def __repr__(self) -> str:  # never print a key
        return f"ApiKeys({len(self.keys)} keys)"

    @property
    def required(self) -> bool:
        """Whether a request needs a key."""
        return bool(self.keys)

    def check(self, presented: str | None) -> str:
        """Return a KeyCheck value for the key a request presented (None: none)."""
        if not self.keys:
            return KeyCheck.OPEN
        if not presented:
            return KeyCheck.MISSING
        given = presented.encode("utf-8", "replace")
        # Compare with every key (constant time each), so the time says nothing of which.
        matched = [hmac.compare_digest(given, key.encode()) for key in self.keys]
        return KeyCheck.VALID if any(matched) else KeyCheck.INVALID


def parse_keys(text: str, where: str) -> ApiKeys:
    """Return the keys in text: one per line or comma-separated, '#' starts a comment;
    refused in one line (naming where, never quoting a key) when one is malformed."""
    keys: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        for part in line.split("#", 1)[0].split(","):
            key = part.strip()
            if not key:
                continue
            if not KEY_PATTERN.fullmatch(key):
                raise ConfigError(
                    f"API key {len(keys) + 1} in {where} (line {number}) is not "
                    f"a key: use {KEY_HINT}"
                )
            keys.append(key)
    if len(keys) > MAX_KEYS:
        raise ConfigError(f"{where} holds {len(keys):,} API keys: {MAX_KEYS:,} at most")
    return ApiKeys(tuple(dict.fromkeys(keys)))


def read_keys_file(path: Path) -> ApiKeys:
    """Return the keys of a small regular file (see parse_keys)."""
    text = read_small_text(path, "API keys file", MAX_KEYS_FILE_BYTES)
    keys = parse_keys(text, str(path))
    if not keys.required:
        raise ConfigError(f"API keys file {path} holds no key: write one key per line")
    return keys


def load_keys(environment_keys: str | None, keys_file: Path | None) -> ApiKeys:
    """The keys from GIFSEARCH_API_KEYS and the keys file together (either may be unset)."""
    keys: list[str] = []
    if environment_keys:
        keys += parse_keys(environment_keys, "GIFSEARCH_API_KEYS").keys
    if keys_file is not None:
        keys += read_keys_file(keys_file).keys
    return ApiKeys(tuple(dict.fromkeys(keys)))
