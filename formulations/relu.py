r"""The constrained convex ReLU program (Pilanci & Ergen; docs/math.md section 2).

With patterns :math:`D` (n x P), signs :math:`S = 2D - 1` and variables :math:`V, W` (d x P):

.. math::
    \min_{V,W}\ \ell\Big(\sum_i D_i \circ X(v_i - w_i),\ y\Big) + \beta \sum_i (|v_i|_2 + |w_i|_2)
    \quad\text{s.t.}\quad S_i \circ (X v_i) \ge 0,\ S_i \circ (X w_i) \ge 0.

With every pattern of X (:func:`formulations.patterns.enumerate_patterns`) its optimum is the global
minimum of the non-convex objective ("exact"); with sampled patterns it is a restriction whose optimum
is an upper bound ("sampled"). Declared in one vectorised piece: no Python loop over patterns.
"""
from __future__ import annotations

import cvxpy as cp
import numpy as np

from .base import NEURON_TOL, ConvexProgram, group_norms
from .network import ReLUNetwork
from .validation import check_patterns


class ReLUProgram(ConvexProgram):
    """Constrained ReLU program on patterns ``D``; ``formulation`` is ``"exact"`` or ``"sampled"``.

    Attributes: ``problem`` (cvxpy.Problem), ``V``, ``W`` (cvxpy.Variable), ``beta`` (cvxpy.Parameter),
    ``D``, ``S`` (NumPy), ``prediction`` (cvxpy expression of the training predictions), ``H`` (the
    directions that made the patterns, if known).
    """

    variable_names = ("V", "W")

    def __init__(self, X, y, D, loss="squared", beta=1.0, formulation="sampled", H=None, check_input=True):
        super().__init__(X, y, loss, beta, check_input)
        if formulation not in ("exact", "sampled"):
            raise ValueError(f"ReLUProgram formulation must be 'exact' or 'sampled', got {formulation!r}")
        self.formulation = formulation
        self.D = check_patterns(D, self.n) if check_input else D
        self.S = 2.0 * self.D - 1.0
        self.H = H
        self._declare()

    def _declare(self):
        d, P = self.d, self.n_patterns
        self.V = cp.Variable((d, P), name="V")
        self.W = cp.Variable((d, P), name="W")
        self.variables = {"V": self.V, "W": self.W}
        self.prediction = cp.sum(cp.multiply(self.D, self.X @ (self.V - self.W)), axis=1)
        penalty = cp.sum(cp.norm(self.V, 2, axis=0)) + cp.sum(cp.norm(self.W, 2, axis=0))
        self.constraints = [cp.multiply(self.S, self.X @ self.V) >= 0,
                            cp.multiply(self.S, self.X @ self.W) >= 0]
        self.problem = cp.Problem(cp.Minimize(self.loss.cvx(self.prediction, self.y) + self.beta * penalty),
                                  self.constraints)

    @property
    def n_patterns(self):
        return self.D.shape[1]

    def predictions(self, weights):
        r""":math:`\sum_i D_i \circ X(v_i - w_i)`."""
        return np.sum(self.D * (self.X @ (weights["V"] - weights["W"])), axis=1)

    def regularizer(self, weights):
        return float(group_norms(weights["V"]).sum() + group_norms(weights["W"]).sum())

    def cone_violations(self, weights):
        """Elementwise violations max(0, -S o XV) and max(0, -S o XW) (two n x P arrays)."""
        return (np.maximum(0.0, -self.S * (self.X @ weights["V"])),
                np.maximum(0.0, -self.S * (self.X @ weights["W"])))

    def max_violation(self, weights):
        return float(max(v.max(initial=0.0) for v in self.cone_violations(weights)))

    def block_contributions(self, weights):
        """``D_i o X v_i`` and ``D_i o X w_i``: what each block adds to (or takes from) the predictions."""
        return {"V": self.D * (self.X @ weights["V"]), "W": self.D * (self.X @ weights["W"])}

    def network(self, weights, rel_tol=NEURON_TOL):
        kept = self.significant_weights(weights, rel_tol)
        return ReLUNetwork.from_convex(kept["V"], kept["W"], 0.0)
