r"""Activation patterns of the data (docs/math.md sections 2 and 4).

The pattern of a direction h is :math:`D(h) = 1[X h \ge 0]` (an n-vector). A matrix ``D`` (n x P) stacks
P distinct patterns as columns. Two sources:

* :func:`sample_patterns` - Gaussian directions :math:`h \sim N(0, I_d)`, deduplicated, all-zero pattern
  dropped (the sampled program of docs/math.md section 4);
* :func:`enumerate_patterns` - every cell of the central hyperplane arrangement
  :math:`\{w : x_k^\top w = 0\}`, found by adding one hyperplane at a time and splitting a cell when a
  linear program finds points of it strictly on both sides (the exact program of docs/math.md section 2).

The number of cells is at most :math:`2 \sum_{k<r} \binom{n-1}{k}` with r = rank(X), with equality for
points in general position (:func:`max_pattern_count`).
"""
from __future__ import annotations

from math import comb

import numpy as np
from scipy.optimize import linprog

from .validation import check_matrix, check_positive_int, check_seed


def unique_columns(D, H=None):
    """Drop duplicate columns of ``D`` (first occurrence kept, order preserved) and the matching ``H``."""
    _, first = np.unique(D, axis=1, return_index=True)
    keep = np.sort(first)
    return (D[:, keep], None if H is None else H[:, keep])


def patterns_from_directions(X, H, drop_zero=True):
    r"""Activation patterns :math:`D = 1[X H \ge 0]` of the directions ``H`` (d x N) on trusted data ``X``:
    duplicate patterns dropped (first direction kept) and, if ``drop_zero``, the all-zero pattern (a neuron
    that is never active contributes nothing). Returns ``(D, H)`` with the directions of the kept patterns;
    ValueError when no usable pattern is left."""
    D = (X @ H >= 0).astype(float)
    if drop_zero:
        nonzero = D.any(axis=0)
        D, H = D[:, nonzero], H[:, nonzero]
    if D.shape[1] == 0:
        raise ValueError(f"the {H.shape[1] if H.ndim == 2 else 0} directions give zero usable activation "
                         f"patterns")
    return unique_columns(D, H)


def sample_patterns(X, n_samples, seed=None, drop_zero=True, check_input=True):
    r"""Sample activation patterns from Gaussian directions.

    Draws ``n_samples`` directions :math:`h_j \sim N(0, I_d)`, forms :math:`D(h_j) = 1[X h_j \ge 0]`,
    drops duplicate patterns (first draw kept) and, if ``drop_zero``, the all-zero pattern.
    Draws are nested: with the same seed, the first ``n`` directions of a larger sample are those of a
    sample of size ``n``, so the pattern set only grows with ``n_samples``.

    Returns ``(D, H)``: ``D`` is n x P (float 0/1, P <= n_samples) and ``H`` is d x P, the directions
    that produced the kept patterns.
    """
    if check_input:
        X = check_matrix(X, "X", copy=False)
    n_samples = check_positive_int(n_samples, "n_samples (number of sampled directions)")
    rng = np.random.default_rng(check_seed(seed))
    H = rng.standard_normal((n_samples, X.shape[1])).T
    try:
        return patterns_from_directions(X, H, drop_zero)
    except ValueError:
        raise ValueError(f"sampling {n_samples} directions produced zero usable activation patterns") from None


def max_pattern_count(n, rank):
    r"""Upper bound :math:`2 \sum_{k<r} \binom{n-1}{k}` on the number of patterns (cells of the central
    arrangement of n hyperplanes in rank r), attained for points in general position."""
    if n <= 0 or rank <= 0:
        return 1
    return 2 * sum(comb(n - 1, k) for k in range(rank))


def _cell_point(rows, signs, r):
    """Largest margin t such that signs_j * rows_j . w >= t for all j, |w|_inf <= 1 (an LP).

    Returns (t, w); t > 0 means the open cell is nonempty and w lies strictly inside it.
    """
    A = np.hstack([-(signs[:, None] * rows), np.ones((rows.shape[0], 1))])
    c = np.zeros(r + 1)
    c[-1] = -1.0
    res = linprog(c, A_ub=A, b_ub=np.zeros(rows.shape[0]), bounds=[(-1, 1)] * r + [(None, 1)],
                  method="highs")
    if res.status != 0:
        return 0.0, None
    return -res.fun, res.x[:r]


def enumerate_patterns(X, max_patterns=5000, tol=1e-9, check_input=True):
    r"""Every activation pattern of ``X``: one per cell of the central arrangement
    :math:`\{w : x_k^\top w = 0\}_{k=1..n}`.

    The data are first reduced to their row space (rank r), hyperplanes are added one at a time, and a
    cell is split when a linear program finds points of it strictly on both sides of the new hyperplane.
    Refuses (ValueError naming the expected count) when the general-position bound
    :func:`max_pattern_count` exceeds ``max_patterns``; raise the limit to go on.

    Returns ``(D, H)``: ``D`` (n x P, float 0/1, includes the all-negative cell's pattern when it
    exists) and ``H`` (d x P) with a direction strictly inside each cell, so ``D == (X @ H >= 0)``.
    Rows of X equal to zero are active (1) in every pattern.
    """
    if check_input:
        X = check_matrix(X, "X", copy=False)
    max_patterns = check_positive_int(max_patterns, "max_patterns")
    n, d = X.shape
    scale = np.linalg.norm(X, axis=1)
    nonzero_rows = np.flatnonzero(scale > 0)
    _, svals, Vt = np.linalg.svd(X, full_matrices=False)
    r = int(np.sum(svals > svals.max() * max(n, d) * np.finfo(float).eps)) if svals.size else 0
    if r == 0:
        return np.ones((n, 1)), np.eye(d, 1)
    expected = max_pattern_count(len(nonzero_rows), r)
    if expected > max_patterns:
        raise ValueError(
            f"exact enumeration would produce up to {expected:.3g} activation patterns (n={n}, rank={r}), "
            f"more than max_patterns={max_patterns:.3g}; raise max_patterns or use sampled patterns")
    basis = Vt[:r].T  # d x r
    Z = (X @ basis)[nonzero_rows] / scale[nonzero_rows, None]  # unit normals in R^r

    cells = [(np.zeros(0), np.ones(r) / np.sqrt(r))]  # (signs over hyperplanes added so far, interior point)
    for k in range(Z.shape[0]):
        z = Z[k]
        rows = Z[: k + 1]
        new_cells = []
        for signs, w in cells:
            side = z @ w
            # the side holding the current interior point is nonempty when the point is clearly off z
            known = np.sign(side) if abs(side) > 1e-7 * np.linalg.norm(w) else 0.0
            for s in (1.0, -1.0):
                cand = np.append(signs, s)
                if s == known:
                    new_cells.append((cand, w))
                    continue
                t, w_new = _cell_point(rows, cand, r)
                if t > tol:
                    new_cells.append((cand, w_new))
        cells = new_cells
    W = np.array([w for _, w in cells]).T  # r x P
    H = basis @ W
    D = (X @ H >= 0).astype(float)
    D, H = unique_columns(D, H)
    return D, H
