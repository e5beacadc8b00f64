"""The interior point for the robust hinge program (solvers/ipm_robust.py), its dual point, and the
working-set polish of the robust ADMM that uses it, against Clarabel and against the dense Newton matrix."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from conftest import flat_blocks, random_robust_blocks, unflat_blocks
from formulations import make_program
from solvers import solve_oracle
from solvers.admm.robust import admm_robust
from solvers.admm.robust_polish import hinge_multipliers, robust_dual_bound
from solvers.battery import RandomSpec, reference_problems, run_battery
from solvers.core.cones import NTScaling
from solvers.ipm_robust import _Data, _Newton, ipm_robust
from solvers.result import ConvergenceWarning


def _program(bias, seed=0, n=12, d=3, P=3, eps=0.05, beta=0.1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.where(rng.standard_normal(n) > 0, 1.0, -1.0)
    return make_program("robust", X, y, "hinge", beta, n_patterns=P, seed=seed, epsilon=eps, bias=bias)


@pytest.mark.parametrize("bias", [False, True])
def test_G_and_its_adjoint_agree(bias):
    data = _Data(_program(bias))
    rng = np.random.default_rng(1)
    x = random_robust_blocks(data, rng)
    zL, z0, z1 = rng.standard_normal(data.orthant), rng.standard_normal(data.J), rng.standard_normal((data.d, data.J))
    gL, g0, g1 = data.G(x)
    lhs = gL @ zL + g0 @ z0 + np.sum(g1 * z1)
    rhs = sum(float(np.sum(a * b)) for a, b in zip(x, data.GT(zL, z0, z1)))
    assert lhs == pytest.approx(rhs, rel=1e-12)


@pytest.mark.parametrize("bias", [False, True])
def test_the_eliminated_newton_solve_is_the_dense_normal_equations(bias):
    """``G^T W^{-2} G dx = r`` solved with the samples' and the blocks' own variables eliminated equals the
    dense solve with the matrix assembled column by column from G."""
    data = _Data(_program(bias))
    rng = np.random.default_rng(2)
    sL, zL = rng.uniform(0.1, 3.0, data.orthant), rng.uniform(0.1, 3.0, data.orthant)
    s1, z1 = rng.standard_normal((data.d, data.J)), rng.standard_normal((data.d, data.J))
    s0 = np.linalg.norm(s1, axis=0) + rng.uniform(0.5, 2.0, data.J)
    z0 = np.linalg.norm(z1, axis=0) + rng.uniform(0.5, 2.0, data.J)
    nt = NTScaling(sL, zL, s0, s1, z0, z1)
    newton = _Newton(data, nt, zL, sL)
    like = random_robust_blocks(data, rng)
    size = flat_blocks(like).size
    G = np.zeros((data.orthant + data.J * (data.d + 1), size))
    for col in range(size):
        unit = np.zeros(size)
        unit[col] = 1.0
        gL, g0, g1 = data.G(unflat_blocks(unit, like))
        G[:, col] = np.concatenate([gL, np.concatenate([g0[None, :], g1]).T.ravel()])
    Wi2 = nt.inverse_squared()
    H = np.zeros((G.shape[0], G.shape[0]))
    H[np.arange(data.orthant), np.arange(data.orthant)] = zL / sL
    for j in range(data.J):
        block = slice(data.orthant + j * (data.d + 1), data.orthant + (j + 1) * (data.d + 1))
        H[block, block] = Wi2[j]
    r = rng.standard_normal(size)
    expected = np.linalg.solve(G.T @ H @ G, r)
    assert np.allclose(flat_blocks(newton.solve_x(unflat_blocks(r, like))), expected, rtol=1e-8, atol=1e-10)


def test_hinge_multipliers_represent_a_subgradient_exactly():
    rng = np.random.default_rng(3)
    n, d, eps = 40, 5, 0.3
    pmask = np.array([True, True, True, True, False])
    Wy = rng.standard_normal((n, d))
    alpha = rng.uniform(0.0, 1.0, n)
    alpha[:5] = 0.0
    U = rng.uniform(-1.0, 1.0, (n, d)) * pmask
    Z = alpha[:, None] * (eps * U - Wy)
    alpha_out, U_out = hinge_multipliers(Z, Wy, eps, pmask)
    assert np.all((0 <= alpha_out) & (alpha_out <= 1)) and np.all(np.abs(U_out) <= 1)
    assert np.allclose(alpha_out[:, None] * (eps * U_out - Wy), Z, atol=1e-12)
    assert np.all(alpha_out >= alpha - 1e-12)  # the largest admissible weight: the bound can only grow
    junk_alpha, junk_U = hinge_multipliers(rng.standard_normal((n, d)), Wy, eps, pmask)  # any Z: in range
    assert np.all((0 <= junk_alpha) & (junk_alpha <= 1)) and np.all(np.abs(junk_U) <= 1)


@pytest.mark.slow  # the default suite runs this battery through the working_set solver (tests/test_working_set.py)
def test_the_battery_passes_at_the_interior_points_tolerance():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = run_battery(ipm_robust, reference_problems("robust", "hinge"), name="ipm")
    assert report.passed, report.table()


def test_its_certificate_brackets_the_oracle_optimum():
    program = RandomSpec.draw("robust", "hinge", 2084654369).build()  # n = 68, d = 13 + bias, 34 patterns
    optimum = solve_oracle(program).objective
    result = ipm_robust(program)
    assert result.status == "optimal" and result.info["duality_gap_rel"] <= 1e-7
    assert result.info["dual_bound"] <= optimum + 1e-7 * max(1.0, optimum)  # Clarabel's own accuracy
    assert abs(result.objective - optimum) <= 1e-6 * max(1.0, optimum)
    assert result.max_violation <= 1e-9
    alpha, U, lam = result.info["multipliers"]
    assert robust_dual_bound(program, alpha, U, lam)[0] == pytest.approx(result.info["dual_bound"], rel=1e-12)


def test_it_refuses_other_programs():
    X, y = np.eye(4), np.array([1.0, -1.0, 1.0, -1.0])
    for program in (make_program("sampled", X, y, "hinge", 0.1, n_patterns=2, seed=0),
                    make_program("robust", X, y, "squared", 0.1, n_patterns=2, seed=0, epsilon=0.01)):
        with pytest.raises(ValueError, match="hinge-loss robust program"):
            ipm_robust(program)


def test_the_robust_working_set_certifies_where_the_admm_stalls():
    program = RandomSpec.draw("robust", "hinge", 1440696407).build()  # n = 251, d = 8 + bias, 36 patterns
    optimum = solve_oracle(program).objective
    with pytest.warns(ConvergenceWarning):
        plain = admm_robust(program, max_iter=1000, working_set=False, polish=False)
    assert plain.status == "max_iter"
    result = admm_robust(program, max_iter=1000)
    assert result.status == "optimal" and result.info["working_set_patterns"] >= 1
    assert result.info["dual_bound"] <= optimum + 1e-6 * max(1.0, optimum)  # Clarabel stops at ~1e-7 here
    assert abs(result.objective - optimum) <= 1e-6 * max(1.0, optimum)


def test_a_residual_stop_is_certified_from_the_admm_duals():
    """At beta near beta_max the zero network is optimal and the ADMM's residuals vanish within 100
    iterations; the bound read off its duals (hinge weights from rho tau U, cone multipliers from Kappa)
    certifies it, with no polish."""
    program = RandomSpec.draw("robust", "hinge", 376383645).build()  # n = 34, d = 11, 56 patterns
    result = admm_robust(program, working_set=False)
    assert result.status == "optimal" and result.iterations <= 200 and result.info["polish_attempts"] == 0
    assert result.objective == pytest.approx(program.n) and result.info["dual_bound"] == pytest.approx(program.n)
    assert solve_oracle(program).objective == pytest.approx(program.n, rel=1e-7)
