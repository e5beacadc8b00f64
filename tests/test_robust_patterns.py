"""Patterns that survive epsilon (formulations/robust_patterns.py; docs/math.md section 7).

Every claim is checked against mathematics written here, not against the library's own LP:

* a pattern with signs s has a nonzero robust cone at eps exactly when the linear feasibility problem
  ``s_k x_k.h >= eps |h_p|_1, |h_p|_1 = 1`` (h_p = h+ - h-, the l1 norm split into nonnegative parts) has a
  solution - solved here with scipy's ``linprog`` in that form (the library maximises a margin instead);
* the returned directions H induce D (``X @ H >= 0`` equals D) with the margin, by arithmetic;
* at eps = 0.1 on real data far more of the eps-aware patterns survive than of Gaussian patterns;
* the robust program built on them keeps H, counts them all as surviving, and (slow) has a lower optimum
  (Clarabel) than the program on Gaussian patterns.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.optimize import linprog

from formulations import (add_bias_column, make_program, replace_collapsed_patterns, sample_patterns,
                          sample_robust_patterns)
from formulations.network import ReLUNetwork
from formulations.robust import CollapsedConesWarning, FewConesSurviveWarning
from formulations.robust_patterns import FewSurvivingPatternsWarning


def cone_is_nonzero(X, column, eps, bias):
    """Independent test (eps > 0): is {h : s o (X h) >= eps |h_p|_1, |h_p|_1 = 1} nonempty? Variables h_p+,
    h_p- (>= 0, 1.(h_p+ + h_p-) = 1 >= |h_p|_1) and the bias coordinate; a pure feasibility LP (zero
    objective). A solution with h_p+ = h_p- has s o (X h) >= eps > 0 from the bias alone, which realises the
    pattern (the all-ones one) with any margin, so feasibility is exactly "the cone is not {0}"."""
    sign = 2.0 * column - 1.0
    Xp = X[:, :-1] if bias else X
    k = Xp.shape[1]
    SXp = sign[:, None] * Xp
    blocks = [-SXp + eps, SXp + eps]  # -(s x_p.(h+ - h-)) + eps (1.h+ + 1.h-) <= s h_b
    if bias:
        blocks.append(-sign[:, None])
    A_ub = np.hstack(blocks)
    A_eq = np.concatenate([np.ones(2 * k), np.zeros(int(bias))])[None, :]
    bounds = [(0, None)] * (2 * k) + [(None, None)] * int(bias)
    result = linprog(np.zeros(2 * k + int(bias)), A_ub=A_ub, b_ub=np.zeros(len(sign)), A_eq=A_eq, b_eq=[1.0],
                     bounds=bounds, method="highs")
    return result.status == 0


def check_returned(X, D, H, eps, bias):
    """D distinct 0/1 columns, H induces D with margin eps, every cone nonzero by the independent LP."""
    assert D.shape[1] == H.shape[1] and H.shape[0] == X.shape[1]
    assert np.array_equal(np.unique(D, axis=1).shape, D.shape) and set(np.unique(D)) <= {0.0, 1.0}
    assert np.array_equal(X @ H >= 0, D > 0)
    S = 2.0 * D - 1.0
    l1 = np.abs(H[:-1] if bias else H).sum(axis=0)
    assert np.all(S * (X @ H) >= eps * l1[None, :])
    assert all(cone_is_nonzero(X, column, eps, bias) for column in D.T)


def survivors(X, D, eps, bias):
    return np.array([cone_is_nonzero(X, column, eps, bias) for column in D.T], dtype=bool)


@pytest.fixture(scope="module")
def small_gaussian():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((40, 4))
    return X, add_bias_column(X)


@pytest.fixture(scope="module")
def breast_cancer_subsample():
    from formulations.datasets import breast_cancer
    ds = breast_cancer()
    X, _, y, _ = ds.train_test_split(test_size=(ds.n - 60) / ds.n, seed=0)
    return add_bias_column(X), y


def test_independent_lp_agrees_with_closed_forms():
    """The test's own LP: one feature, points -1, 1 with bias -> the split at 0 survives exactly eps < 1."""
    X = np.array([[-1.0, 1.0], [1.0, 1.0], [2.0, 1.0]])
    split = np.array([0.0, 1.0, 1.0])
    assert cone_is_nonzero(X, split, 0.99, True) and not cone_is_nonzero(X, split, 1.01, True)
    assert cone_is_nonzero(X, np.ones(3), 50.0, True)  # the bias alone realises the all-ones pattern
    assert not cone_is_nonzero(X, np.array([1.0, 0.0, 1.0]), 1e-3, True)  # not a linear split at all


