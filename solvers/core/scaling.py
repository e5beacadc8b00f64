"""Data scaling shared by the hand-written solvers of the constrained program."""
from __future__ import annotations

import numpy as np


def root_mean_scale(A, count):
    """``|A|_F / sqrt(count)`` (1 when that is not positive): for the data ``X`` with ``count = d`` the root
    of the mean eigenvalue of ``X^T X``, for labels ``y`` with ``count = n`` their root mean square."""
    scale = np.linalg.norm(A) / np.sqrt(count)
    return scale if scale > 0 else 1.0


class Scaled:
    """The scaled problem: ``Xs = X / sx``, ``ys = y / sy``, ``beta_s = beta / (sx sy)``.

    A point ``a_s`` of the scaled problem is ``a = (sy / sx) a_s`` of the original one, with
    ``objective = sy**2 * objective_s`` and the same cone constraints up to the factor sy."""

    def __init__(self, program, scaling):
        X, y = program.X, program.y
        n, d = X.shape
        if scaling:
            # average eigenvalue of Xs^T Xs equal to 1: the cone split and the a = b split weigh alike
            # (the unit root-mean-square alternative is compared in docs/benchmarks.md)
            sx, sy = root_mean_scale(X, d), root_mean_scale(y, n)
        else:
            sx = sy = 1.0
        self.sx, self.sy = float(sx), float(sy)
        self.X = X / sx
        self.y = y / sy
        self.beta = program.beta_value / (sx * sy)

    def to_weights(self, A, P):
        f = self.sy / self.sx
        return {"V": f * A[:, :P], "W": f * A[:, P:]}

    def from_weights(self, weights):
        f = self.sx / self.sy
        return f * np.hstack([np.asarray(weights["V"], float), np.asarray(weights["W"], float)])
