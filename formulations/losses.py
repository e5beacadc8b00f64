r"""The three training losses, each defined once.

Losses are SUMS over samples (docs/math.md section 1). For predictions :math:`\hat y` and targets :math:`y`:

* squared:  ``0.5 * sum((yhat - y)^2)``
* hinge:    ``sum(max(0, 1 - y * yhat))``           (y in {-1, +1})
* logistic: ``sum(log(1 + exp(-y * yhat)))``        (y in {-1, +1})

Each loss provides the CVXPY expression (the oracle), the NumPy value, its gradient with respect to the
predictions and its proximal operator (for the hand-written solvers), the worst case over an l_inf ball
(docs/math.md section 7) in both CVXPY and NumPy form, and label validation.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
import cvxpy as cp
import numpy as np
from scipy.special import expit, xlogy

from .validation import check_vector


class Loss(ABC):
    """Base class. ``name`` is the public name used by the CLI and the JSON report."""

    name = ""
    classification = False

    def validate_labels(self, y):
        """Return a float copy of ``y``; raise ValueError if the labels do not suit this loss."""
        return check_vector(y)

    # -- values ---------------------------------------------------------------------------------
    @abstractmethod
    def per_sample(self, yhat, y):
        """Loss of each sample at prediction yhat (an n-vector)."""

    def value(self, yhat, y):
        """Sum of :meth:`per_sample` over the samples."""
        return float(np.sum(self.per_sample(np.asarray(yhat, float), np.asarray(y, float))))

    @abstractmethod
    def gradient(self, yhat, y):
        """d loss / d yhat, elementwise."""

    def hessian(self, yhat, y):
        """d^2 loss / d yhat^2, elementwise (smooth losses only)."""
        raise ValueError(f"the {self.name} loss is not twice differentiable")

    @abstractmethod
    def prox(self, v, y, t):
        r"""Elementwise :math:`\mathrm{argmin}_z\ \ell(z, y) + \frac{1}{2t}(z - v)^2`, t > 0."""

    @abstractmethod
    def cvx(self, yhat, y):
        """CVXPY expression of the summed loss (convex in ``yhat``)."""

    @abstractmethod
    def dual_value(self, s, y):
        r""":math:`-\ell^*(s)` (sum form), the loss term of the Lagrange dual; ``s`` is clipped into the
        conjugate's domain where it has one (callers scale s into it first)."""

    # -- worst case over an l_inf ball (slack = eps * |a_k|_1 >= 0) --------------------------------
    @abstractmethod
    def robust_per_sample(self, yhat, slack, y):
        """Worst-case loss of each sample over the l_inf ball, given slack = eps * |a_k|_1 (docs/math.md section 7)."""

    def robust_value(self, yhat, slack, y):
        return float(np.sum(self.robust_per_sample(np.asarray(yhat, float), np.asarray(slack, float),
                                                   np.asarray(y, float))))

    @abstractmethod
    def robust_cvx(self, yhat, slack, y):
        """CVXPY expression of the summed worst-case loss (convex in yhat and slack)."""

    def __repr__(self):
        return f"{type(self).__name__}()"


class SquaredLoss(Loss):
    name = "squared"

    def per_sample(self, yhat, y):
        return 0.5 * (yhat - y) ** 2

    def gradient(self, yhat, y):
        return np.asarray(yhat, float) - y

    def hessian(self, yhat, y):
        return np.ones_like(np.asarray(yhat, float))

    def prox(self, v, y, t):
        return (v + t * y) / (1.0 + t)

    def cvx(self, yhat, y):
        return 0.5 * cp.sum_squares(yhat - y)

    def dual_value(self, s, y):
        # l^*(s) = 0.5 |s|^2 + s^T y
        return float(-0.5 * s @ s - s @ y)

    def robust_per_sample(self, yhat, slack, y):
        return 0.5 * (np.abs(yhat - y) + slack) ** 2

    def robust_cvx(self, yhat, slack, y):
        return 0.5 * cp.sum(cp.square(cp.abs(yhat - y) + slack))


class _PlusMinusOneLoss(Loss):
    classification = True

    def validate_labels(self, y):
        y = check_vector(y)
        bad = ~np.isin(y, (-1.0, 1.0))
        if np.any(bad):
            found = np.unique(y[bad])[:5]
            raise ValueError(f"the {self.name} loss needs labels in {{-1, +1}}; found {found.tolist()}")
        return y


