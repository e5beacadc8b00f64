"""The three losses (docs/math.md section 1) against their definitions.

* values == the sum formulas written out here; the CVXPY expressions evaluate to the same numbers;
* gradients == central finite differences (hinge away from its kink);
* prox_t(v) == a direct 1-D minimisation of loss(z) + (z - v)^2 / (2t) (scipy minimize_scalar), for
  random points, both labels and several t, and it satisfies the optimality condition;
* robust closed forms == their CVXPY expressions; label validation names the problem.
"""
from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from conftest import LOSSES
from formulations import LOSSES as LOSS_CLASSES
from formulations import HingeLoss, LogisticLoss, SquaredLoss, get_loss


def sample(loss, n, seed):
    rng = np.random.default_rng(seed)
    yhat = 3 * rng.standard_normal(n)
    y = 2 * rng.standard_normal(n) if loss == "squared" else np.where(rng.random(n) < 0.5, -1.0, 1.0)
    return yhat, y


@pytest.mark.parametrize("loss", LOSSES)
def test_values_match_the_definitions_and_cvxpy(ref, loss):
    L = get_loss(loss)
    yhat, y = sample(loss, 40, 0)
    scalar = {"squared": lambda p, t: 0.5 * (p - t) ** 2,
              "hinge": lambda p, t: max(0.0, 1.0 - t * p),
              "logistic": lambda p, t: np.log(1.0 + np.exp(-t * p))}[loss]
    expected = sum(scalar(p, t) for p, t in zip(yhat, y))
    assert L.value(yhat, y) == pytest.approx(expected, rel=1e-12)
    assert L.value(yhat, y) == pytest.approx(ref.loss(yhat, y, loss), rel=1e-12)
    np.testing.assert_allclose(L.per_sample(yhat, y), [scalar(p, t) for p, t in zip(yhat, y)], rtol=1e-12)
    assert L.cvx(cp.Constant(yhat), y).value == pytest.approx(expected, rel=1e-9)
    slack = np.abs(np.random.default_rng(1).standard_normal(40))
    assert L.robust_cvx(cp.Constant(yhat), cp.Constant(slack), y).value == pytest.approx(
        L.robust_value(yhat, slack, y), rel=1e-9)
    assert L.robust_value(yhat, 0 * slack, y) == pytest.approx(expected, rel=1e-12)


def test_logistic_value_is_stable_for_large_margins():
    L = LogisticLoss()
    assert L.value(np.array([1000.0, -1000.0]), np.array([1.0, 1.0])) == pytest.approx(1000.0, rel=1e-12)
    assert np.isfinite(L.gradient(np.array([-1e4, 1e4]), np.array([1.0, -1.0]))).all()


