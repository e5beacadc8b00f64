"""Data scaling shared by the hand-written solvers of the constrained program."""
from __future__ import annotations

import numpy as np


class Scaled:
    """The scaled problem: ``Xs = X / sx``, ``ys = y / sy``, ``beta_s = beta / (sx sy)``.

    A point ``a_s`` of the scaled problem is ``a = (sy / sx) a_s`` of the original one, with
    ``objective = sy**2 * objective_s`` and the same cone constraints up to the factor sy."""

    def __init__(self, program, scaling):
        X, y = program.X, program.y
        n, d = X.shape
        if scaling:
            # average eigenvalue of Xs^T Xs equal to 1: the cone split and the a = b split weigh alike.
            # Measured alternative: unit root-mean-square entry (sx = |X|_F / sqrt(n d)) needs 1.6-14x
            # fewer iterations at moderate beta but failed to certify beta = 1e-4 and was 15x further
            # from the optimum after 2000 iterations at beta = 1e-3 (n = 300, d = 30, P = 100)
            sx = np.linalg.norm(X) / np.sqrt(d)
            sy = np.linalg.norm(y) / np.sqrt(n)
            sx = sx if sx > 0 else 1.0
            sy = sy if sy > 0 else 1.0
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
