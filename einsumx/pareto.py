"""The exact non-dominated (Pareto) set of many points, by sorting.

A point dominates another when it is no worse in every objective and
better in at least one. ``nondominated`` returns the mask of points no
other point dominates; equal points do not dominate each other, so every
copy of a Pareto point is kept.

- Two objectives: sort by the first (then the second); a point is on the
  front when its second objective is below that of every point sorted
  before it (a running minimum): O(n log n).
- More objectives: sort lexicographically (a point can only be dominated
  by points sorted before it), then sweep the sorted points in blocks,
  dropping those the front so far dominates and keeping the survivors a
  block-mate does not dominate (sort-filter-skyline): O(n log n + n f)
  for a front of f points, in vectorized blocks.

Points with a NaN objective are never on the front.

>>> nondominated([[1, 4], [2, 2], [3, 3], [4, 1], [2, 2]]).tolist()
[True, True, False, True, True]
>>> nondominated([[1, 4], [2, 2]], maximize=[False, True]).tolist()
[True, False]
"""

from __future__ import annotations

import numpy as np

BLOCK = 512
PREFILTER = 4096
"""Above this many points, points that a few known front points dominate
are dropped first (a cheap, exact reduction: it only removes dominated points)."""


def nondominated(points, maximize=None) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``points`` (n x d),
    minimising every column except those flagged in ``maximize``."""
    x = np.array(points, dtype=float, copy=True)
    if x.ndim != 2:
        raise ValueError("points must be an n x d array")
    n, d = x.shape
    if maximize is not None:
        x[:, np.asarray(maximize, dtype=bool)] *= -1
    mask = np.zeros(n, dtype=bool)
    ok = ~np.isnan(x).any(axis=1)
    if not ok.any() or d == 0:
        return mask
    rows = np.flatnonzero(ok)
    if len(rows) > PREFILTER:
        rows = rows[~_dominated_by_pivots(x[rows])]
    y = x[rows]
    order = np.lexsort(y.T[::-1])  # lexicographic: first column, then the second, ...
    y = y[order]
    new = np.ones(len(y), bool)
    new[1:] = (y[1:] != y[:-1]).any(axis=1)
    group = np.cumsum(new) - 1  # each sorted row's distinct value
    keep = _front_sorted(y[new])
    mask[rows[order]] = keep[group]
    return mask


def _dominated_by_pivots(x: np.ndarray, pivots: int = 24, sample_size: int = 1 << 16) -> np.ndarray:
    """Rows that some pivot dominates. Removing what a point of the set
    dominates is exact whichever points are used; good pivots dominate
    much, so they are the minimisers of positive weighted sums of the
    range-normalised objectives over a random sample (each is on the
    sample's front)."""
    n, d = x.shape
    rng = np.random.default_rng(0)
    sample = x[rng.choice(n, min(n, sample_size), replace=False)] if n > sample_size else x
    lo, hi = sample.min(axis=0), sample.max(axis=0)
    z = (sample - lo) / np.where(hi > lo, hi - lo, 1.0)
    w = np.vstack([np.eye(d) + 1e-3, rng.dirichlet(np.ones(d), max(pivots - d, 0)) + 1e-3])  # k x d
    best_i = np.unique((w @ z.T).argmin(axis=1))
    cols = [np.ascontiguousarray(x[:, j]) for j in range(d)]
    alive = np.arange(n)
    for p in sample[best_i]:
        le = cols[0] >= p[0]
        eq = cols[0] == p[0]
        for j in range(1, d):
            le &= cols[j] >= p[j]
            eq &= cols[j] == p[j]
        keep = ~(le & ~eq)
        alive = alive[keep]
        cols = [c[keep] for c in cols]
    out = np.ones(n, bool)
    out[alive] = False
    return out


def _front_sorted(u: np.ndarray) -> np.ndarray:
    """Front of distinct rows sorted lexicographically (ascending)."""
    m, d = u.shape
    if d == 1:
        out = np.zeros(m, bool)
        out[0] = True
        return out
    if d == 2:
        # earlier rows have a smaller first objective (or equal and a smaller second)
        prev = np.minimum.accumulate(u[:, 1])
        out = np.ones(m, bool)
        out[1:] = u[1:, 1] < prev[:-1]
        return out
    front = np.empty((0, d))
    out = np.zeros(m, bool)
    for s in range(0, m, BLOCK):
        blk = u[s:s + BLOCK]
        alive = np.ones(len(blk), bool)
        for f in range(0, len(front), 4096):  # rows are distinct: <= everywhere means dominates
            alive &= ~(front[f:f + 4096, None, :] <= blk[None, :, :]).all(axis=2).any(axis=0)
        cand = np.flatnonzero(alive)
        b = blk[cand]
        dom = (b[:, None, :] <= b[None, :, :]).all(axis=2)
        np.fill_diagonal(dom, False)
        survivors = cand[~dom.any(axis=0)]
        out[s + survivors] = True
        front = np.concatenate([front, blk[survivors]])
    return out


def brute_force(points, maximize=None) -> np.ndarray:
    """The O(n^2) definition, for checking ``nondominated``."""
    x = np.array(points, dtype=float, copy=True)
    if maximize is not None:
        x[:, np.asarray(maximize, dtype=bool)] *= -1
    n = len(x)
    out = np.zeros(n, bool)
    for i in range(n):
        if np.isnan(x[i]).any():
            continue
        le = (x <= x[i]).all(axis=1)
        lt = (x < x[i]).any(axis=1)
        out[i] = not (le & lt).any()
    return out


def parse_objectives(text: str) -> list[tuple[str, bool]]:
    """``latency_s,energy_pj,utilization_PE2D:max`` -> [(column, maximize)]."""
    from .errors import EinsumxError, Origin

    out = []
    for item in text.split(","):
        name, _, sense = item.strip().partition(":")
        sense = sense.strip().lower() or "min"
        if not name or sense not in ("min", "max"):
            raise EinsumxError(f"'{item.strip()}' is not COLUMN or COLUMN:min or COLUMN:max", Origin("--objectives", 1, None, text))
        out.append((name.strip(), sense == "max"))
    if not out:
        raise EinsumxError("no objectives", Origin("--objectives"))
    return out
