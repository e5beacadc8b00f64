"""The solver of the robust program with the squared and the logistic loss: the interior point
solvers/ipm_robust_losses.py inside the working-set loop (solvers.working_set), and its dual bound
(solvers/robust_losses_dual.py) - against the closed-form worst-case losses, the dense Newton matrix, and
Clarabel. Random instances of both cases run in tests/test_random_battery.py (two in the default suite,
the randomised battery in the slow one)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from conftest import flat_blocks, random_robust_blocks, unflat_blocks
from formulations import make_program
from solvers import solve, working_set
from solvers.battery import ReferenceProblem, reference_problems, run_battery
from solvers.core.cones import NTScaling
from solvers.ipm_robust_losses import _Data, _Newton, ipm_robust_losses
from solvers.result import ConvergenceWarning
from solvers.robust_losses_dual import (conjugate_sum, normalise_dual_point, robust_loss_bound,
                                        slope_multipliers)

LOSSES = ("squared", "logistic")


def _program(loss, bias, seed=0, n=30, d=3, P=6, eps=0.05, beta=0.1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = rng.standard_normal(n) if loss == "squared" else np.where(rng.standard_normal(n) > 0, 1.0, -1.0)
    return make_program("robust", X, y, loss, beta, n_patterns=P, seed=seed, epsilon=eps, bias=bias)


# -- the dual bound against the closed-form worst-case losses -------------------------------------------------
@pytest.mark.parametrize("loss", LOSSES)
def test_every_dual_point_gives_an_affine_minorant_of_the_worst_case_loss(loss):
    """``h_k(s) >= Y_k^T s - psi_k`` for any dual point in its domain and any s (Fenchel-Young), with
    h_k the closed form ``Loss.robust_per_sample``; equality at the gradient of h_k."""
    program = _program(loss, bias=True, n=8, d=4)
    X, y, eps, pmask = program.X, program.y, program.epsilon_value, program.perturbed_mask
    n, d = X.shape
    rng = np.random.default_rng(3)
    for _ in range(20):
        nu, q, U = normalise_dual_point(loss, y, rng.standard_normal(n), rng.uniform(0, 2, n),
                                        rng.uniform(-2, 2, (n, d)), pmask)
        Y = slope_multipliers(X, eps, nu, q, U)
        S = 3.0 * rng.standard_normal((n, d))
        h = program.loss.robust_per_sample(np.sum(X * S, axis=1), eps * np.abs(S[:, pmask]).sum(axis=1), y)
        psi = np.array([conjugate_sum(loss, y[k:k + 1], nu[k:k + 1], q[k:k + 1]) for k in range(n)])
        assert np.all(h >= np.sum(Y * S, axis=1) - psi - 1e-12)
    # the gradient of h_k at S: m = f'(g_k(S)), nu = m sign(r) (squared) or -m y, u = sign(Pi S)
    fit = np.sum(X * S, axis=1)
    slack = eps * np.abs(S[:, pmask]).sum(axis=1)
    if loss == "squared":
        q = np.abs(fit - y) + slack
        nu = q * np.sign(fit - y)
    else:
        q = 1.0 / (1.0 + np.exp(y * fit - slack))
        nu = -q * y
    U = np.sign(S) * pmask[None, :]
    Y = slope_multipliers(X, eps, nu, q, U)
    psi = np.array([conjugate_sum(loss, y[k:k + 1], nu[k:k + 1], q[k:k + 1]) for k in range(n)])
    h = program.loss.robust_per_sample(fit, slack, y)
    assert np.allclose(np.sum(Y * S, axis=1) - psi, h, rtol=1e-12, atol=1e-12)


# -- the interior point's algebra -----------------------------------------------------------------------------


@pytest.mark.parametrize("loss", LOSSES)
def test_the_eliminated_newton_solve_is_the_dense_system(loss):
    """``(H + G^T W^{-2} G) dx = r`` solved with the samples' and blocks' own variables eliminated equals
    the dense solve with the matrix assembled column by column from G, W and the loss's Hessian."""
    data = _Data(_program(loss, bias=True, n=10, d=2, P=2))
    rng = np.random.default_rng(1)
    x = random_robust_blocks(data, rng)
    sL, zL = rng.uniform(0.5, 2, data.orthant), rng.uniform(0.5, 2, data.orthant)
    s1, z1 = 0.3 * rng.standard_normal((data.d, data.J)), 0.3 * rng.standard_normal((data.d, data.J))
    s0, z0 = 1.0 + np.linalg.norm(s1, axis=0), 1.0 + np.linalg.norm(z1, axis=0)
    nt = NTScaling(sL, zL, s0, s1, z0, z1)
    newton = _Newton(data, nt, x, zL, sL)
    size = flat_blocks(x).size
    dense = np.zeros((size, size))
    for i in range(size):
        unit = unflat_blocks(np.eye(size)[i], x)
        gL, g0, g1 = data.G(unit)
        w = nt.inverse_squared_apply(gL, g0, g1)
        hx = newton.hessian_times(unit)
        dense[:, i] = flat_blocks(tuple(g + np.broadcast_to(h, np.shape(g)) for g, h in zip(data.GT(*w), hx)))
    r = random_robust_blocks(data, rng)
    assert np.allclose(flat_blocks(newton.solve_x(r)), np.linalg.solve(dense, flat_blocks(r)), rtol=1e-7, atol=1e-9)


