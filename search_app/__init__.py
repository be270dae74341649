"""gifsearch's shared core (settings, records, store, embedder, search) and its front ends.

`from search_app import search` works; the names are imported on first use, so that
importing one small module of the package (a search's start-up does) loads nothing else.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SearchEngine", "SearchHit", "Settings", "search"]
_HOMES = {
    "SearchEngine": "search_app.retrieval.engine",
    "search": "search_app.retrieval.engine",
    "SearchHit": "search_app.records",
    "Settings": "search_app.settings",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'search_app' has no attribute {name!r}")