@pytest.mark.parametrize("bias, eps", [(True, 0.15), pytest.param(False, 0.05, marks=pytest.mark.slow)])
def test_every_returned_pattern_survives_and_is_induced_with_margin(small_gaussian, bias, eps):
    X = small_gaussian[1] if bias else small_gaussian[0]
    X_before = X.copy()
    D, H = sample_robust_patterns(X, 12, eps, bias=bias, seed=3)
    assert np.array_equal(X, X_before)
    assert D.shape[1] == 12
    check_returned(X, D, H, eps, bias)


def test_far_more_survive_than_with_gaussian_patterns(breast_cancer_subsample):
    X, _ = breast_cancer_subsample
    eps = 0.1
    D_plain, _ = sample_patterns(X, 20, seed=0)
    D, H = sample_robust_patterns(X, 20, eps, bias=True, seed=0)
    check_returned(X, D, H, eps, True)
    plain = int(survivors(X, D_plain, eps, True).sum())
    assert D.shape[1] == 20 and plain <= 10 and D.shape[1] >= 2 * plain


def test_the_robust_program_keeps_the_directions_and_counts_every_pattern(breast_cancer_subsample):
    X, y = breast_cancer_subsample
    eps = 0.1
    D, H = sample_robust_patterns(X, 10, eps, bias=True, seed=1)
    program = make_program("robust", X[:, :-1], y, "hinge", 1.0, D=D, H=H, epsilon=eps, bias=True)
    assert program.H is not None and np.array_equal(program.D, D)
    assert program.surviving_patterns() == D.shape[1]


@pytest.mark.slow
def test_network_patterns_are_the_surviving_neuron_patterns(small_gaussian):
    _, X = small_gaussian
    eps = 0.1
    U = np.random.default_rng(7).standard_normal((X.shape[1], 15))
    D, H = sample_robust_patterns(X, 15, eps, bias=True, method="network", network=ReLUNetwork(U, np.ones(15)))
    check_returned(X, D, H, eps, True)
    neuron_patterns = (X @ U >= 0).astype(float)
    neuron_patterns = np.unique(neuron_patterns[:, neuron_patterns.any(axis=0)], axis=1)
    expected = {tuple(c) for c, ok in zip(neuron_patterns.T, survivors(X, neuron_patterns, eps, True)) if ok}
    assert {tuple(c) for c in D.T} == expected
    D_array, _ = sample_robust_patterns(X, 15, eps, bias=True, method="network", network=U)  # weights as array
    assert np.array_equal(D_array, D)


def test_replace_collapsed_keeps_survivors_untouched(small_gaussian):
    _, X = small_gaussian
    eps = 0.1
    D, _ = sample_patterns(X, 16, seed=5)
    alive = survivors(X, D, eps, True)
    assert 0 < alive.sum() < D.shape[1]  # the instance has both kinds
    D_before = D.copy()
    D_new, H_new, unreplaced = replace_collapsed_patterns(X, D, eps, bias=True, seed=0)
    assert np.array_equal(D, D_before)
    kept = int(alive.sum())
    assert np.array_equal(D_new[:, :kept], D[:, alive])
    assert unreplaced == 0 and D_new.shape[1] == D.shape[1]
    check_returned(X, D_new, H_new, eps, True)


def test_unreplaceable_patterns_are_counted_and_warned():
    """Two points on a line with bias at distance 1: only the split between them and the all-ones pattern
    (bias alone) exist; at eps 0.4 the split survives (gap 1 > 0.8), so one of the two collapsed patterns
    asked for cannot be replaced."""
    X = np.array([[0.0, 1.0], [1.0, 1.0]])
    D = np.array([[0.0, 1.0], [1.0, 0.0]])  # the split 'second point active' and its complement
    with pytest.warns(FewSurvivingPatternsWarning):
        D_new, H_new, unreplaced = replace_collapsed_patterns(X, D, 0.6, bias=True, seed=0)
    assert unreplaced == 2 and D_new.shape[1] == 0
    D_new, H_new, unreplaced = replace_collapsed_patterns(X, D, 0.4, bias=True, seed=0)
    assert unreplaced == 0 and D_new.shape[1] == 2
    check_returned(X, D_new, H_new, 0.4, True)


@pytest.mark.parametrize("kwargs, match", [
    (dict(epsilon=-0.1), "epsilon"),
    (dict(n_patterns=0), "n_patterns"),
    (dict(method="gauss"), "unknown method"),
    (dict(method="network"), "network="),
    (dict(network=np.ones((5, 2))), "network= is used"),
    (dict(method="network", network=np.ones((3, 2))), "shape mismatch"),
    (dict(bias="yes"), "bias"),
    (dict(seed=-1), "seed"),
])
def test_bad_input_is_refused(small_gaussian, kwargs, match):
    _, X = small_gaussian
    args = dict(X=X, n_patterns=5, epsilon=0.1, bias=True)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        sample_robust_patterns(**args)


