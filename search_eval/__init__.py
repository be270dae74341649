"""gifsearch eval: retrieval quality of search's own ranking code, by stratum (not part of
the search core: nothing in search_app imports it)."""