@pytest.mark.parametrize("loss", LOSSES)
def test_gradient_matches_finite_differences(loss):
    L = get_loss(loss)
    yhat, y = sample(loss, 30, 2)
    if loss == "hinge":  # stay away from the kink y*yhat = 1
        yhat = np.where(np.abs(y * yhat - 1) < 0.1, yhat + 0.3 * y, yhat)
    h = 1e-6
    fd = np.array([(L.value(yhat + h * e, y) - L.value(yhat - h * e, y)) / (2 * h) for e in np.eye(30)])
    np.testing.assert_allclose(L.gradient(yhat, y), fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("t", [1e-3, 0.1, 1.0, 7.5, 100.0, 1e4])
def test_prox_matches_direct_minimisation(loss, t):
    L = get_loss(loss)
    v, y = sample(loss, 25, 3)
    v[:4] = y[:4] * np.array([1.0, 1.0 - t, 1.0 - 0.5 * t, 1.0 + 1e-3])  # hinge breakpoints
    z = L.prox(v, y, t)
    assert z.shape == v.shape
    for k in range(len(v)):
        f = lambda s: L.value(np.array([s]), y[k:k + 1]) + (s - v[k]) ** 2 / (2 * t)  # noqa: E731
        width = 2 * t + 2 * abs(v[k]) + 10
        best = minimize_scalar(f, bounds=(v[k] - width, v[k] + width), method="bounded",
                               options={"xatol": 1e-12, "maxiter": 2000})
        # compare objective values (robust to flat minima) and the points (strongly convex: unique)
        assert f(z[k]) <= best.fun + 1e-10 * (1 + abs(best.fun))
        assert z[k] == pytest.approx(best.x, abs=1e-5 * (1 + t))
    if loss != "hinge":  # smooth: optimality condition loss'(z) + (z - v)/t = 0
        np.testing.assert_allclose(L.gradient(z, y) + (z - v) / t, 0.0, atol=1e-9 * (1 + 1 / t))


def test_logistic_prox_converges_in_few_newton_steps_for_large_steps():
    """ADMM calls the prox with t = 1 / (rho w) up to 1e4 and more: Newton from the monotone side of the
    bracket must converge (to the root of the optimality condition) in a handful of steps."""
    from scipy.optimize import brentq
    from scipy.special import expit
    L = get_loss("logistic")
    v, y = sample("logistic", 40, 5)
    v = 5.0 * v
    for t in (1e-6, 1.0, 1e2, 1e4, 1e8):
        z = L.prox(v, y, t, iterations=30)
        u = y * v
        roots = np.array([brentq(lambda q: -expit(-q) + (q - u[k]) / t, u[k], u[k] + t, xtol=1e-14, rtol=1e-15)
                          for k in range(len(v))])
        np.testing.assert_allclose(y * z, roots, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("loss", LOSSES)
def test_dual_value_is_minus_the_conjugate(loss):
    """dual_value(s) = -l^*(s) = min_z l(z) - s z, per sample, checked by direct 1-D minimisation."""
    L = get_loss(loss)
    _, y = sample(loss, 6, 11)
    rng = np.random.default_rng(12)
    if loss == "squared":
        s = rng.standard_normal(6)
    else:  # inside the conjugate's domain: -y s in (0, 1)
        s = -y * rng.uniform(0.05, 0.95, 6)
    total = 0.0
    for k in range(6):
        f = lambda z: L.value(np.array([z]), y[k:k + 1]) - s[k] * z  # noqa: E731
        total += minimize_scalar(f, bounds=(-60, 60), method="bounded", options={"xatol": 1e-10}).fun
    assert L.dual_value(s, y) == pytest.approx(total, abs=1e-7)


def test_prox_closed_forms():
    y = np.array([1.0, -1.0, 1.0])
    v = np.array([0.3, 2.0, -4.0])
    np.testing.assert_allclose(SquaredLoss().prox(v, y, 2.0), (v + 2.0 * y) / 3.0)
    # hinge with u = y v: u >= 1 -> unchanged; u <= 1 - t -> moved by t towards the margin; else to 1
    np.testing.assert_allclose(HingeLoss().prox(np.array([2.0, -3.0, 0.5]), np.array([1.0, -1.0, 1.0]), 1.0),
                               [2.0, -3.0, 1.0])
    np.testing.assert_allclose(HingeLoss().prox(np.array([-2.0]), np.array([1.0]), 1.0), [-1.0])


@pytest.mark.parametrize("loss", ["hinge", "logistic"])
@pytest.mark.parametrize("labels", [[0.0, 1.0, 1.0], [1.0, 2.0, -1.0], [0.5, -1.0, 1.0]])
def test_classification_labels_are_validated(loss, labels):
    with pytest.raises(ValueError, match=rf"{loss} loss needs labels in \{{-1, \+1\}}"):
        get_loss(loss).validate_labels(np.array(labels))


def test_label_and_name_validation():
    np.testing.assert_array_equal(HingeLoss().validate_labels([1, -1, 1]), [1.0, -1.0, 1.0])
    np.testing.assert_array_equal(SquaredLoss().validate_labels([0.5, 7.0]), [0.5, 7.0])
    with pytest.raises(ValueError, match="NaN or infinite"):
        SquaredLoss().validate_labels([0.5, np.nan])
    with pytest.raises(ValueError, match="unknown loss 'hubber'; choose one of squared, hinge, logistic"):
        get_loss("hubber")
    with pytest.raises(ValueError, match="unknown loss"):
        get_loss(None)
    assert set(LOSS_CLASSES) == {"squared", "hinge", "logistic"}
    assert get_loss("hinge").classification and not get_loss("squared").classification
