"""Exact l_inf robustness by MILP (docs/math.md section 7.3) against independent exact answers.

The independent answer: on a tiny network the box splits into activation regions - one per sign pattern of
the (gate) pre-activations - on each of which f is affine, so the minimum of y f over the box is the
smallest of one linear program per pattern (scipy linprog over the closed region), and a dense grid of the
box can only lie above it.
"""
import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from formulations.network import GatedReLUNetwork, ReLUNetwork
from solvers.baselines import evaluate_robustness, exact_robust_accuracy, exact_worst_margins, pgd


def region_minimum(net, x, y, epsilon, bias):
    """min over the box of y f(x + delta) by one LP per activation pattern (closed regions)."""
    d = x.size
    k = d - 1 if bias else d
    gates = net.G if isinstance(net, GatedReLUNetwork) else net.U
    best = np.inf
    for pattern in itertools.product((0.0, 1.0), repeat=net.width):
        on = np.array(pattern)
        sign = 2 * on - 1
        slope = y * (net.U[:k] @ (on * net.alpha))
        constant = y * (x @ net.U) @ (on * net.alpha)
        lp = linprog(slope, A_ub=-(sign[:, None] * gates[:k].T), b_ub=sign * (x @ gates),
                     bounds=[(-epsilon, epsilon)] * k, method="highs")
        if lp.status == 0:
            best = min(best, lp.fun + constant)
    return best


def grid_minimum(net, x, y, epsilon, bias, per_axis=41):
    """min of y f over a dense grid of the box (its vertices included): an upper bound on the minimum."""
    k = x.size - 1 if bias else x.size
    axis = np.linspace(-epsilon, epsilon, per_axis)
    deltas = np.array(list(itertools.product(axis, repeat=k)))
    Z = np.tile(x, (deltas.shape[0], 1))
    Z[:, :k] += deltas
    return float(np.min(y * net.predict(Z)))


def tiny_instance(seed, gated, bias, n=6, width=5, d=3):
    rng = np.random.default_rng(seed)
    U, alpha = rng.standard_normal((d, width)), rng.standard_normal(width)
    net = GatedReLUNetwork(U, alpha, rng.standard_normal((d, width))) if gated else ReLUNetwork(U, alpha)
    X = rng.standard_normal((n, d))
    if bias:
        X[:, -1] = 1.0
    y = np.where(rng.standard_normal(n) > 0, 1.0, -1.0)
    return net, X, y


@pytest.mark.parametrize("gated, bias, seeds, width", [
    (False, True, (0,), 4), (True, True, (0,), 4),
    pytest.param(False, False, (1, 2, 3), 6, marks=pytest.mark.slow),
    pytest.param(True, False, (1, 2, 3), 6, marks=pytest.mark.slow),
    pytest.param(False, True, (4, 5, 6), 7, marks=pytest.mark.slow),
    pytest.param(True, True, (4, 5, 6), 7, marks=pytest.mark.slow)])
def test_milp_minimum_equals_region_enumeration(gated, bias, seeds, width):
    epsilon = 0.4
    for seed in seeds:
        net, X, y = tiny_instance(seed, gated, bias, n=4, width=width)
        X_before = X.copy()
        value, bound, X_worst = exact_worst_margins(net, X, y, epsilon, bias=bias)
        np.testing.assert_array_equal(X, X_before)
        exact = np.array([region_minimum(net, X[k], y[k], epsilon, bias) for k in range(len(y))])
        grid = np.array([grid_minimum(net, X[k], y[k], epsilon, bias) for k in range(len(y))])
        scale = 1.0 + np.abs(exact)
        assert np.all(exact <= grid + 1e-12)
        np.testing.assert_allclose(bound, exact, atol=2e-6 * scale.max())  # HiGHS's absolute gap is 1e-6
        np.testing.assert_allclose(value, exact, atol=1e-6 * scale.max())
        # value is the network's own margin at a point of the ball, bias unchanged
        k = X.shape[1] - 1 if bias else X.shape[1]
        assert np.all(np.abs(X_worst - X)[:, :k] <= epsilon + 1e-12)
        np.testing.assert_array_equal(X_worst[:, k:], X[:, k:])
        np.testing.assert_allclose(value, y * net.predict(X_worst), rtol=0, atol=0)


@pytest.mark.parametrize("gated, n, width", [
    (False, 10, 4), (True, 10, 4),
    pytest.param(False, 40, 6, marks=pytest.mark.slow), pytest.param(True, 40, 6, marks=pytest.mark.slow)])
