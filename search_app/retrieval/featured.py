"""The featured selection: a stable, diverse set of the collection's GIFs, for a client
that opens on GIFs before anyone typed (GIPHY's trending, Tenor's featured).

Read a sample of the collection that costs the same at any size (POOL_PAGES pages of rows
at evenly spaced positions: the same rows give the same sample), give each GIF the unit
mean of its sampled vectors, and order the GIFs by farthest-point selection: first the
GIF nearest the sample's centre (the most typical), then, each time, the GIF least like
any picked so far. Ties go to the smaller GIF id, so the order is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

POOL_PAGES = 8
POOL_PAGE_ROWS = 250  # 2,000 rows: a few hundred ms to read and order at any size


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Return the rows of matrix scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


def gif_vectors(
    gif_ids: Sequence[str], vectors: np.ndarray, dtype: type[np.floating] = np.float64
) -> tuple[list[str], np.ndarray]:
    """Return the distinct GIF ids (sorted) and each one's unit mean vector, summed and
    given in dtype (float32 holds a sample of 50,000 rows in half the memory)."""
    names, inverse = np.unique(np.asarray(gif_ids, dtype=object), return_inverse=True)
    if not len(names):
        return [], np.zeros((0, vectors.shape[1] if vectors.ndim == 2 else 0))
    order = np.argsort(inverse, kind="stable")  # each GIF's rows together, in their order
    starts = np.searchsorted(inverse[order], np.arange(len(names)))
    sums = np.add.reduceat(vectors[order].astype(dtype, copy=False), starts, axis=0)
    # unit_rows, in place and without a squared copy: one array of this size at a time
    norms = np.sqrt(np.einsum("ij,ij->i", sums, sums))[:, None]
    sums /= np.where(norms == 0, 1.0, norms)
    return [str(name) for name in names], sums


def diverse_order(vectors: np.ndarray, count: int) -> list[int]:
    """Return up to count row indices of unit vectors by farthest-point selection, starting
    from the row nearest the mean (see the module); ties: the lower index."""
    if len(vectors) == 0 or count < 1:
        return []
    centre = vectors.mean(axis=0)
    first = int(np.argmax(vectors @ centre))
    picked = [first]
    nearest = vectors @ vectors[first]  # each row's highest cosine to a picked row
    nearest[first] = np.inf
    while len(picked) < min(count, len(vectors)):
        chosen = int(np.argmin(nearest))  # the least like anything picked
        picked.append(chosen)
        nearest = np.maximum(nearest, vectors @ vectors[chosen])
        nearest[chosen] = np.inf
    return picked
