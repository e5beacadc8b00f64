"""The l_inf-robust program (docs/math.md section 7) against brute force over the vertices of the box.

* closed-form worst-case losses == max over the 2^d' vertices of the box of the loss of an affine model
  (the loss of an affine function is convex in the perturbation, so a vertex attains the max);
* after a robust solve, the recovered ReLU network is epsilon-stable (no activation flips at any vertex),
  and its exact adversarial objective - the max over the box vertices of the loss of the REAL network at
  x_k + delta, with the bias coordinate held fixed - equals the robust program's objective;
* perturbing the bias coordinate as well would give a different (larger) value, so the program indeed
  never perturbs it; without a bias column every coordinate is perturbed;
* the per-point certificate y_k yhat_k > eps |a_k|_1 is exactly "correct at every vertex";
* eps = 0 gives the sampled program; the optimum grows with eps, and set_epsilon equals a fresh build.
"""
from __future__ import annotations

import itertools

import cvxpy as cp

import numpy as np
import pytest

from conftest import LOSSES, make_data
from formulations import LOSSES as LOSS_CLASSES
from formulations import make_program, sample_patterns
from solvers import solve_oracle

SOLVER_RTOL = 1e-6
EPS = 0.1


def box_vertices(dim, eps):
    return eps * np.array(list(itertools.product((-1.0, 1.0), repeat=dim)))


@pytest.fixture(scope="module")
def robust_data():
    """n = 8 points, 3 Gaussian features (+ bias column in the programs): 8 box vertices per point."""
    X, y_reg, y_cls = make_data(8, 3, seed=31)
    Xb = np.hstack([X, np.ones((8, 1))])
    D, _ = sample_patterns(Xb, 40, seed=2)
    return {"X": X, "y": {"squared": y_reg, "hinge": y_cls, "logistic": y_cls}, "D": D, "beta": 0.1}


@pytest.fixture(scope="module")
def robust_solutions(robust_data):
    out = {}
    for loss in LOSSES:
        prog = make_program("robust", robust_data["X"], robust_data["y"][loss], loss, robust_data["beta"],
                            D=robust_data["D"], epsilon=EPS, bias=True)
        res = solve_oracle(prog, "clarabel")
        assert res.status == "optimal"
        out[loss] = (prog, res)
    return out


def brute_force_adversarial_losses(U, alpha, X, y, loss, eps, n_fixed, ref):
    """max over box vertices of loss(f(x_k + delta), y_k) for the ReLU network (U, alpha); the last
    ``n_fixed`` coordinates are not perturbed."""
    d = X.shape[1]
    V = box_vertices(d - n_fixed, eps)
    V = np.hstack([V, np.zeros((V.shape[0], n_fixed))])
    out = np.empty(X.shape[0])
    for k in range(X.shape[0]):
        Xp = X[k] + V
        out[k] = max(ref.loss(ref.relu_net(U, alpha, Xp[t:t + 1]), y[k:k + 1], loss) for t in range(len(V)))
    return out


@pytest.mark.parametrize("loss", LOSSES)
def test_closed_form_worst_case_equals_vertex_brute_force(ref, loss):
    rng = np.random.default_rng(4)
    L = LOSS_CLASSES[loss]()
    n, dim = 30, 3
    yhat = 2 * rng.standard_normal(n)
    a = rng.standard_normal((n, dim))
    y = rng.standard_normal(n) if loss == "squared" else np.where(rng.random(n) < 0.5, -1.0, 1.0)
    for eps in (0.0, 0.05, 0.3, 1.0):
        V = box_vertices(dim, eps)
        brute = np.array([max(ref.loss(yhat[k] + a[k] @ v, y[k], loss) for v in V) for k in range(n)])
        closed = L.robust_per_sample(yhat, eps * np.abs(a).sum(axis=1), y)
        np.testing.assert_allclose(closed, brute, rtol=1e-12, atol=1e-12)
        # random interior points never exceed the vertex maximum (it is the max over the whole box)
        inner = eps * (2 * rng.random((60, dim)) - 1)
        inside = np.array([max(ref.loss(yhat[k] + a[k] @ v, y[k], loss) for v in inner) for k in range(n)])
        assert np.all(inside <= brute + 1e-12)


