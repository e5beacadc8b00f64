r"""Robust versions of the gated-ReLU and random-feature programs with the gates held FIXED
(docs/math.md 7.5).

Both programs are linear in their variables once the gates are frozen at the clean points. Per sample the
model is :math:`f_k = x_k^\top \Sigma_k` with

* robust gated (gates ``D``, variable ``U``, d x P): :math:`\Sigma_k = \sum_j D_{kj} u_j`;
* robust SCP (frozen directions ``H``, activations :math:`A = 1[XH \ge 0]`, variable ``theta``):
  :math:`\Sigma_k = \sum_j A_{kj} \theta_j h_j`.

Holding the gates (activations) at their clean values while the input moves by :math:`\delta`,
:math:`|\delta|_\infty \le \epsilon` on the perturbed coordinates :math:`\Pi` (all but the bias column), the
model is affine in :math:`\delta`: :math:`f_k(\delta) = f_k + \delta^\top \Pi \Sigma_k`, so the worst-case loss
is the loss at the worst margin, with slack :math:`\epsilon |\Pi\Sigma_k|_1`
(:meth:`formulations.losses.Loss.robust_cvx`):

.. math::
    \min\ \sum_k \ell_{\mathrm{worst}}(f_k, \epsilon|\Pi\Sigma_k|_1, y_k) + \beta \sum_j |u_j|_2
    \quad(\text{SCP: } + \beta|\theta|_1).

**What this bounds.** The objective is the exact adversarial loss of the *fixed-gate* model, whose gates
(activations) are evaluated at the clean point and do not move with the perturbation. It is neither an
upper nor a lower bound on the adversarial loss of the network these programs recover
(:class:`~formulations.network.GatedReLUNetwork` evaluates its gates at the perturbed input, the SCP's
:class:`~formulations.network.ReLUNetwork` its ReLUs): a perturbation may flip a gate and change the output
by more (or less) than the fixed-gate model allows. Unlike :mod:`formulations.robust`, there are no
robust cone constraints keeping the patterns eps-stable, so nothing ties the two together; the recovered
network's robustness must be measured separately, exactly by
:func:`solvers.baselines.exact_robustness.exact_robust_accuracy` (a MILP for both network types). The two
agree only at points where no gate can flip inside the ball (:math:`|x_k^\top g_j| \ge \epsilon|\Pi g_j|_1`
for every gate direction g_j in use).
"""
from __future__ import annotations

import cvxpy as cp
import numpy as np

from .gated import GatedReLUProgram
from .network import perturbation_mask, perturbed_columns
from .scp import SCPProgram
from .validation import check_epsilon


class _FixedGateRobustness:
    """The robust part both programs share: the ``epsilon`` parameter, the unperturbed bias column, the slopes
    :math:`\\Pi\\Sigma_k` (:meth:`slopes`, per program) and the worst-case loss built on them."""

    def _init_robust(self, epsilon, bias):
        self.bias = bool(bias)
        self.epsilon = cp.Parameter(nonneg=True, name="epsilon", value=check_epsilon(epsilon))
        if self.bias and not np.allclose(self.X[:, -1], 1.0):
            raise ValueError("bias=True needs the last column of X to be all ones")

    def _robust_problem(self, slopes_expression, penalty):
        """The CVXPY problem: summed worst-case loss with slack ``eps |slopes_k|_1`` plus beta * penalty."""
        self.slack = self.epsilon * cp.norm(slopes_expression, 1, axis=1)
        self.problem = cp.Problem(cp.Minimize(self.loss.robust_cvx(self.prediction, self.slack, self.y)
                                              + self.beta * penalty))

    @property
    def perturbed(self):
        """Columns of X that the adversary may perturb (all but the bias column)."""
        return perturbed_columns(self.d, self.bias)

    @property
    def perturbed_mask(self):
        return perturbation_mask(self.d, self.bias)

    @property
    def epsilon_value(self):
        return float(self.epsilon.value)

    def set_epsilon(self, epsilon):
        """Change epsilon in place; the compiled problem is reused at the next solve (DPP)."""
        self.epsilon.value = check_epsilon(epsilon)

    def slacks(self, weights):
        r""":math:`\epsilon |\Pi\Sigma_k|_1` per sample: how far the fixed-gate model's output can move."""
        return self.epsilon_value * np.abs(self.slopes(weights)).sum(axis=1)

    def loss_value(self, weights):
        """Summed worst-case loss of the fixed-gate model (closed form; exact, not a bound, for that model)."""
        return self.loss.robust_value(self.predictions(weights), self.slacks(weights), self.y)

    def network_objective(self, weights):
        """The recovered network's weight decay plus the fixed-gate worst-case loss of its neurons (the
        convex objective at the weights without the noise neurons): the network's value of this program's
        objective - not its adversarial loss with moving gates (module docstring)."""
        kept = self.significant_weights(weights)
        return self.loss_value(kept) + self.beta_value * self.network(weights).regularizer()

    def describe(self):
        out = super().describe()
        out["epsilon"] = self.epsilon_value
        return out


class RobustGatedReLUProgram(_FixedGateRobustness, GatedReLUProgram):
    r"""Robust gated-ReLU program on fixed gates ``D`` (n x P); variable ``U`` (d x P). Slopes
    :math:`\Pi\Sigma_k = \sum_j D_{kj}\Pi u_j` (rows of ``D @ U[Pi].T``). ``network`` returns the
    :class:`~formulations.network.GatedReLUNetwork` of the non-robust program (its gates move with the
    input: see the module docstring for what the objective does and does not bound)."""

    formulation = "robust_gated"

    def __init__(self, X, y, D, loss="hinge", beta=1.0, epsilon=0.0, bias=False, H=None, check_input=True):
        super().__init__(X, y, D, loss, beta, H=H, check_input=check_input)
        self._init_robust(epsilon, bias)
        self._robust_problem(self.D @ self.U[self.perturbed].T, cp.sum(cp.norm(self.U, 2, axis=0)))

    def slopes(self, weights):
        r""":math:`\Pi\Sigma_k = \sum_j D_{kj} \Pi u_j` as rows (n x d')."""
        return self.D @ np.asarray(weights["U"], float)[self.perturbed].T


class RobustSCPProgram(_FixedGateRobustness, SCPProgram):
    r"""Robust random-feature program on frozen unit directions ``H`` (d x N) with the activations
    :math:`A = 1[XH \ge 0]` fixed at the clean points; variable ``theta`` (N). Slopes
    :math:`\Pi\Sigma_k = \Pi H (A_k \circ \theta)`. ``network`` returns the
    :class:`~formulations.network.ReLUNetwork` of the non-robust program (its ReLUs move with the input)."""

    formulation = "robust_scp"

    def __init__(self, X, y, H, loss="hinge", beta=1.0, epsilon=0.0, bias=False, check_input=True):
        super().__init__(X, y, H, loss, beta, check_input=check_input)
        self.A = (self.X @ self.H >= 0).astype(float)
        self._init_robust(epsilon, bias)
        slopes = self.A @ cp.diag(self.theta) @ self.H[self.perturbed].T
        self._robust_problem(slopes, cp.norm1(self.theta))

    def slopes(self, weights):
        r""":math:`\Pi\Sigma_k = \Pi H (A_k \circ \theta)` as rows (n x d')."""
        return (self.A * np.asarray(weights["theta"], float)[None, :]) @ self.H[self.perturbed].T
