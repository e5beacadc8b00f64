r"""The gated-ReLU program (Mishkin, Sahiner & Pilanci 2022; docs/math.md section 5).

The constrained program of :mod:`formulations.relu` without the cone constraints. Because nothing ties
v_i and w_i apart, the pair collapses to one block u_i = v_i - w_i:

.. math::
    \min_{U}\ \ell\Big(\sum_i D_i \circ X u_i,\ y\Big) + \beta \sum_i |u_i|_2 .

The model uses gates :math:`1[X h_i \ge 0]` at prediction time, so the gate directions ``H`` are kept
when they are known.
"""
from __future__ import annotations

import cvxpy as cp
import numpy as np

from .base import NEURON_TOL, ConvexProgram, group_norms
from .network import GatedReLUNetwork
from .validation import check_directions, check_patterns


class GatedReLUProgram(ConvexProgram):
    """Unconstrained group-lasso program on fixed gates ``D`` (n x P); variable ``U`` (d x P)."""

    formulation = "gated"
    variable_names = ("U",)

    def __init__(self, X, y, D, loss="squared", beta=1.0, H=None, check_input=True):
        super().__init__(X, y, loss, beta, check_input)
        self.D = check_patterns(D, self.n) if check_input else D
        if H is not None and check_input:
            H = check_directions(H, self.d)
            if H.shape[1] != self.D.shape[1] or not np.array_equal((self.X @ H >= 0), self.D > 0):
                raise ValueError("H does not produce the patterns D (need D == (X @ H >= 0) column by column)")
        self.H = H
        self.U = cp.Variable((self.d, self.n_patterns), name="U")
        self.variables = {"U": self.U}
        self.prediction = cp.sum(cp.multiply(self.D, self.X @ self.U), axis=1)
        penalty = cp.sum(cp.norm(self.U, 2, axis=0))
        self.constraints = []
        self.problem = cp.Problem(cp.Minimize(self.loss.cvx(self.prediction, self.y) + self.beta * penalty))

    @property
    def n_patterns(self):
        return self.D.shape[1]

    def predictions(self, weights):
        return np.sum(self.D * (self.X @ weights["U"]), axis=1)

    def regularizer(self, weights):
        return float(group_norms(weights["U"]).sum())

    def block_contributions(self, weights):
        return {"U": self.D * (self.X @ weights["U"])}

    def network(self, weights, rel_tol=NEURON_TOL):
        return GatedReLUNetwork.from_convex(self.significant_weights(weights, rel_tol)["U"], self.H, 0.0)

    def network_objective(self, weights):
        net = self.network(weights)
        pred = net.predict(self.X, patterns=self.D[:, net.kept_patterns])
        return self.loss.value(pred, self.y) + self.beta_value * net.regularizer()
