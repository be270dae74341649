"""Retrieval metrics: recall@k and MRR@10, by stratum, with cluster-bootstrap intervals.

A query's target is one GIF; its rank is where that GIF came in the top RANK_DEPTH results
(None when it did not). Queries of one GIF are not independent (they describe the same
GIF), so intervals resample GIFs, not queries: 1,000 resamples, 95% percentile intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RECALL_AT = (1, 5, 10)
RANK_DEPTH = 10  # search's default k: eval ranks exactly as `gifsearch search` shows
BOOTSTRAP_SAMPLES = 1_000
CONFIDENCE = 95.0
# Strata by how many descriptions of the target GIF the query can find (its indexed
# descriptions, less the query's own row when that is hidden).
STRATA = ((1, 1, "1"), (2, 2, "2"), (3, 4, "3-4"), (5, 9, "5-9"), (10, None, "10+"))
ALL_STRATA = "all"


def stratum_of(described: int) -> str:
    """Return the stratum label of a target GIF with `described` findable descriptions."""
    for low, high, label in STRATA:
        if described >= low and (high is None or described <= high):
            return label
    raise ValueError(f"a target GIF needs 1 or more findable descriptions, not {described}")


def rank_of(target: str, ranking: Sequence[str], depth: int = RANK_DEPTH) -> int | None:
    """Return the 1-based rank of target among the first depth GIF ids, else None."""
    for position, gif_id in enumerate(ranking[:depth], start=1):
        if gif_id == target:
            return position
    return None


@dataclass(frozen=True)
class Interval:
    """A value and its 95% bootstrap interval."""

    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        """Return the interval as JSON-ready data."""
        return {
            "value": round(self.value, 4),
            "low": round(self.low, 4),
            "high": round(self.high, 4),
        }


def metric_columns(ranks: Sequence[int | None]) -> dict[str, np.ndarray]:
    """Return each query's recall@k hits (0/1) and reciprocal rank, by metric name."""
    found = np.array([0 if r is None else r for r in ranks], dtype=np.float64)
    columns = {f"recall@{k}": ((found >= 1) & (found <= k)).astype(np.float64) for k in RECALL_AT}
    columns["mrr"] = np.where(found >= 1, 1.0 / np.maximum(found, 1.0), 0.0)
    return columns


class ClusterBootstrap:
    """Resamples of query clusters (target GIFs), drawn once and shared by every metric.

    Sharing the draws makes a difference's interval a paired one: both sides are
    resampled alike.
    """

    def __init__(
        self, clusters: Sequence[str], samples: int = BOOTSTRAP_SAMPLES, seed: int = 0
    ) -> None:
        labels, self.cluster_of = np.unique(np.asarray(clusters, dtype=object), return_inverse=True)
        self.size = len(labels)
        self.count = np.bincount(self.cluster_of, minlength=self.size).astype(np.float64)
        rng = np.random.default_rng(seed)
        self.picks = rng.integers(0, self.size, (samples, self.size)) if self.size else None

    def interval(self, values: np.ndarray) -> Interval:
        """Return the mean of per-query values with its 95% interval."""
        if self.picks is None:
            return Interval(0.0, 0.0, 0.0)
        sums = np.bincount(self.cluster_of, weights=values, minlength=self.size)
        resampled = sums[self.picks].sum(axis=1) / self.count[self.picks].sum(axis=1)
        tail = (100.0 - CONFIDENCE) / 2
        low, high = np.percentile(resampled, [tail, 100.0 - tail])
        return Interval(float(values.mean()), float(low), float(high))


@dataclass(frozen=True)
class StratumMetrics:
    """One variant's metrics on one stratum of queries, each with its interval, and its
    recall@10 minus the baseline's (paired interval)."""

    queries: int
    metrics: dict[str, Interval]
    recall10_vs_baseline: Interval | None

    def to_dict(self) -> dict[str, object]:
        """Return the metrics as JSON-ready data."""
        data: dict[str, object] = {"queries": self.queries}
        data.update({name: m.to_dict() for name, m in self.metrics.items()})
        if self.recall10_vs_baseline is not None:
            data["recall@10_vs_baseline"] = self.recall10_vs_baseline.to_dict()
        return data


def measure_strata(
    ranks: Sequence[int | None],
    baseline: Sequence[int | None] | None,
    strata: Sequence[str],
    clusters: Sequence[str],
) -> dict[str, StratumMetrics]:
    """Return metrics over all queries ('all') and per stratum present, in STRATA order."""
    columns = metric_columns(ranks)
    base = metric_columns(baseline)["recall@10"] if baseline is not None else None
    labels = np.asarray(strata, dtype=object)
    groups = np.asarray(clusters, dtype=object)
    result: dict[str, StratumMetrics] = {}
    for label in (ALL_STRATA, *(s[2] for s in STRATA)):
        chosen = np.ones(len(labels), bool) if label == ALL_STRATA else labels == label
        if not chosen.any():
            continue
        bootstrap = ClusterBootstrap(list(groups[chosen]))
        metrics = {name: bootstrap.interval(values[chosen]) for name, values in columns.items()}
        versus = None
        if base is not None:
            versus = bootstrap.interval(columns["recall@10"][chosen] - base[chosen])
        result[label] = StratumMetrics(int(chosen.sum()), metrics, versus)
    return result