# -- the solver against Clarabel ---------------------------------------------------------------------------------
def _small_problem(loss):
    """A small robust problem that Clarabel solves in a fraction of a second, as a battery reference problem
    (with a bias column for the squared loss, without for the logistic)."""
    bias = loss == "squared"
    return ReferenceProblem(f"robust_{loss}_{'bias' if bias else 'no_bias'}",
                            lambda: _program(loss, bias=bias, seed=4, n=24, d=3, P=4, beta=0.05))


@pytest.mark.parametrize("loss", LOSSES)
def test_working_set_agrees_with_clarabel_and_certifies_a_feasible_point(loss):
    """The battery's verdict (1e-4 of Clarabel's optimum) on a small problem; the run's certified bound lies
    below Clarabel's optimum and within 1e-6 of the returned objective, and the returned point satisfies
    every robust cone row (closed form of the tightened cone). Random dual points' bounds lie below too."""
    runs = []

    def solver(program):
        runs.append((program, solve(program, "working_set")))
        return runs[-1][1]
    report = run_battery(solver, [_small_problem(loss)], name="working_set", gap_tol=1e-4)
    assert report.passed, report.table()
    (program, result), optimum = runs[0], report.rows[0].oracle_objective
    assert result.solver == "working_set" and result.status == "optimal" and result.info["certified"]
    bound = result.info["dual_bound"]
    assert bound <= optimum + 1e-7 * max(1.0, optimum)
    assert result.objective - bound <= 1e-6 * max(1.0, result.objective)
    p = program.perturbed_mask
    for B in (result.weights["V"], result.weights["W"]):
        radius = program.epsilon_value * np.abs(B[p]).sum(axis=0)
        assert np.all(program.S * (program.X @ B) >= radius[None, :] - 1e-9)
    rng = np.random.default_rng(0)
    n, d, J = program.n, program.d, 2 * program.n_patterns
    for _ in range(10):
        bound, t = robust_loss_bound(program, rng.standard_normal(n), rng.uniform(0, 1, n),
                                     rng.uniform(-1, 1, (n, d)), rng.uniform(0, 1, (n, J)))
        assert 0.0 <= t <= 1.0 and bound <= optimum + 1e-9


@pytest.mark.parametrize("loss", LOSSES)
def test_a_run_stopped_early_is_not_optimal(loss):
    program = _program(loss, bias=True, seed=4, n=16, d=2, P=3, beta=0.02)
    with pytest.warns(ConvergenceWarning):
        early = ipm_robust_losses(program, max_iter=2)
    assert early.status == "max_iter" and not early.info["certified"]
    assert early.info["duality_gap_rel"] is None or early.info["duality_gap_rel"] > 1e-7
    with pytest.warns(ConvergenceWarning):
        one_round = working_set(program, initial_patterns=1, max_rounds=1)
    assert one_round.status != "optimal" and not one_round.info["certified"]


def test_bad_options_and_programs_are_refused():
    program = _program("squared", bias=False, n=12, P=3)
    with pytest.raises(ValueError, match="ipm_robust_losses.*tol_gap"):
        ipm_robust_losses(program, tol_gap=-1.0)
    with pytest.raises(ValueError, match="ipm_robust_losses.*max_iter"):
        ipm_robust_losses(program, max_iter=-3)
    with pytest.raises(ValueError, match="working_set.*tol_gap"):
        working_set(program, tol_gap=0.0)
    with pytest.raises(TypeError):
        ipm_robust_losses(program, no_such_option=1)
    hinge = _program("logistic", bias=False, n=12, P=3)
    hinge = make_program("robust", hinge.X, hinge.y, "hinge", 0.1, n_patterns=3, seed=0, epsilon=0.05)
    with pytest.raises(ValueError, match="squared or logistic"):
        ipm_robust_losses(hinge)
    sampled = make_program("sampled", program.X, program.y, "squared", 0.1, n_patterns=3, seed=0)
    with pytest.raises(ValueError, match="squared or logistic"):
        ipm_robust_losses(sampled)
    with pytest.raises(ValueError, match="'admm' does not solve the robust program with the squared loss"):
        solve(program, "admm")


# -- the full batteries (slow) ----------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("loss", LOSSES)
def test_working_set_passes_the_robust_battery(loss):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = run_battery(working_set, reference_problems("robust", loss), name="working_set", gap_tol=1e-4)
    assert report.passed, report.table()
    assert all(row.status == "optimal" for row in report.rows), report.table()