@pytest.mark.parametrize("loss", LOSSES)
def test_robust_objective_is_the_exact_adversarial_objective(robust_solutions, ref, loss):
    prog, res = robust_solutions[loss]
    X, y, beta, eps = prog.X, prog.y, prog.beta_value, prog.epsilon_value
    assert prog.bias and np.all(X[:, -1] == 1.0) and X.shape[1] == 4
    V, W = res.weights["V"], res.weights["W"]
    S = 2 * prog.D - 1
    # robust cones, bias coordinate excluded from the l1 norm, hold to solver tolerance
    scale = np.abs(X).max() * max(np.abs(V).max(), np.abs(W).max())
    for B in (V, W):
        assert np.min(S * (X @ B) - eps * np.abs(B[:-1]).sum(axis=0)) >= -1e-7 * scale

    net = res.network
    U, alpha = net.U, net.alpha
    # epsilon-stable: at every vertex every neuron keeps the sign it has at x_k, up to solver tolerance
    # measured in output units (a sign change of neuron j moves f by at most |alpha_j| |x.u_j|)
    verts = np.hstack([box_vertices(3, eps), np.zeros((8, 1))])
    w = np.abs(alpha)
    tol = 1e-7 * (1 + np.abs(X).max() * w * np.abs(U).sum(axis=0))
    for k in range(X.shape[0]):
        z0 = w * (X[k] @ U)
        zv = w * ((X[k] + verts) @ U)
        assert np.all((zv >= -tol) | (z0 < tol)) and np.all((zv <= tol) | (z0 > -tol))
    assert np.all(net.stable_mask(X, eps, bias=True))

    brute = brute_force_adversarial_losses(U, alpha, X, y, loss, eps, n_fixed=1, ref=ref)
    adversarial = brute.sum() + 0.5 * beta * (np.sum(U ** 2) + np.sum(alpha ** 2))
    assert adversarial == pytest.approx(res.objective, rel=SOLVER_RTOL)
    assert res.network_objective == pytest.approx(adversarial, rel=SOLVER_RTOL)
    assert net.adversarial_objective(X, y, loss, beta, eps, bias=True) == pytest.approx(adversarial,
                                                                                         rel=SOLVER_RTOL)
    # the closed form of the program at its own point, per sample, is the brute force
    closed = prog.loss.robust_per_sample(prog.predictions(res.weights), prog.slacks(res.weights), y)
    np.testing.assert_allclose(closed, brute, rtol=SOLVER_RTOL, atol=SOLVER_RTOL)
    # the bias is not perturbed: perturbing it too changes the worst case
    with_bias = brute_force_adversarial_losses(U, alpha, X, y, loss, eps, n_fixed=0, ref=ref)
    assert np.all(with_bias >= brute - 1e-12)
    assert with_bias.sum() > brute.sum() * (1 + 1e-4)

    if loss != "squared":  # certificate: robustly correct  <=>  correct at every vertex
        cert = res.program.certificates(res.weights)
        worst_margin = np.array([min(y[k] * ref.relu_net(U, alpha, X[k] + verts)) for k in range(X.shape[0])])
        np.testing.assert_array_equal(cert, worst_margin > 1e-7)


def test_robust_without_bias_perturbs_every_coordinate(robust_data, ref):
    X = robust_data["X"]
    y = robust_data["y"]["hinge"]
    D, _ = sample_patterns(X, 40, seed=2)
    prog = make_program("robust", X, y, "hinge", 0.1, D=D, epsilon=EPS, bias=False)
    res = solve_oracle(prog, "clarabel")
    net = res.network
    brute = brute_force_adversarial_losses(net.U, net.alpha, prog.X, prog.y, "hinge", EPS, n_fixed=0, ref=ref)
    adversarial = brute.sum() + 0.5 * 0.1 * (np.sum(net.U ** 2) + np.sum(net.alpha ** 2))
    assert adversarial == pytest.approx(res.objective, rel=SOLVER_RTOL)


