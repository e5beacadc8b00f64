"""Shared small data sets and solved programs for the foundation tests.

Every fixture is session scoped and built from fixed seeds, so the (slow-ish) exact pattern enumeration
and the oracle solves run once per test session. Tests never modify fixture arrays (they copy first).
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

try:  # the programs here are tiny: BLAS threads only fight each other (and other users) for the 2 cores
    from threadpoolctl import threadpool_limits

    _BLAS_LIMIT = threadpool_limits(limits=1)
except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
    _BLAS_LIMIT = None

from formulations import ReLUProgram, add_bias_column, enumerate_patterns, make_program  # noqa: E402
from solvers import solve_oracle  # noqa: E402

LOSSES = ("squared", "hinge", "logistic")
BETA = 0.1


def plus_minus_labels(X, rng):
    """+-1 labels from a noisy linear rule, with both classes present."""
    y = np.where(X[:, 0] - 0.7 * X[:, 1] + 0.5 * rng.standard_normal(X.shape[0]) >= 0, 1.0, -1.0)
    y[0], y[1] = 1.0, -1.0
    return y


def make_data(n, d, seed):
    """(X, y_regression, y_classification) with Gaussian features (general position a.s.)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y_reg = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] ** 2 + 0.1 * rng.standard_normal(n)
    return X, y_reg, plus_minus_labels(X, rng)


def labels_for(loss, data):
    return data["y_reg"] if loss == "squared" else data["y_cls"]


@pytest.fixture(scope="session")
def gp_data():
    """n = 12 general-position points, 2 Gaussian features (the exact program adds a bias column)."""
    X, y_reg, y_cls = make_data(12, 2, seed=20260)
    return {"X": X, "y_reg": y_reg, "y_cls": y_cls, "beta": BETA}


@pytest.fixture(scope="session")
def tiny_data():
    """n = 8 points, 2 Gaussian features: for the solver-agreement and robust checks."""
    X, y_reg, y_cls = make_data(8, 2, seed=7)
    return {"X": X, "y_reg": y_reg, "y_cls": y_cls, "beta": BETA}


@pytest.fixture(scope="session")
def gp_patterns(gp_data):
    """(X with bias column, D, H) from one exact enumeration of the ``gp_data`` points."""
    X = add_bias_column(gp_data["X"])
    D, H = enumerate_patterns(X)
    return X, D, H


@pytest.fixture(scope="session")
def exact_solutions(gp_data, gp_patterns):
    """Exact program (bias=True) for every loss, solved by Clarabel: {loss: (program, result)}.

    Patterns are enumerated by ``make_program("exact", ...)`` for the squared loss (checked equal to
    ``gp_patterns``) and the same (X, D, H) is reused for the classification losses.
    """
    X = gp_data["X"]
    out = {}
    first = make_program("exact", X, gp_data["y_reg"], "squared", gp_data["beta"], bias=True)
    assert np.array_equal(gp_patterns[1], first.D)
    for loss in LOSSES:
        prog = first if loss == "squared" else ReLUProgram(
            first.X, gp_data["y_cls"], first.D, loss, gp_data["beta"], formulation="exact", H=first.H)
        res = solve_oracle(prog, "clarabel")
        assert res.status == "optimal", (loss, res.status)
        out[loss] = (prog, res)
    return out


# -- reference formulas written directly from docs/math.md sections 1-3 (independent of formulations/) ---
def ref_loss(yhat, y, loss):
    """Sum-form losses of docs/math.md section 1, written out again."""
    yhat, y = np.asarray(yhat, float), np.asarray(y, float)
    if loss == "squared":
        return 0.5 * float(np.sum((yhat - y) ** 2))
    if loss == "hinge":
        return float(np.sum(np.maximum(0.0, 1.0 - y * yhat)))
    if loss == "logistic":
        m = -y * yhat
        return float(np.sum(np.where(m > 0, m + np.log1p(np.exp(-np.abs(m))), np.log1p(np.exp(m)))))
    raise AssertionError(loss)


def ref_loss_gradient(yhat, y, loss):
    """d loss / d yhat (squared and logistic: smooth)."""
    yhat, y = np.asarray(yhat, float), np.asarray(y, float)
    if loss == "squared":
        return yhat - y
    if loss == "logistic":
        return -y / (1.0 + np.exp(y * yhat))
    raise AssertionError(loss)


def ref_relu_net(U, alpha, X):
    """f(X) = sum_j max(0, X u_j) alpha_j, as an explicit sum over neurons."""
    out = np.zeros(X.shape[0])
    for j in range(U.shape[1]):
        out += np.maximum(0.0, X @ U[:, j]) * alpha[j]
    return out


def ref_nc_objective(U, alpha, X, y, loss, beta):
    """loss(f(X), y) + (beta/2) sum_j (|u_j|^2 + alpha_j^2)."""
    reg = sum(float(U[:, j] @ U[:, j]) + float(alpha[j] ** 2) for j in range(U.shape[1]))
    return ref_loss(ref_relu_net(U, alpha, X), y, loss) + 0.5 * beta * reg


def ref_convex_predictions(X, D, V, W):
    """sum_i D_i * X (v_i - w_i), as an explicit sum over patterns."""
    out = np.zeros(X.shape[0])
    for i in range(D.shape[1]):
        out += D[:, i] * (X @ (V[:, i] - W[:, i]))
    return out


def ref_group_penalty(*blocks):
    return float(sum(np.linalg.norm(B[:, i]) for B in blocks for i in range(B.shape[1])))


@pytest.fixture(scope="session")
def ref():
    """Reference formulas (docs/math.md sections 1-3) for the tests, independent of the library's own
    evaluators."""
    from types import SimpleNamespace

    return SimpleNamespace(loss=ref_loss, loss_gradient=ref_loss_gradient, relu_net=ref_relu_net,
                           nc_objective=ref_nc_objective, convex_predictions=ref_convex_predictions,
                           group_penalty=ref_group_penalty)


@pytest.fixture(scope="session")
def squared_exact_program():
    """Exact (every pattern) squared-loss program on 14 Gaussian points in 2-D plus a bias, beta 0.5."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((14, 2))
    y = rng.standard_normal(14)
    return make_program("exact", X, y, "squared", 0.5, bias=True)


# -- block tuples of the robust interior points (solvers.ipm_robust, solvers.ipm_robust_losses) ---------
def random_robust_blocks(data, rng):
    """A random primal point ``(A, R, t, xi or e, U)`` of a robust interior point's ``data``."""
    return (rng.standard_normal((data.d, data.J)), rng.standard_normal((data.p, data.J)),
            rng.standard_normal(data.J), rng.standard_normal(data.n), rng.standard_normal((data.n, data.p)))


def flat_blocks(x):
    """The blocks of a tuple, raveled and concatenated."""
    return np.concatenate([np.ravel(v) for v in x])


def unflat_blocks(v, like):
    """The inverse of :func:`flat_blocks`: ``v`` cut into blocks shaped as those of ``like``."""
    out, start = [], 0
    for block in like:
        out.append(v[start:start + np.size(block)].reshape(np.shape(block)))
        start += np.size(block)
    return tuple(out)