def test_verdicts_agree_with_the_exact_minimum_and_flips_are_real(gated, n, width):
    epsilon = 0.15
    net, X, y = tiny_instance(7, gated, True, n=n, width=width)
    exact = np.array([region_minimum(net, X[k], y[k], epsilon, True) for k in range(len(y))])
    result = exact_robust_accuracy(net, X, y, epsilon, bias=True, attack=None)
    tie = np.abs(exact) <= result.tolerance  # e.g. every gate off in the whole ball: f = 0 exactly
    assert np.any(exact > result.tolerance) and np.any(exact < -result.tolerance)
    np.testing.assert_array_equal(result.verdict == "robust", exact > result.tolerance)
    np.testing.assert_array_equal(result.verdict[exact < -result.tolerance], "flipped")
    assert np.all(tie[result.verdict == "undecided"])  # ties only: either side of 0 within rounding
    assert np.all(result.verdict[tie & (y > 0)] == "undecided")  # a flip needs y f < -tau / 2
    assert np.all(result.source[result.verdict == "undecided"] == "tie")
    flipped = result.verdict == "flipped"
    assert np.all(np.where(net.predict(result.X_worst[flipped]) >= 0, 1.0, -1.0) != y[flipped])
    assert np.all(np.abs(result.X_worst - X)[:, :-1] <= epsilon + 1e-12)
    np.testing.assert_array_equal(result.X_worst[:, -1], X[:, -1])
    lower, upper = result.robust_accuracy_bounds
    assert lower == pytest.approx(np.mean(exact > result.tolerance))
    assert upper == pytest.approx(np.mean(exact > result.tolerance) + result.counts["undecided"] / len(y))


def test_the_milp_never_calls_robust_a_point_that_pgd_flips():
    rng = np.random.default_rng(3)
    net = ReLUNetwork(rng.standard_normal((5, 12)), rng.standard_normal(12))
    X = rng.standard_normal((40, 5))
    X[:, -1] = 1.0
    y = np.where(net.predict(X) >= 0, 1.0, -1.0)  # every point clean-correct: flips come from perturbations
    epsilon = 0.15
    X_adv = pgd(net, X, y, "hinge", epsilon, steps=30, restarts=4, seed=0, bias=True, starts="both")
    pgd_flipped = np.where(net.predict(X_adv) >= 0, 1.0, -1.0) != y
    assert pgd_flipped.any() and not pgd_flipped.all()
    result = exact_robust_accuracy(net, X, y, epsilon, bias=True, attack=None)  # the MILP decides every point
    assert not np.any((result.verdict == "robust") & pgd_flipped)
    assert result.counts["flipped"] >= int(pgd_flipped.sum())
    assert set(result.source) <= {"certificate", "milp"}
    # the caller's attack points are used, and checked to lie in the ball
    with_attack = exact_robust_accuracy(net, X, y, epsilon, bias=True, X_attack=X_adv)
    np.testing.assert_array_equal(with_attack.verdict, result.verdict)
    assert np.all(with_attack.source[pgd_flipped] == "attack")


def flat_network(dp, threshold):
    """f(x) = 1 - 4 relu(sum_i x_i - threshold) with a bias column: off (and flat) near the origin."""
    U = np.zeros((dp + 1, 2))
    U[-1, 0] = 1.0
    U[:dp, 1], U[-1, 1] = 1.0, -threshold
    return ReLUNetwork(U, np.array([1.0, -4.0]))


def test_corner_starts_escape_flat_regions_where_uniform_starts_stall():
    dp, epsilon, n = 10, 0.1, 150
    net = flat_network(dp, 0.4 * dp * epsilon)  # a flip needs sum(delta) > 0.4 * dp * eps + 0.25
    X = np.hstack([np.zeros((n, dp)), np.ones((n, 1))])
    y = np.ones(n)
    shares = {}
    for starts in ("random", "corners"):
        X_adv = pgd(net, X, y, "hinge", epsilon, steps=10, restarts=5, seed=0, bias=True, starts=starts)
        shares[starts] = np.mean(net.predict(X_adv) < 0)
    assert shares["corners"] > 0.3 and shares["random"] < 0.15
    # the exact answer: every point flips (delta = eps everywhere gives f = 1 - 4 * 0.6 = -1.4)
    result = exact_robust_accuracy(net, X[:5], y[:5], epsilon, bias=True, attack=None)
    assert result.counts == {"flipped": 5, "robust": 0, "undecided": 0}
    with pytest.raises(ValueError, match="starts"):
        pgd(net, X, y, "hinge", epsilon, starts="vertices", bias=True)


