"""gifsearch's shared core (settings, records, store, embedder, search) and its front ends."""

from search_app.records import SearchHit
from search_app.search import SearchEngine, search
from search_app.settings import Settings

__all__ = ["SearchEngine", "SearchHit", "Settings", "search"]
