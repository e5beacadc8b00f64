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

import warnings

import cvxpy as cp
import numpy as np
from scipy.optimize import linprog

from .network import perturbation_mask, perturbed_columns
from .relu import ReLUProgram
from .validation import check_epsilon, user_stacklevel


class CollapsedConesWarning(UserWarning):
    """At this epsilon every robust cone is {0}: the zero network is the robust program's optimum."""


class FewConesSurviveWarning(CollapsedConesWarning):
    """At this epsilon fewer than :data:`SURVIVING_SHARE` of the patterns have a nonzero robust cone: the
    program fits with a handful of neurons (a subclass, so filters of :class:`CollapsedConesWarning` apply)."""


#: below this share of patterns with a nonzero robust cone the program warns that nearly every cone is {0}
SURVIVING_SHARE = 0.1


def critical_epsilon(X, sign, perturbed):
    r"""The largest radius at which the robust cone :math:`\{v : s \circ (X v) \ge \epsilon |v_p|_1\}` of one
    pattern (signs ``s`` = 2 D_i - 1) still holds a nonzero point, by one linear program:

    .. math::
        \epsilon^*(s) = \max_{v,\ |v_p|_1 \le 1}\ \min_k s_k x_k^\top v

    (the cone is homogeneous, so a point with :math:`s_k x_k^\top v \ge \epsilon |v_p|_1` exists for every
    :math:`\epsilon \le \epsilon^*` and for none above). It is ``inf`` when the unperturbed coordinates alone
    (the bias) realise the pattern - then no radius empties the cone - and 0 when even the clean cone is
    {0}. Variables: ``v_p = v^+ - v^-`` (perturbed), the others free, and ``t``."""
    n, d = X.shape
    p_idx = np.flatnonzero(perturbed)
    f_idx = np.flatnonzero(~perturbed)
    SX = sign[:, None] * X
    if f_idx.size:  # a point with v_p = 0: s_k x_k[f]^T v_f >= 0 for all k with some strict
        fixed = linprog(np.zeros(f_idx.size), A_ub=-SX[:, f_idx], b_ub=-np.ones(n), bounds=(None, None),
                        method="highs")
        if fixed.status == 0:
            return float("inf")
    k = p_idx.size
    # variables: v+ (k), v- (k), v_free (f), t ; maximise t
    cost = np.zeros(2 * k + f_idx.size + 1)
    cost[-1] = -1.0
    A_ub = np.hstack([-SX[:, p_idx], SX[:, p_idx], -SX[:, f_idx], np.ones((n, 1))])
    A_ub = np.vstack([A_ub, np.concatenate([np.ones(2 * k), np.zeros(f_idx.size + 1)])[None, :]])
    b_ub = np.concatenate([np.zeros(n), [1.0]])
    bounds = [(0, None)] * (2 * k) + [(None, None)] * f_idx.size + [(None, None)]
    result = linprog(cost, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs")
    return max(0.0, -float(result.fun)) if result.status == 0 else 0.0


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
        self.warn_if_cones_collapse()

    def _critical_epsilon(self, i):
        if not hasattr(self, "_critical"):
            self._critical = np.full(self.n_patterns, np.nan)
        if np.isnan(self._critical[i]):
            self._critical[i] = critical_epsilon(self.X, self.S[:, i], self.perturbed_mask)
        return self._critical[i]

    def critical_epsilons(self):
        """Per pattern, the largest epsilon at which its robust cone is not {0} (:func:`critical_epsilon`;
        the V and W blocks of a pattern share one cone). Each is computed once per program."""
        return np.array([self._critical_epsilon(i) for i in range(self.n_patterns)])

    def surviving_patterns(self, epsilon=None):
        """Number of patterns whose robust cone is not {0} at ``epsilon`` (default: the program's)."""
        epsilon = self.epsilon_value if epsilon is None else epsilon
        return int(np.count_nonzero(self.critical_epsilons() > epsilon))

    def any_cone_survives(self, epsilon=None):
        """True when some pattern's robust cone is not {0} at ``epsilon``; stops at the first one found."""
        epsilon = self.epsilon_value if epsilon is None else epsilon
        return any(self._critical_epsilon(i) > epsilon for i in range(self.n_patterns))

    def warn_if_cones_collapse(self):
        """Warn (:class:`CollapsedConesWarning`) when every robust cone is {0} at the program's epsilon: the
        zero network is then the optimum, whatever the data and beta; the message says how far epsilon
        would have to shrink for a pattern to survive. Returns True in that case only; when some but fewer
        than :data:`SURVIVING_SHARE` of the cones survive it warns :class:`FewConesSurviveWarning` and
        returns False."""
        if self.epsilon_value <= 0:
            return False
        if self.any_cone_survives():
            self._warn_if_few_cones_survive()
            return False
        largest = float(self.critical_epsilons().max(initial=0.0))
        shrink = (f"epsilon would have to shrink below {largest:.3g} ({self.epsilon_value / largest:.3g}x "
                  f"smaller) for one pattern to survive") if largest > 0 else "no pattern survives any epsilon > 0"
        warnings.warn(f"every robust cone is {{0}} at epsilon={self.epsilon_value:g} ({self.n_patterns} patterns): "
                      f"the zero network is this program's optimum; {shrink}", CollapsedConesWarning,
                      stacklevel=user_stacklevel())
        return True

    def _warn_if_few_cones_survive(self):
        """Count surviving cones, stopping once :data:`SURVIVING_SHARE` of the patterns are reached (the
        critical radii are cached), and warn when fewer survive."""
        needed = int(np.ceil(SURVIVING_SHARE * self.n_patterns))
        surviving = 0
        for i in range(self.n_patterns):
            surviving += bool(self._critical_epsilon(i) > self.epsilon_value)
            if surviving >= needed:
                return
        warnings.warn(f"only {surviving} of {self.n_patterns} robust cones are not {{0}} at "
                      f"epsilon={self.epsilon_value:g}: the program can use only those patterns; "
                      f"formulations.sample_robust_patterns or replace_collapsed_patterns draw patterns that "
                      f"survive this epsilon", FewConesSurviveWarning, stacklevel=user_stacklevel())

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
        """Per training point: certified robustly correct by the recovered network - the one sound rule of
        :meth:`formulations.network.ReLUNetwork.certified_robust`, the same that certifies test points
        (the convex model's own margin ``y yhat - eps |a|_1`` ignores the neurons recovery drops and
        certifies ties)."""
        return self.network(weights).certified_robust(self.X, self.y, self.epsilon_value, self.bias)

    def network_objective(self, weights):
        """Exact adversarial objective of the recovered network (closed form on eps-stable points)."""
        net = self.network(weights)
        return net.adversarial_objective(self.X, self.y, self.loss, self.beta_value, self.epsilon_value,
                                         self.bias, check=False)

    def describe(self):
        out = super().describe()
        out["epsilon"] = self.epsilon_value
        return out