def test_time_limits_leave_points_undecided_never_robust():
    rng = np.random.default_rng(5)
    d, m = 16, 60
    net = ReLUNetwork(rng.standard_normal((d, m)), rng.standard_normal(m) / np.sqrt(m))
    X = rng.standard_normal((4, d))
    y = np.where(net.predict(X) >= 0, 1.0, -1.0)
    spent = exact_robust_accuracy(net, X, y, 0.3, attack=None, time_limit=1e-9)
    assert spent.counts["undecided"] == 4 and spent.n_milp == 0
    assert spent.robust_accuracy_bounds == (0.0, 1.0)
    quick = exact_robust_accuracy(net, X, y, 0.3, attack=None, point_time_limit=1e-4)
    assert quick.counts["robust"] < 4 and quick.counts["undecided"] > 0
    lower, upper = quick.robust_accuracy_bounds
    assert lower <= upper


def test_evaluate_robustness_reports_the_exact_interval():
    net, X, y = tiny_instance(2, False, True, n=8, width=4)
    exact = np.array([region_minimum(net, X[k], y[k], 0.3, True) for k in range(len(y))])
    plain = evaluate_robustness(net, X, y, 0.3, bias=True, steps=10, restarts=2)
    assert plain.exact_robust_lower is None and plain.exact_undecided is None
    report = evaluate_robustness(net, X, y, 0.3, bias=True, steps=10, restarts=2, exact=True)
    assert report.exact_undecided == 0
    assert report.exact_robust_lower == report.exact_robust_upper == pytest.approx(np.mean(exact > 0))
    assert report.stable_certified <= report.exact_robust_lower <= report.robust_accuracy
    assert report.robust_accuracy == plain.robust_accuracy


def test_bad_input_is_refused():
    net, X, y = tiny_instance(0, False, True)
    with pytest.raises(ValueError, match="epsilon"):
        exact_robust_accuracy(net, X, y, -0.1, bias=True)
    with pytest.raises(ValueError, match="shape mismatch"):
        exact_robust_accuracy(net, X[:, :2], y, 0.1)
    with pytest.raises(ValueError, match="shape mismatch"):
        exact_worst_margins(net, X, y[:-1], 0.1)
    with pytest.raises(ValueError, match="labels"):
        exact_robust_accuracy(net, X, np.arange(len(y), dtype=float), 0.1, bias=True)
    with pytest.raises(ValueError, match="ones column"):
        exact_robust_accuracy(net, X + 1.0, y, 0.1, bias=True)
    with pytest.raises(ValueError, match="point_time_limit"):
        exact_robust_accuracy(net, X, y, 0.1, bias=True, point_time_limit=-1.0)
    with pytest.raises(ValueError, match="outside the l_inf ball"):
        exact_robust_accuracy(net, X, y, 0.1, bias=True, X_attack=X + 0.5)
    with pytest.raises(ValueError, match="attack"):
        exact_robust_accuracy(net, X, y, 0.1, bias=True, attack="fgsm")
    with pytest.raises(ValueError, match="gate directions"):
        exact_robust_accuracy(GatedReLUNetwork(net.U, net.alpha), X, y, 0.1, bias=True)
    with pytest.raises(ValueError, match="exact_time_limit"):
        evaluate_robustness(net, X, y, 0.1, bias=True, exact=True, exact_time_limit=0.0)


@pytest.mark.parametrize("bias", [False, True])
def test_gated_interval_bound_is_below_the_exact_minimum_and_its_slopes_are_the_gradient(bias):
    """The gated network's sound bound (GatedReLUNetwork.worst_margin_bounds) never exceeds the exact
    minimum of y f over the box (one LP per gate pattern), so certified_robust certifies only points whose
    exact minimum is positive; with the gates held its input slopes are the finite-difference gradient;
    at eps = 0 the bound is the margin itself."""
    for seed in range(4):
        net, X, y = tiny_instance(10 + seed, gated=True, bias=bias, n=5, width=4)
        net.alpha *= 0.1  # small outputs: some points certify at this radius, others do not
        epsilon = 0.15
        bound, _ = net.worst_margin_bounds(X, y, epsilon, bias)
        exact = np.array([region_minimum(net, X[k], y[k], epsilon, bias) for k in range(X.shape[0])])
        assert np.all(bound <= exact + 1e-9)
        assert np.all(exact[net.certified_robust(X, y, epsilon, bias)] > 0)
        assert np.allclose(net.worst_margin_bounds(X, y, 0.0, bias)[0], y * net.predict(X))
        k = X.shape[1] - 1 if bias else X.shape[1]
        step = 1e-7
        numeric = np.stack([(net.predict(X + step * np.eye(X.shape[1])[i]) - net.predict(X)) / step
                            for i in range(k)], axis=1)
        assert np.allclose(net.input_slopes(X, bias), numeric, atol=1e-5)
