r"""The sampled convex program with a frozen first layer (Bai et al., Algorithm 2; docs/math.md section 5).

Draw N unit directions h_j, freeze the features :math:`F = \max(0, X H)` (n x N) and solve the
unconstrained l1 problem

.. math::
    \min_\theta\ \ell(F\theta, y) + \beta |\theta|_1 .

It is the non-convex objective with the first layer fixed, in rescaled form: the network
:math:`u_j = h_j\sqrt{|\theta_j|}`, :math:`\alpha_j = \mathrm{sign}(\theta_j)\sqrt{|\theta_j|}` has exactly
this objective (:meth:`formulations.network.ReLUNetwork.from_random_features`).
"""
from __future__ import annotations

import cvxpy as cp
import numpy as np

from .base import NEURON_TOL, ConvexProgram
from .network import ReLUNetwork
from .validation import check_directions


class SCPProgram(ConvexProgram):
    """Random-feature l1 program; ``H`` (d x N) is normalised to unit columns; variable ``theta`` (N)."""

    formulation = "scp"
    variable_names = ("theta",)

    def __init__(self, X, y, H, loss="squared", beta=1.0, check_input=True):
        super().__init__(X, y, loss, beta, check_input)
        if check_input:
            H = check_directions(H, self.d)
        self.H = H / np.linalg.norm(H, axis=0)
        self.F = np.maximum(0.0, self.X @ self.H)
        self.theta = cp.Variable(self.H.shape[1], name="theta")
        self.variables = {"theta": self.theta}
        self.prediction = self.F @ self.theta
        self.constraints = []
        self.problem = cp.Problem(cp.Minimize(self.loss.cvx(self.prediction, self.y)
                                              + self.beta * cp.norm1(self.theta)))

    @property
    def n_patterns(self):
        return self.H.shape[1]

    def predictions(self, weights):
        return self.F @ weights["theta"]

    def regularizer(self, weights):
        return float(np.abs(weights["theta"]).sum())

    def block_contributions(self, weights):
        """``theta_j max(0, X h_j)``: each random feature's contribution to the predictions."""
        return {"theta": self.F * weights["theta"][None, :]}

    def network(self, weights, rel_tol=NEURON_TOL):
        return ReLUNetwork.from_random_features(self.H, self.significant_weights(weights, rel_tol)["theta"], 0.0)