def test_bad_data_is_refused(small_gaussian):
    X, Xb = small_gaussian
    with pytest.raises(ValueError, match="last column"):
        sample_robust_patterns(X, 5, 0.1, bias=True)
    bad = Xb.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        sample_robust_patterns(bad, 5, 0.1, bias=True)
    with pytest.raises(ValueError, match="0/1"):
        replace_collapsed_patterns(Xb, np.full((Xb.shape[0], 2), 0.5), 0.1, bias=True)
    with pytest.raises(ValueError, match="rows"):
        replace_collapsed_patterns(Xb, np.ones((3, 2)), 0.1, bias=True)
    # no point of a central hyperplane can be eps away when a training point lies in the eps-box of 0
    near_origin = np.vstack([X, np.full((1, X.shape[1]), 0.01)])
    with pytest.raises(ValueError, match="no activation pattern survives"):
        sample_robust_patterns(near_origin, 5, 0.05, bias=False, seed=0)


def test_program_warns_when_nearly_every_cone_collapses(small_gaussian):
    X, Xb = small_gaussian
    y = np.where(X[:, 0] >= 0, 1.0, -1.0)
    D_plain, _ = sample_patterns(Xb, 40, seed=0)
    D_plain = D_plain[:, ~D_plain.all(axis=0)]  # the all-ones pattern survives every epsilon (bias alone)
    critical = make_program("robust", X, y, "hinge", 1.0, D=D_plain, bias=True).critical_epsilons()
    alive = np.sort(critical)[::-1]
    eps = float(0.5 * (alive[0] + alive[1]))  # exactly one cone survives of >= 20
    assert D_plain.shape[1] >= 20
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        program = make_program("robust", X, y, "hinge", 1.0, D=D_plain, bias=True, epsilon=eps)
        assert program.warn_if_cones_collapse() is False
        program.set_epsilon(float(0.5 * alive[-1]))  # every cone survives: no warning
    kinds = [type(w.message) for w in caught]
    assert kinds == [FewConesSurviveWarning] and issubclass(FewConesSurviveWarning, CollapsedConesWarning)
    assert "only 1 of" in str(caught[0].message)


def test_command_line_warns_on_one_line_before_solving(capsys, tmp_path):
    """The CLI builds a robust program whose cones all collapse and says so on stderr, one line."""
    from solvers.interface import commands
    from solvers.interface.cli import _show_warning, build_parser

    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 2))
    path = tmp_path / "data.npz"
    np.savez(path, X=X, y=np.where(X[:, 0] >= 0, 1.0, -1.0))
    args = build_parser().parse_args(["solve", "--data", str(path), "--formulation", "robust", "--loss", "hinge",
                                      "--epsilon", "50", "--patterns", "5"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        commands.build_instance(args)
    assert [type(w.message) for w in caught] == [CollapsedConesWarning]
    _show_warning(caught[0].message, caught[0].category, caught[0].filename, caught[0].lineno)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("cvxnn: warning: every robust cone is {0}")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["breast_cancer", "digits"])
def test_eps_aware_patterns_lower_the_robust_optimum(name):
    """Digits / breast cancer, 150 training rows, P = 20, hinge, beta = 1, eps = 0.1: the robust optimum
    (Clarabel) on eps-aware patterns is well below the one on Gaussian patterns, whose cones (nearly) all
    collapse; every eps-aware pattern survives by the independent LP."""
    from formulations.datasets import breast_cancer, digits_binary
    from solvers import solve_oracle

    ds = {"breast_cancer": breast_cancer, "digits": digits_binary}[name]()
    X, _, y, _ = ds.train_test_split(test_size=(ds.n - 150) / ds.n, seed=0)
    Xb, eps = add_bias_column(X), 0.1
    D_plain, _ = sample_patterns(Xb, 20, seed=0)
    D, H = sample_robust_patterns(Xb, 20, eps, bias=True, seed=0)
    check_returned(Xb, D, H, eps, True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = solve_oracle(make_program("robust", X, y, "hinge", 1.0, D=D_plain, epsilon=eps, bias=True))
        aware = solve_oracle(make_program("robust", X, y, "hinge", 1.0, D=D, H=H, epsilon=eps, bias=True))
    assert plain.status == "optimal" and aware.status == "optimal"
    assert aware.objective < 0.6 * plain.objective
