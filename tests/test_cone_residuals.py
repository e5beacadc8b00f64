"""The cone residuals on wide data (``solvers.core.dual.cone_residuals``): the batched projected gradient
against scipy's exact NNLS, and the interior point that certifies with it against the CVXPY oracle."""
import warnings

import numpy as np
import pytest
from scipy.optimize import nnls

from formulations import make_program
from solvers import solve_oracle
from solvers.battery import zero_model_beta
from solvers.core.dual import NNLS_MAX_FEATURES, cone_residuals, gram_norm
from solvers.ipm_dense import ipm_dense

WIDE = NNLS_MAX_FEATURES + 20


def _wide_blocks(n=500, blocks=3, seed=0):
    """Data with more than NNLS_MAX_FEATURES features, the signs of ``blocks`` pattern cones (pointed, so
    the residuals are not 0) and gradients of several scales."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, WIDE))
    signs = np.where(X @ rng.standard_normal((WIDE, blocks)) >= 0, 1.0, -1.0)
    G = rng.standard_normal((WIDE, blocks)) * np.array([1.0, 10.0, 100.0])[:blocks]
    exact = np.array([nnls((signs[:, b:b + 1] * X).T, G[:, b], maxiter=50 * n)[1] for b in range(blocks)])
    return X, signs, G, exact


def test_gram_norm_is_the_largest_eigenvalue_raised_by_one_percent():
    X = np.random.default_rng(1).standard_normal((400, WIDE))
    assert gram_norm(X) == pytest.approx(1.01 * np.linalg.eigvalsh(X.T @ X)[-1], rel=1e-6)


def test_wide_residuals_converge_to_the_exact_nnls_from_above():
    X, signs, G, exact = _wide_blocks()
    values, lam = cone_residuals(X, signs, G, max_iter=20000, stall=1e-12)
    assert np.all(lam >= 0.0)
    attained = np.linalg.norm(G - X.T @ (signs * lam), axis=0)
    np.testing.assert_allclose(values, attained, rtol=1e-12)  # each value is the residual at lam
    assert np.all(values >= exact * (1.0 - 1e-12))
    np.testing.assert_allclose(values, exact, rtol=1e-6)


def test_a_block_stops_at_its_target_and_a_warm_start_only_improves():
    X, signs, G, exact = _wide_blocks(seed=2)
    targets = exact + 0.5 * (np.linalg.norm(G, axis=0) - exact)
    values, lam = cone_residuals(X, signs, G, target=targets)
    assert np.all(values <= targets) and np.all(values >= exact * (1.0 - 1e-12))
    short, lam_short = cone_residuals(X, signs, G, max_iter=5)
    resumed, _ = cone_residuals(X, signs, G, start=lam_short, max_iter=5)
    assert np.all(resumed <= short) and np.any(resumed < short)


def test_a_passed_deadline_returns_the_residual_at_the_start():
    X, signs, G, _ = _wide_blocks(seed=3)
    start = np.abs(np.random.default_rng(3).standard_normal((X.shape[0], G.shape[1])))
    values, lam = cone_residuals(X, signs, G, start=start, deadline=0.0)
    np.testing.assert_allclose(values, np.linalg.norm(G - X.T @ (signs * start), axis=0), rtol=1e-12)


def test_the_dense_interior_point_certifies_wide_data_against_the_oracle():
    """Hinge loss with more features than NNLS_MAX_FEATURES: the dual bound's multipliers come from the
    projected gradient, and the certified point agrees with Clarabel's optimum, its bound below it."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((240, WIDE))
    y = np.where(np.maximum(X @ rng.standard_normal(WIDE), 0.0) + 0.3 * rng.standard_normal(240) > 0.5, 1.0, -1.0)
    program = make_program("sampled", X, y, "hinge", 1.0, n_patterns=3, seed=0)
    program.set_beta(0.1 * zero_model_beta(program))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optimum = solve_oracle(program).objective
    result = ipm_dense(program, tol_gap=1e-6)
    assert result.status == "optimal" and result.info["duality_gap_rel"] <= 1e-6
    assert result.info["dual_bound"] <= optimum + 1e-7 * abs(optimum)
    assert abs(result.objective - optimum) <= 1e-5 * abs(optimum)



