"""The usage log (store/usage.py) on a real SQLite file: bounded per collection, shared
by collections without mixing, read back by a new process's log, cleared on demand."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from search_app.store.usage import MAX_SEARCHES, MAX_SHARES, TRIM_EVERY, UsageLog


def test_searches_and_shares_stay_within_their_bounds(tmp_path: Path) -> None:
    log = UsageLog(tmp_path / "usage.sqlite3", "gifs")
    log.record_search("first")
    db = log._db(create=True)
    assert db is not None
    with db:  # a log filled past its bounds by earlier runs
        db.executemany(
            "INSERT INTO searches (collection, query, at) VALUES (?,?,?)",
            [("gifs", f"query {n}", float(n)) for n in range(MAX_SEARCHES + 500)],
        )
        db.executemany(
            "INSERT INTO shares (collection, gif_id, query, vector, at) VALUES (?,?,?,?,?)",
            [("gifs", f"{n:032x}", "q", None, float(n)) for n in range(MAX_SHARES + 500)],
        )
    fresh = UsageLog(tmp_path / "usage.sqlite3", "gifs")  # a new process: trims at once
    for n in range(TRIM_EVERY + 1):
        fresh.record_search(f"new query {n}")
    fresh.record_share("f" * 32, "a dog", np.ones(4, dtype=np.float32))
    shares, searches = fresh.counts()
    assert MAX_SEARCHES <= searches <= MAX_SEARCHES + TRIM_EVERY
    assert shares == MAX_SHARES
    newest = fresh.past_searches(k=MAX_SEARCHES + TRIM_EVERY)
    assert "new query 0" in {past.query for past in newest}  # the oldest went, not the new
    assert "query 0" not in {past.query for past in newest}


def test_collections_share_the_file_without_mixing(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    cats, dogs = UsageLog(path, "cats"), UsageLog(path, "dogs")
    cats.record_search("a cat jumps")
    dogs.record_share("d" * 32, "a dog runs", None)
    assert cats.counts() == (0, 1) and dogs.counts() == (1, 0)
    assert UsageLog(path, "cats").past_searches()[0].query == "a cat jumps"  # read back
    assert cats.clear() == (0, 1)
    assert cats.counts() == (0, 0) and dogs.counts() == (1, 0)
