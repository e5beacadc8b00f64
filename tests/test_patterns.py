"""Activation patterns (docs/math.md sections 2 and 4) checked against independent enumerations.

* the count on general-position data equals Cover's formula 2 * sum_{k<r} C(n-1, k), computed here with
  math.comb (not with the library's max_pattern_count);
* every enumerated pattern is realised by its direction: D == (X @ H >= 0), strictly inside its cell;
* the enumerated SET equals the set found by brute force that does not use linear programs:
  - rank 2: cells of lines through the origin are arcs between consecutive critical angles, and a
    fine deterministic angle sweep visits every arc;
  - rank 3 in general position: every cell of the sphere arrangement has a vertex x_i x x_j, and the
    four cells around that vertex carry every sign combination of rows i and j;
* data not in general position (rank deficient, repeated, antiparallel or zero rows) gives at most the
  formula's count and exactly the brute-force set;
* enumeration refuses above max_patterns with a message naming the expected count;
* sampled patterns are a nested, duplicate-free subset of the enumerated ones.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from formulations import add_bias_column, enumerate_patterns, make_program, sample_patterns


def cover_count(n, r):
    """Cells of a central arrangement of n hyperplanes in general position in R^r (Cover 1965)."""
    return 2 * sum(math.comb(n - 1, k) for k in range(r))


def as_set(D):
    return {tuple(int(v) for v in col) for col in np.asarray(D).T}


def critical_angle_patterns(Z):
    """Exact pattern set of rank-2 data Z (n x 2): one direction per arc between critical angles."""
    nz = np.linalg.norm(Z, axis=1) > 0
    phi = np.arctan2(Z[nz, 1], Z[nz, 0])
    crit = np.unique(np.mod(np.concatenate([phi + np.pi / 2, phi - np.pi / 2]), 2 * np.pi))
    nxt = np.append(crit[1:], crit[0] + 2 * np.pi)
    mids = 0.5 * (crit + nxt)
    H = np.vstack([np.cos(mids), np.sin(mids)])
    return as_set(Z @ H >= 0), float(np.min(nxt - crit))


def vertex_patterns(X):
    """Exact pattern set of data X (n x r, n >= r >= 2) in general position (any r rows independent).

    Every cell of the arrangement is a pointed cone, so it has an extreme ray; a ray is the line
    where r - 1 of the hyperplanes meet, and near it the 2^(r-1) cells take the signs of X v on the
    other rows and every combination on those r - 1 rows. (For r = 3: the vertices +-(x_i x x_j).)
    """
    n, r = X.shape
    out = set()
    for rows in itertools.combinations(range(n), r - 1):
        rows = list(rows)
        v = np.linalg.svd(X[rows])[2][-1]  # spans the null space of the r - 1 rows
        for s in (1.0, -1.0):
            base = (s * (X @ v) >= 0).astype(int)
            for combo in itertools.product((0, 1), repeat=r - 1):
                p = base.copy()
                p[rows] = combo
                out.add(tuple(p))
    return out


def assert_general_position(X, rel=1e-6):
    """Every r = d rows of X are linearly independent (so Cover's formula is attained)."""
    n, d = X.shape
    scale = np.prod(np.sort(np.linalg.norm(X, axis=1))[-d:])
    for rows in itertools.combinations(range(n), d):
        assert abs(np.linalg.det(X[list(rows)])) > rel * scale


def assert_realised(X, D, H, strict=True):
    assert D.shape == (X.shape[0], H.shape[1])
    assert set(np.unique(D)) <= {0.0, 1.0}
    np.testing.assert_array_equal(D, (X @ H >= 0).astype(float))
    assert len(as_set(D)) == D.shape[1], "duplicate patterns"
    if strict:  # a direction strictly inside each open cell: no row on its hyperplane
        margins = np.abs(X @ (H / np.linalg.norm(H, axis=0)))
        assert margins.min() > 1e-9 * np.abs(X).max()


# -- general position ---------------------------------------------------------------------------------
def test_exact_count_and_set_general_position_with_bias(gp_patterns):
    X, D, H = gp_patterns  # n = 12 points with a bias column: r = 3
    n = X.shape[0]
    assert_general_position(X)
    assert D.shape[1] == cover_count(n, 3) == 2 * (1 + 11 + 55)
    assert_realised(X, D, H)
    assert as_set(D) == vertex_patterns(X)
    # with a bias column the all-negative cell exists (w = -e_bias), so the zero pattern is included
    assert tuple([0] * n) in as_set(D) and tuple([1] * n) in as_set(D)


def test_exact_count_and_set_rank_two_against_angle_sweep():
    rng = np.random.default_rng(11)
    Z = rng.standard_normal((9, 2))
    D, H = enumerate_patterns(Z)
    assert D.shape[1] == cover_count(9, 2) == 18
    assert_realised(Z, D, H)
    exact, min_arc = critical_angle_patterns(Z)
    assert as_set(D) == exact
    # brute force with no knowledge of the cells: a deterministic sweep of N angles visits every arc
    # as soon as the shortest arc is longer than the step
    N = 20000
    assert min_arc > 2 * np.pi / N
    theta = 2 * np.pi * np.arange(N) / N
    sweep = as_set(Z @ np.vstack([np.cos(theta), np.sin(theta)]) >= 0)
    assert sweep == as_set(D)


@pytest.mark.parametrize("n, d", [(7, 4), (6, 1), (5, 5)])
def test_exact_count_other_ranks(n, d):
    rng = np.random.default_rng(100 + d)
    X = rng.standard_normal((n, d))
    D, H = enumerate_patterns(X)
    assert D.shape[1] == cover_count(n, min(n, d))
    assert_realised(X, D, H)
    if d >= 2:
        assert_general_position(X[:, :n] if d > n else X)
        assert as_set(D) == vertex_patterns(X)
    if d >= n:  # full row rank: every one of the 2^n sign patterns is a cell
        assert D.shape[1] == 2 ** n


def test_random_directions_only_find_enumerated_patterns(gp_patterns):
    X, D, _ = gp_patterns
    found = as_set(D)
    rng = np.random.default_rng(5)
    sets = []
    for m in (100, 1000, 20000):
        G = rng.standard_normal((3, m))
        sets.append(as_set(X @ G >= 0))
        assert sets[-1] <= found
    # more directions find more of the cells (the sampled set approaches the enumerated set)
    assert len(sets[0]) <= len(sets[1]) <= len(sets[2])
    assert len(sets[2]) >= 0.9 * len(found)


# -- not in general position ---------------------------------------------------------------------------
def test_rank_deficient_data():
    rng = np.random.default_rng(3)
    Z = rng.standard_normal((10, 2))
    X = Z @ rng.standard_normal((2, 4))  # rank 2 in R^4
    D, H = enumerate_patterns(X)
    assert np.linalg.matrix_rank(X) == 2
    assert D.shape[1] <= cover_count(10, 2) < cover_count(10, 4)
    assert_realised(X, D, H)
    # X h = Z (B h) and B h ranges over R^2: the patterns are those of Z
    assert as_set(D) == critical_angle_patterns(Z)[0]


def test_repeated_points_with_bias():
    rng = np.random.default_rng(4)
    Zu = rng.standard_normal((8, 2))
    Z = np.vstack([Zu, Zu[[0, 3, 3, 6]]])  # 12 rows, 8 distinct
    X = add_bias_column(Z)
    D, H = enumerate_patterns(X)
    assert D.shape[1] <= cover_count(12, 3)
    assert D.shape[1] == cover_count(8, 3)  # the distinct points are in general position
    assert_realised(X, D, H)
    expand = [0, 1, 2, 3, 4, 5, 6, 7, 0, 3, 3, 6]
    brute = {tuple(p[k] for k in expand) for p in vertex_patterns(add_bias_column(Zu))}
    assert as_set(D) == brute


def test_antiparallel_collinear_and_zero_rows():
    rng = np.random.default_rng(9)
    Z = rng.standard_normal((5, 2))
    X = np.vstack([Z, 2.0 * Z[0], -Z[1], -3.0 * Z[2], np.zeros((1, 2))])  # 9 rows, 5 distinct lines
    D, H = enumerate_patterns(X)
    assert D.shape[1] <= cover_count(9, 2)
    assert D.shape[1] == 2 * 5  # 5 distinct lines through the origin cut the plane into 10 arcs
    assert_realised(X, D, H, strict=False)
    assert np.all(D[-1] == 1)  # a zero row satisfies x.h >= 0 for every h
    assert as_set(D) == critical_angle_patterns(X)[0]


# -- refusal -------------------------------------------------------------------------------------------
def test_enumeration_refuses_and_names_the_count(gp_data):
    X = add_bias_column(gp_data["X"])
    expected = cover_count(12, 3)
    with pytest.raises(ValueError, match=rf"\b{expected}\b.*max_patterns=100"):
        enumerate_patterns(X, max_patterns=100)
    with pytest.raises(ValueError, match=rf"\b{expected}\b"):
        make_program("exact", gp_data["X"], gp_data["y_reg"], bias=True, max_patterns=expected - 1)
    # a limit at the count is allowed (r = 1 here: 2 cells, no linear program needed)
    D, _ = enumerate_patterns(np.array([[1.0], [-2.0], [3.0]]), max_patterns=cover_count(3, 1))
    assert D.shape[1] == 2


# -- sampling ------------------------------------------------------------------------------------------
def test_sampled_patterns_nested_unique_and_subset(gp_patterns):
    X, D_all, _ = gp_patterns
    found = as_set(D_all)
    prev = None
    for m in (3, 10, 40, 160, 640):
        D, H = sample_patterns(X, m, seed=123)
        assert D.shape[1] <= m
        assert_realised(X, D, H, strict=False)
        assert as_set(D) <= found
        assert not np.any(np.all(D == 0, axis=0)), "the all-zero pattern must be dropped"
        if prev is not None:  # nested: the smaller sample's patterns come first, in the same order
            P0 = prev[0].shape[1]
            np.testing.assert_array_equal(D[:, :P0], prev[0])
            np.testing.assert_array_equal(H[:, :P0], prev[1])
        prev = (D, H)
    # the same seed gives the same draw; a different seed a different one
    np.testing.assert_array_equal(sample_patterns(X, 40, seed=123)[1], sample_patterns(X, 40, seed=123)[1])
    assert not np.array_equal(sample_patterns(X, 40, seed=124)[1], sample_patterns(X, 40, seed=123)[1])


def test_synthetic_data_of_any_size_from_a_seed():
    """The planted-teacher generator: any n and d, reproducible from its seed, balanced classes with the
    requested label noise against the teacher, available by name (with options) wherever data are loaded."""
    from formulations.datasets import load_data, synthetic

    clean = synthetic(4000, 7, label_noise=0.0, seed=3)
    noisy = synthetic(4000, 7, label_noise=0.2, seed=3)
    assert clean.X.shape == (4000, 7) and np.array_equal(clean.X, noisy.X)
    assert abs(np.mean(clean.y > 0) - 0.5) < 0.01
    assert 0.17 < np.mean(clean.y != noisy.y) < 0.23
    again = load_data("synthetic:n=4000,d=7,label_noise=0.2,seed=3")
    assert np.array_equal(again.X, noisy.X) and np.array_equal(again.y, noisy.y)
    regression = load_data("synthetic:n=300,d=4,task=regression")
    assert regression.task == "regression" and regression.X.shape == (300, 4)
    for bad in ("synthetic:q=1", "synthetic:n=abc", "synthetic:task=ranking", "synthetic:n=0"):
        with pytest.raises(ValueError):
            load_data(bad)