def _wide_program(n, P, beta_fraction):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((n, WIDE))
    y = np.where(np.maximum(X @ rng.standard_normal(WIDE), 0.0) + 0.3 * rng.standard_normal(n) > 0.5, 1.0, -1.0)
    program = make_program("sampled", X, y, "hinge", 1.0, n_patterns=P, seed=0)
    program.set_beta(beta_fraction * zero_model_beta(program))
    return program


def test_wide_prices_are_upper_bounds_close_to_the_exact_ones():
    """Pricing on wide data against scipy's NNLS on all rows, for the blocks priced above 0.9 beta (below
    it any value under 0.9 beta is a valid answer)."""
    from solvers.working_set import price_patterns
    program = _wide_program(200, 8, 0.05)
    X, beta = program.X, program.beta_value
    nu = -program.y * np.random.default_rng(6).random(program.n)
    prices = price_patterns(program, nu, np.arange(8))
    checked = 0
    for j in range(8):
        rows = (2.0 * program.D[:, j] - 1.0)[:, None] * X
        g = X.T @ (program.D[:, j] * nu)
        exact = max(nnls(rows.T, sign * g, maxiter=10000)[1] for sign in (1.0, -1.0))
        if exact > 0.9 * beta:
            checked += 1
            assert exact * (1 - 1e-12) <= prices[j] <= exact * (1 + 1e-3)
        else:
            assert prices[j] <= max(0.9 * beta, np.linalg.norm(g)) * (1 + 1e-12)
    assert checked > 0


@pytest.mark.slow
def test_the_working_set_certifies_wide_data_against_the_oracle():
    from solvers import working_set
    program = _wide_program(300, 5, 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optimum = solve_oracle(program).objective
    result = working_set(program, tol_gap=1e-6, initial_patterns=2)
    assert result.status == "optimal" and result.info["rounds"] >= 2
    assert result.info["dual_bound"] <= optimum + 1e-7 * abs(optimum)
    assert abs(result.objective - optimum) <= 1e-5 * abs(optimum)


def _random_wide_program(seed):
    """A random wide instance: n 120-400, d 201-280, 2-5 patterns, hinge or logistic loss, random or
    teacher labels, beta 10^-2.5 to 10^-0.5 of beta_max, features scaled by 0.1-10."""
    rng = np.random.default_rng(seed)
    n, d, P = int(rng.integers(120, 400)), int(rng.integers(NNLS_MAX_FEATURES + 1, 280)), int(rng.integers(2, 6))
    loss = ("hinge", "logistic")[int(rng.integers(2))]
    fraction = 10 ** rng.uniform(-2.5, -0.5)
    X = rng.standard_normal((n, d)) * rng.uniform(0.1, 10)
    if rng.random() < 0.5:
        y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    else:
        teacher = np.maximum(X @ rng.standard_normal(d), 0.0)
        y = np.where(teacher > np.median(teacher), 1.0, -1.0)
    program = make_program("sampled", X, y, loss, 1.0, n_patterns=P, seed=int(seed) % 1000)
    program.set_beta(fraction * zero_model_beta(program))
    return program


@pytest.mark.slow
@pytest.mark.parametrize("seed", [int(s) for s in np.random.default_rng(0).integers(0, 2 ** 31 - 1, size=12)])
def test_random_wide_instances_against_the_oracle(seed):
    """The wide paths (block Gram matrix, projected-gradient multipliers and prices) of ``ipm_dense`` and
    ``working_set`` at tol 1e-6 on random wide instances: certified, the bound below Clarabel's optimum
    and the objective within 1e-5 of it."""
    from solvers import working_set
    program = _random_wide_program(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optimum = solve_oracle(program).objective
    scale = max(1.0, abs(optimum))
    for solver in (ipm_dense, working_set):
        result = solver(program, tol_gap=1e-6)
        assert result.status == "optimal", (seed, solver.__name__, result.status)
        assert result.info["dual_bound"] <= optimum + 1e-7 * scale, (seed, solver.__name__)
        assert abs(result.objective - optimum) <= 1e-5 * scale, (seed, solver.__name__)
