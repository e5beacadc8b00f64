r"""The robust (l_inf adversarial) convex ReLU program (Bai et al.; docs/math.md section 7).

Keep the clean patterns and require them to hold for every perturbation of radius eps:

.. math::
    S_i \circ (X v_i) \ge \epsilon |v_i|_1,\quad S_i \circ (X w_i) \ge \epsilon |w_i|_1

(the bias coordinate excluded from the l1 norm; the bias column is never perturbed). On that set the
model is affine in the perturbation with slope :math:`a_k = \sum_i D_{ki}(v_i - w_i)` and the worst-case
loss has a closed form with slack :math:`\epsilon |a_k|_1` (:meth:`formulations.losses.Loss.robust_cvx`):

.. math::
    \min_{V,W}\ \sum_k \ell_{\mathrm{worst}}(\hat y_k, \epsilon|a_k|_1, y_k)
    + \beta \sum_i (|v_i|_2 + |w_i|_2).

Its objective equals the exact adversarial training objective of the recovered network.
"""
from __future__ import annotations

import cvxpy as cp
import numpy as np

from .network import perturbation_mask, perturbed_columns
from .relu import ReLUProgram
from .validation import check_epsilon


class RobustReLUProgram(ReLUProgram):
    """Robust program; ``epsilon`` is a nonnegative ``cvxpy.Parameter``; ``bias=True`` marks the last
    column of X as the (unperturbed) bias column."""

    formulation = "robust"

    def __init__(self, X, y, D, loss="hinge", beta=1.0, epsilon=0.0, bias=False, H=None, check_input=True):
        self.bias = bool(bias)
        self.epsilon = cp.Parameter(nonneg=True, name="epsilon", value=check_epsilon(epsilon))
        super().__init__(X, y, D, loss, beta, formulation="sampled", H=H, check_input=check_input)
        self.formulation = "robust"
        if self.bias and not np.allclose(self.X[:, -1], 1.0):
            raise ValueError("bias=True needs the last column of X to be all ones")

    @property
    def perturbed(self):
        """Columns of X that the adversary may perturb (all but the bias column)."""
        return perturbed_columns(self.d, self.bias)

    @property
    def perturbed_mask(self):
        """Boolean mask (d,) of :attr:`perturbed`: the one statement of "the bias column is never
        perturbed" that solvers and attacks read."""
        return perturbation_mask(self.d, self.bias)

    def _declare(self):
        d, P, n = self.d, self.n_patterns, self.n
        self.V = cp.Variable((d, P), name="V")
        self.W = cp.Variable((d, P), name="W")
        self.variables = {"V": self.V, "W": self.W}
        p = self.perturbed
        self.prediction = cp.sum(cp.multiply(self.D, self.X @ (self.V - self.W)), axis=1)
        slopes = self.D @ (self.V - self.W)[p].T  # n x d': a_k as rows
        self.slack = self.epsilon * cp.norm(slopes, 1, axis=1)
        ones = np.ones((n, 1))
        radius_v = ones @ cp.reshape(cp.norm(self.V[p], 1, axis=0), (1, P), order="C")
        radius_w = ones @ cp.reshape(cp.norm(self.W[p], 1, axis=0), (1, P), order="C")
        self.constraints = [cp.multiply(self.S, self.X @ self.V) >= self.epsilon * radius_v,
                            cp.multiply(self.S, self.X @ self.W) >= self.epsilon * radius_w]
        penalty = cp.sum(cp.norm(self.V, 2, axis=0)) + cp.sum(cp.norm(self.W, 2, axis=0))
        self.problem = cp.Problem(
            cp.Minimize(self.loss.robust_cvx(self.prediction, self.slack, self.y) + self.beta * penalty),
            self.constraints)

    def set_epsilon(self, epsilon):
        """Change epsilon in place; the compiled problem is reused at the next solve (DPP)."""
        self.epsilon.value = check_epsilon(epsilon)

    @property
    def epsilon_value(self):
        return float(self.epsilon.value)

    def slopes(self, weights):
        """a_k = sum_i D_ki (v_i - w_i) in the perturbed coordinates (n x d')."""
        return self.D @ (weights["V"] - weights["W"])[self.perturbed].T

    def slacks(self, weights):
        return self.epsilon_value * np.abs(self.slopes(weights)).sum(axis=1)

    def loss_value(self, weights):
        return self.loss.robust_value(self.predictions(weights), self.slacks(weights), self.y)

    def cone_violations(self, weights):
        p = self.perturbed
        eps = self.epsilon_value
        out = []
        for B in (weights["V"], weights["W"]):
            radius = eps * np.abs(B[p]).sum(axis=0)
            out.append(np.maximum(0.0, radius[None, :] - self.S * (self.X @ B)))
        return tuple(out)

    def certificates(self, weights):
        """Per training point: robustly correct iff y_k yhat_k > eps |a_k|_1 (classification losses)."""
        return self.y * self.predictions(weights) > self.slacks(weights)

    def network_objective(self, weights):
        """Exact adversarial objective of the recovered network (closed form on eps-stable points)."""
        net = self.network(weights)
        return net.adversarial_objective(self.X, self.y, self.loss, self.beta_value, self.epsilon_value,
                                         self.bias, check=False)

    def describe(self):
        out = super().describe()
        out["epsilon"] = self.epsilon_value
        return out

