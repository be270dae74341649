"""The search: a request (request.py) in, ranked GIFs out (engine.py), by the query language
(query.py), the pooling and rank fusion (ranking.py) and, for a long-lived engine, the rows
kept in memory (catalog.py)."""
