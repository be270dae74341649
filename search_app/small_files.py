"""Reading a small text file a person points gifsearch at (a login, API keys): a regular
file only, size-capped before it is read, UTF-8; any problem is one ConfigError line."""

from __future__ import annotations

from pathlib import Path

from search_app.errors import ConfigError


def read_small_text(path: Path, what: str, max_bytes: int) -> str:
    """Return the text of path, a regular file of at most max_bytes ("what" names it in
    the error: "auth file", "API keys file")."""
    try:
        if not path.is_file():
            raise ConfigError(f"{what} {path} is not a regular file")
        if path.stat().st_size > max_bytes:
            raise ConfigError(f"{what} {path} is over {max_bytes:,} bytes")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ConfigError(f"can't read {what} {path}: {reason}") from None