class HingeLoss(_PlusMinusOneLoss):
    name = "hinge"

    def per_sample(self, yhat, y):
        return np.maximum(0.0, 1.0 - y * yhat)

    def gradient(self, yhat, y):
        # a subgradient: -y where the margin is violated, 0 elsewhere
        return np.where(y * np.asarray(yhat, float) < 1.0, -y, 0.0)

    def prox(self, v, y, t):
        # with u = y v: argmin max(0, 1-u') + (u'-u)^2/(2t) is u if u >= 1, u+t if u <= 1-t, else 1
        u = y * v
        u_new = np.where(u >= 1.0, u, np.where(u <= 1.0 - t, u + t, 1.0))
        return y * u_new

    def cvx(self, yhat, y):
        return cp.sum(cp.pos(1 - cp.multiply(y, yhat)))

    def dual_value(self, s, y):
        # s = -y a with a in [0, 1]^n: l^*(s) = -sum a
        return float(np.sum(np.clip(-y * s, 0.0, 1.0)))

    def robust_per_sample(self, yhat, slack, y):
        return np.maximum(0.0, 1.0 - y * yhat + slack)

    def robust_cvx(self, yhat, slack, y):
        return cp.sum(cp.pos(1 - cp.multiply(y, yhat) + slack))


class LogisticLoss(_PlusMinusOneLoss):
    name = "logistic"

    def per_sample(self, yhat, y):
        return np.logaddexp(0.0, -y * yhat)

    def gradient(self, yhat, y):
        return -y * expit(-y * np.asarray(yhat, float))

    def hessian(self, yhat, y):
        s = expit(-y * np.asarray(yhat, float))
        return s * (1.0 - s)

    def prox(self, v, y, t, iterations=60):
        r"""Safeguarded Newton on :math:`g(u') = -\sigma(-u') + (u' - u)/t = 0`, with u = y v.

        g is increasing and the root satisfies ``u' - u = t sigma(-u')``, so it lies in
        ``[u + t sigma(-hi), hi]`` with ``hi = u + t sigma(-u)`` (sigma is decreasing); Newton starts at the
        side from which its iterates are monotone (g is concave for u' >= 0, convex for u' <= 0), and steps
        leaving the bracket are replaced by bisection, so the iteration converges for every input.
        """
        v = np.asarray(v, float)
        t = np.broadcast_to(np.asarray(t, float), v.shape)
        u = y * v
        hi = u + t * expit(-u)
        lo = u + t * expit(-hi)
        # g is concave on z >= 0 and convex on z <= 0: Newton from the left end of the bracket (root > 0)
        # or from the right end (root <= 0) converges monotonically and quadratically
        root_positive = -0.5 - u / t < 0  # g(0) < 0
        z = np.where(root_positive, np.maximum(lo, 0.0), np.minimum(hi, 0.0))
        z = np.clip(z, lo, hi)
        for _ in range(iterations):
            s = expit(-z)
            g = -s + (z - u) / t
            lo = np.where(g < 0, z, lo)
            hi = np.where(g > 0, z, hi)
            step = g / (s * (1.0 - s) + 1.0 / t)
            z_new = z - step
            outside = (z_new < lo) | (z_new > hi)
            z_new = np.where(outside, 0.5 * (lo + hi), z_new)
            # Newton converges quadratically; 1e-13 is at the rounding floor of z - u over t
            if np.max(np.abs(z_new - z), initial=0.0) <= 1e-13 * (1.0 + np.max(np.abs(z), initial=0.0)):
                z = z_new
                break
            z = z_new
        return y * z

    def cvx(self, yhat, y):
        return cp.sum(cp.logistic(-cp.multiply(y, yhat)))

    def dual_value(self, s, y):
        # s = -y q with q in [0, 1]^n: l^*(s) = sum q log q + (1 - q) log(1 - q)
        q = np.clip(-y * s, 0.0, 1.0)
        return float(-np.sum(xlogy(q, q) + xlogy(1.0 - q, 1.0 - q)))

    def robust_per_sample(self, yhat, slack, y):
        return np.logaddexp(0.0, -y * yhat + slack)

    def robust_cvx(self, yhat, slack, y):
        return cp.sum(cp.logistic(-cp.multiply(y, yhat) + slack))


LOSSES = {cls.name: cls for cls in (SquaredLoss, HingeLoss, LogisticLoss)}


def get_loss(loss):
    """Return a :class:`Loss` instance from a name (``squared``, ``hinge``, ``logistic``) or instance."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss in LOSSES:
        return LOSSES[loss]()
    raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
