"""The non-convex network (docs/math.md sections 1, 3, 7) and the back-propagation baseline.

* nc_objective_and_gradient == the definition, and its gradient == central finite differences;
* one SGD step is theta - lr * grad, one Adam step is theta - lr * g / (|g| + 1e-8) (bias-corrected
  moments after one step are g and g^2), mini-batch size >= n is the full batch, seeds reproduce runs;
* statuses: converged (gradient test), max_iter, diverged (non-finite objective, last finite point
  returned); L-BFGS decreases the objective and its history is the objective along the path;
* the square-root split reproduces sum_i D_i X (v_i - w_i) and the group penalty exactly for
  cone-feasible blocks; input slopes == finite differences of f; stability and its refusal.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import LOSSES, labels_for
from formulations.network import ReLUNetwork
from solvers.baselines.backprop import NonConvexResult, nc_objective_and_gradient, train_nonconvex


def random_net(d, m, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((d, m)), rng.standard_normal(m)


@pytest.mark.parametrize("loss", LOSSES)
def test_objective_and_gradient_match_definition_and_finite_differences(tiny_data, ref, loss):
    X = np.hstack([tiny_data["X"], np.ones((8, 1))])
    y = labels_for(loss, tiny_data)
    U, alpha = random_net(3, 5, 1)
    beta = 0.3
    value, gU, ga = nc_objective_and_gradient(U, alpha, X, y, loss, beta)
    assert value == pytest.approx(ref.nc_objective(U, alpha, X, y, loss, beta), rel=1e-12)
    assert gU.shape == U.shape and ga.shape == alpha.shape
    # finite differences (no ReLU or hinge kink within h of the point)
    h = 1e-6
    assert np.abs(X @ U).min() > 1e-3
    if loss == "hinge":
        assert np.abs(y * ref.relu_net(U, alpha, X) - 1).min() > 1e-3
    theta = np.concatenate([U.ravel(), alpha])

    def F(t):
        return ref.nc_objective(t[:15].reshape(3, 5), t[15:], X, y, loss, beta)

    fd = np.array([(F(theta + h * e) - F(theta - h * e)) / (2 * h) for e in np.eye(theta.size)])
    np.testing.assert_allclose(np.concatenate([gU.ravel(), ga]), fd, rtol=1e-6, atol=1e-6)


def test_one_step_of_each_first_order_method(tiny_data):
    X, y = tiny_data["X"], tiny_data["y_reg"]
    U0, a0 = random_net(2, 4, 2)
    _, gU, ga = nc_objective_and_gradient(U0, a0, X, y, "squared", 0.5)
    sgd = train_nonconvex(X, y, "squared", 0.5, method="sgd", U0=U0, alpha0=a0, max_iter=1, lr=1e-3, tol=0)
    np.testing.assert_allclose(sgd.network.U, U0 - 1e-3 * gU, rtol=1e-13)
    np.testing.assert_allclose(sgd.network.alpha, a0 - 1e-3 * ga, rtol=1e-13)
    adam = train_nonconvex(X, y, "squared", 0.5, method="adam", U0=U0, alpha0=a0, max_iter=1, lr=1e-2, tol=0)
    np.testing.assert_allclose(adam.network.U, U0 - 1e-2 * gU / (np.abs(gU) + 1e-8), rtol=1e-12)
    np.testing.assert_allclose(adam.network.alpha, a0 - 1e-2 * ga / (np.abs(ga) + 1e-8), rtol=1e-12)
    for run in (sgd, adam):
        assert run.status == "max_iter" and run.iterations == 1 and len(run.history) == 2
        assert isinstance(run, NonConvexResult)


def test_minibatch_runs_are_reproducible_and_full_size_batches_are_full_batch(tiny_data):
    X, y = tiny_data["X"], tiny_data["y_cls"]
    kw = dict(loss="logistic", beta=0.1, width=6, method="adam", max_iter=30, lr=1e-2)
    a = train_nonconvex(X, y, seed=3, batch_size=3, **kw)
    b = train_nonconvex(X, y, seed=3, batch_size=3, **kw)
    c = train_nonconvex(X, y, seed=4, batch_size=3, **kw)
    np.testing.assert_array_equal(a.network.U, b.network.U)
    assert not np.array_equal(a.network.U, c.network.U)
    full = train_nonconvex(X, y, seed=3, **kw)
    same = train_nonconvex(X, y, seed=3, batch_size=100, **kw)
    np.testing.assert_array_equal(full.network.U, same.network.U)
    assert not np.array_equal(full.network.U, a.network.U)


def test_statuses_and_histories(tiny_data, ref):
    X, y = tiny_data["X"], tiny_data["y_reg"]
    U0, a0 = random_net(2, 5, 5)
    F0 = ref.nc_objective(U0, a0, X, y, "squared", 0.1)
    # gradient test met at the start
    run = train_nonconvex(X, y, "squared", 0.1, U0=U0, alpha0=a0, tol=1e6)
    assert run.status == "converged" and run.iterations == 0 and run.objective == pytest.approx(F0, rel=1e-12)
    # a step far too long: the objective blows up, the last finite point is returned
    run = train_nonconvex(X, y, "squared", 0.1, method="sgd", U0=U0, alpha0=a0, lr=1e6, max_iter=50)
    assert run.status == "diverged" and np.isfinite(run.objective) and np.all(np.isfinite(run.history))
    assert run.objective == pytest.approx(ref.nc_objective(run.network.U, run.network.alpha, X, y, "squared", 0.1))
    # L-BFGS decreases the objective; history[0] is the start, history[-1] the end
    run = train_nonconvex(X, y, "squared", 0.1, method="lbfgs", U0=U0, alpha0=a0, max_iter=300)
    assert run.status in ("converged", "stalled", "max_iter")
    assert run.history[0] == pytest.approx(F0, rel=1e-12)
    assert run.history[-1] == pytest.approx(run.objective, rel=1e-12) and run.objective < 0.5 * F0
    assert np.all(np.diff(run.history) <= 1e-12 * F0)  # L-BFGS-B accepts only decreasing steps
    if run.status == "converged" and "GRADIENT" in run.message.upper():
        assert run.grad_norm <= 1e-6
    # full-batch gradient descent with a small step also decreases monotonically
    run = train_nonconvex(X, y, "squared", 0.1, method="sgd", U0=U0, alpha0=a0, lr=1e-3, max_iter=200)
    assert np.all(np.diff(run.history) <= 0) and run.status == "max_iter"


def test_square_root_split_reproduces_the_convex_model(tiny_data, ref):
    X = np.hstack([tiny_data["X"], np.ones((8, 1))])
    rng = np.random.default_rng(6)
    Hv, Hw = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    # cone-feasible blocks: v_i = c_i h_i lies in the cone of D_i = 1[X h_i >= 0]; pattern i of w_i is
    # that of h_i too, so use patterns D = [D(Hv), D(Hw)] with V = [Cv, 0], W = [0, Cw]
    D = np.hstack([(X @ Hv >= 0), (X @ Hw >= 0)]).astype(float)
    V = np.hstack([Hv * rng.uniform(0.1, 2, 5), np.zeros((3, 5))])
    W = np.hstack([np.zeros((3, 5)), Hw * rng.uniform(0.1, 2, 5)])
    net = ReLUNetwork.from_convex(V, W, rel_tol=0.0)
    assert net.width == 10 and np.sum(net.alpha > 0) == 5
    np.testing.assert_allclose(ref.relu_net(net.U, net.alpha, X), ref.convex_predictions(X, D, V, W),
                               rtol=1e-12, atol=1e-12)
    assert net.regularizer() == pytest.approx(ref.group_penalty(V, W), rel=1e-12)
    # blocks below rel_tol x the largest are dropped, zero blocks always
    V2 = V.copy()
    V2[:, 0] *= 1e-12
    assert ReLUNetwork.from_convex(V2, W, rel_tol=1e-8).width == 9
    assert ReLUNetwork.from_convex(np.zeros((3, 2)), np.zeros((3, 2))).width == 0
    assert np.all(ReLUNetwork(np.zeros((3, 0)), []).predict(X) == 0)


def test_input_slopes_and_stability(tiny_data):
    X = np.hstack([tiny_data["X"], np.ones((8, 1))])
    U, alpha = random_net(3, 4, 7)
    net = ReLUNetwork(U, alpha)
    slopes = net.input_slopes(X, bias=True)
    assert slopes.shape == (8, 2)
    h = 1e-7
    for j in range(2):
        e = np.zeros(3)
        e[j] = h
        np.testing.assert_allclose(slopes[:, j], (net.predict(X + e) - net.predict(X - e)) / (2 * h), atol=1e-6)
    # stability: |x.u_j| >= eps |u_j|_1 (bias excluded) for every neuron
    margins = np.abs(X @ U).min(axis=1) / np.abs(U[:2]).sum(axis=0).max()
    eps_ok = 0.5 * margins.min()
    assert np.all(net.stable_mask(X, eps_ok, bias=True))
    eps_bad = 2.0 * np.abs(X @ U).max() / np.abs(U[:2]).sum(axis=0).min()
    assert not np.any(net.stable_mask(X, eps_bad, bias=True))
    with pytest.raises(ValueError, match="not epsilon-stable"):
        net.adversarial_objective(X, np.ones(8), "hinge", 0.1, eps_bad, bias=True)
    # an extra neuron whose hyperplane passes through x_0 (margin 0 < eps |u|_1) makes x_0 unstable,
    # unless its output weight is ~0 (it then cannot change f: solver-noise neurons)
    u = np.array([[1.0], [0.0], [-X[0, 0]]])
    big = ReLUNetwork(np.hstack([U, u]), np.append(alpha, 1.0))
    expected = np.ones(8, bool)
    expected[0] = False
    np.testing.assert_array_equal(big.stable_mask(X, eps_ok, bias=True), expected & (np.abs(X @ u)[:, 0] >= eps_ok))
    assert not big.stable_mask(X, eps_ok, bias=True)[0]
    tiny = ReLUNetwork(np.hstack([U, u]), np.append(alpha, 1e-12))
    assert np.all(tiny.stable_mask(X, eps_ok, bias=True))
