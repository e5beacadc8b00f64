"""Attacks against the exact worst case (docs/math.md section 7).

On a network recovered from the robust program every training point is epsilon-stable, so the exact
worst case over the l_inf ball is the maximum over the box vertices and equals the closed form; PGD must
never exceed it and must reach it; certified points are never broken.
"""
import numpy as np
import pytest

from formulations import ReLUNetwork, get_loss, make_program
from solvers import solve_oracle
from solvers.baselines.attacks import fgsm, input_gradient, pgd, robust_accuracy, worst_case_vertices

EPS = 0.1


@pytest.fixture(scope="module", params=["hinge", "logistic", "squared"])
def robust_solution(request):
    rng = np.random.default_rng(11)
    X = rng.standard_normal((30, 3))
    y = np.where(X[:, 0] - 0.5 * X[:, 1] + 0.2 * rng.standard_normal(30) > 0, 1.0, -1.0)
    program = make_program("robust", X, y, request.param, 0.1, epsilon=EPS, n_patterns=20, seed=3, bias=True)
    result = solve_oracle(program)
    assert result.status == "optimal"
    return program, result


def test_pgd_reaches_but_never_exceeds_the_exact_worst_case(robust_solution):
    program, result = robust_solution
    net, X, y, loss = result.network, program.X, program.y, program.loss
    assert np.all(net.stable_mask(X, EPS, bias=True))
    exact, _ = worst_case_vertices(net, X, y, loss, EPS, bias=True)
    closed_form = net.adversarial_losses(X, y, loss, EPS, bias=True)
    np.testing.assert_allclose(exact, closed_form, rtol=1e-6, atol=1e-8)
    X_adv = pgd(net, X, y, loss, EPS, steps=30, restarts=3, seed=0, bias=True)
    attacked = loss.per_sample(net.predict(X_adv), y)
    assert np.all(np.abs(X_adv - X)[:, :-1] <= EPS + 1e-12)
    assert np.array_equal(X_adv[:, -1], X[:, -1])  # the bias column is never perturbed
    assert np.all(attacked <= exact + 1e-8 * (1 + np.abs(exact)))
    np.testing.assert_allclose(attacked, exact, rtol=1e-6, atol=1e-8)
    # on an affine function one signed step is already optimal
    fgsm_loss = loss.per_sample(net.predict(fgsm(net, X, y, loss, EPS, bias=True)), y)
    np.testing.assert_allclose(fgsm_loss, exact, rtol=1e-6, atol=1e-8)
    # and the robust objective is the sum of those worst cases plus weight decay
    total = exact.sum() + program.beta_value * net.regularizer()
    assert total == pytest.approx(result.objective, rel=1e-6)


def test_certified_points_are_never_broken(robust_solution):
    program, result = robust_solution
    if not program.loss.classification:
        pytest.skip("certificates are for classification losses")
    certified = program.certificates(result.weights)
    assert certified.any()
    net = result.network
    X_adv = pgd(net, program.X, program.y, "hinge", EPS, steps=40, restarts=5, seed=1, bias=True)
    margins = program.y * net.predict(X_adv)
    assert np.all(margins[certified] > 0)


def test_pgd_on_a_generic_network_improves_on_clean_and_stays_in_the_box():
    rng = np.random.default_rng(0)
    net = ReLUNetwork(rng.standard_normal((4, 12)), rng.standard_normal(12))
    X = rng.standard_normal((50, 4))
    y = np.where(rng.standard_normal(50) > 0, 1.0, -1.0)
    X_before = X.copy()
    clean = net.predict(X)
    for loss in ("hinge", "logistic", "squared"):
        X_adv = pgd(net, X, y, loss, 0.2, steps=20, restarts=4, seed=0)
        assert np.all(np.abs(X_adv - X) <= 0.2 + 1e-12)
        L = get_loss(loss)
        attacked = L.per_sample(net.predict(X_adv), y)
        assert np.all(attacked >= L.per_sample(clean, y) - 1e-12)
        vertex, _ = worst_case_vertices(net, X, y, loss, 0.2)
        assert np.mean(attacked >= vertex - 1e-9) > 0.5  # PGD usually finds at least the best vertex
    np.testing.assert_array_equal(X, X_before)
    acc = robust_accuracy(net, X, y, 0.2, steps=10, restarts=2, seed=0)
    assert acc <= np.mean(np.where(clean >= 0, 1.0, -1.0) == y)


def test_input_gradient_matches_finite_differences():
    rng = np.random.default_rng(5)
    net = ReLUNetwork(rng.standard_normal((3, 6)), rng.standard_normal(6))
    X = rng.standard_normal((10, 3))
    y = np.where(rng.standard_normal(10) > 0, 1.0, -1.0)
    G = input_gradient(net, X, y, "logistic")
    L = get_loss("logistic")
    h = 1e-6
    for j in range(3):
        E = np.zeros_like(X)
        E[:, j] = h
        fd = (L.per_sample(net.predict(X + E), y) - L.per_sample(net.predict(X - E), y)) / (2 * h)
        np.testing.assert_allclose(G[:, j], fd, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("kwargs, match", [
    (dict(epsilon=-0.1), "epsilon"),
    (dict(epsilon=0.1, steps=0), "steps"),
    (dict(epsilon=0.1, restarts=0), "restarts"),
])
def test_bad_attack_options(kwargs, match):
    net = ReLUNetwork(np.ones((2, 1)), np.ones(1))
    with pytest.raises(ValueError, match=match):
        pgd(net, np.ones((3, 2)), np.ones(3), "hinge", **kwargs)