@pytest.mark.parametrize("loss", ["squared", "hinge"])
def test_epsilon_zero_is_the_sampled_program_and_optimum_grows_with_epsilon(robust_data, loss):
    X, y, D, beta = robust_data["X"], robust_data["y"][loss], robust_data["D"], robust_data["beta"]
    sampled = solve_oracle(make_program("sampled", X, y, loss, beta, D=D, bias=True), "clarabel")
    prog = make_program("robust", X, y, loss, beta, D=D, epsilon=0.0, bias=True)
    values = []
    for eps in (0.0, 0.03, 0.1, 0.2):
        prog.set_epsilon(eps)
        res = solve_oracle(prog, "clarabel")
        assert res.status == "optimal"
        values.append(res.objective)
        if eps == 0.0:
            assert res.objective == pytest.approx(sampled.objective, rel=SOLVER_RTOL)
        if eps == 0.1:  # re-solving after set_epsilon == a program built with that epsilon
            fresh = solve_oracle(make_program("robust", X, y, loss, beta, D=D, epsilon=eps, bias=True))
            assert res.objective == pytest.approx(fresh.objective, rel=SOLVER_RTOL)
    assert all(b >= a - SOLVER_RTOL * max(1.0, a) for a, b in zip(values, values[1:])), values
    assert values[-1] > values[0] * (1 + 1e-3)


def test_critical_epsilon_is_where_the_robust_cone_empties():
    """The LP's critical radius of a pattern: just below it the robust cone has a nonzero point (found by
    the oracle's own constraint), just above it the cone is {0}; a pattern the bias alone realises never
    empties."""
    from formulations.robust import critical_epsilon

    rng = np.random.default_rng(0)
    X = np.hstack([rng.standard_normal((30, 3)), np.ones((30, 1))])
    h = rng.standard_normal(4)
    sign = np.where(X @ h >= 0, 1.0, -1.0)
    mask = np.array([True, True, True, False])
    crit = critical_epsilon(X, sign, mask)
    assert 0 < crit < np.inf
    for eps, nonzero in ((0.999 * crit, True), (1.001 * crit, False)):
        v = cp.Variable(4)
        cons = [cp.multiply(sign, X @ v) >= eps * cp.norm(v[:3], 1), cp.norm(v[:3], 1) <= 1]
        value = cp.Problem(cp.Maximize(cp.sum(cp.multiply(sign, X @ v)) - 0 * v[3]), cons).solve()
        assert (value > 1e-6) == nonzero, (eps, crit, value)
    assert critical_epsilon(X, np.ones(30), mask) == np.inf  # all active: the bias alone realises it


def test_every_cone_collapsed_warns_before_solving_and_reports_the_zero_network():
    """At an epsilon above every pattern's critical radius, the program warns (naming how far epsilon
    must shrink), the ADMM returns the zero network as optimal without iterating, and the result says it
    is collapsed: width 0, in the JSON and the summary line."""
    import warnings as _warnings

    from formulations.robust import CollapsedConesWarning
    from solvers import admm
    from solvers.result import CollapsedNetworkWarning

    rng = np.random.default_rng(1)
    X = rng.standard_normal((40, 3))
    y = np.where(rng.standard_normal(40) >= 0, 1.0, -1.0)
    program = make_program("robust", X, y, "hinge", 0.1, n_patterns=8, seed=0, epsilon=5.0, bias=True)
    largest = float(program.critical_epsilons().max())
    assert largest < 5.0 and program.surviving_patterns() == 0
    assert program.surviving_patterns(0.5 * largest) >= 1
    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        result = admm(program)
    kinds = {type(w.message) for w in caught}
    assert CollapsedConesWarning in kinds and CollapsedNetworkWarning in kinds
    assert f"shrink below {largest:.3g}" in str(next(w.message for w in caught
                                                     if isinstance(w.message, CollapsedConesWarning)))
    assert result.status == "optimal" and result.iterations == 0 and result.collapsed
    run = result.to_dict()
    assert run["collapsed"] is True and run["network_width"] == 0
    assert "zero network" in result.summary()
    assert result.objective == pytest.approx(program.objective(program.zero_weights()))
    oracle = solve_oracle(program)
    assert oracle.objective == pytest.approx(result.objective, rel=1e-7) and oracle.collapsed


@pytest.mark.slow
def test_digits_twenty_patterns_at_eps_point_one_is_collapsed():
    """The issue's instance: digits 0-4 vs 5-9, 20 sampled patterns, eps = 0.1 - every cone is {0}, and
    the result says the network is zero instead of reporting a width and an accuracy of noise."""
    from formulations.datasets import digits_binary
    from solvers import admm

    data = digits_binary()
    program = make_program("robust", data.X, data.y, "hinge", 0.1, n_patterns=20, seed=0, epsilon=0.1, bias=True)
    with pytest.warns(UserWarning):
        result = admm(program)
    assert result.collapsed and result.to_dict()["network_width"] == 0
    assert result.train_accuracy() == 0.0  # every output is a tie: none is counted as correct
