r"""The non-convex networks that convex solutions map to (docs/math.md sections 1, 3, 5 and 7).

* :class:`ReLUNetwork` - :math:`f(x) = \sum_j \max(0, x^\top u_j)\,\alpha_j`, trained objective
  ``loss(f(X), y) + (beta/2) * sum_j (|u_j|^2 + alpha_j^2)``. Recovered from a constrained convex solution
  by the square-root split (:meth:`ReLUNetwork.from_convex`), from an SCP solution by rescaling the frozen
  directions (:meth:`ReLUNetwork.from_random_features`).
* :class:`GatedReLUNetwork` - :math:`f(x) = \sum_j 1[x^\top g_j \ge 0]\,(x^\top u_j)\,\alpha_j` with fixed
  gates g_j, the model of the gated-ReLU program.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
import numpy as np

from .losses import get_loss
from .validation import check_beta, check_epsilon, check_matrix, check_X_y


def perturbed_columns(d, bias):
    """The input coordinates an l_inf adversary may move, as a slice of the d columns: all of them, except
    the last one when it is the bias (ones) column - the one place this rule is written."""
    return slice(0, d - 1) if bias else slice(0, d)


def perturbation_mask(d, bias):
    """:func:`perturbed_columns` as a boolean mask of length d."""
    mask = np.zeros(d, dtype=bool)
    mask[perturbed_columns(d, bias)] = True
    return mask


def _square_root_split(blocks, rel_tol):
    """Columns b_i of ``blocks`` (d x P) -> (u_i = b_i / sqrt|b_i|, sqrt|b_i|) for the kept columns.

    A column is kept when its norm exceeds ``rel_tol`` times the largest column norm.
    """
    norms = np.linalg.norm(blocks, axis=0)
    top = norms.max(initial=0.0)
    keep = np.flatnonzero(norms > rel_tol * top) if top > 0 else np.zeros(0, dtype=int)
    root = np.sqrt(norms[keep])
    return keep, blocks[:, keep] / root, root


class _TwoLayerNetwork(ABC):
    def __init__(self, U, alpha):
        self.U = check_matrix(U, "U") if np.size(U) else np.zeros((np.shape(U)[0], 0))
        self.alpha = np.array(alpha, dtype=float).reshape(-1)
        if self.alpha.shape[0] != self.U.shape[1]:
            raise ValueError(f"shape mismatch: U has {self.U.shape[1]} neurons but alpha has "
                             f"{self.alpha.shape[0]} entries")

    @property
    def width(self):
        return self.U.shape[1]

    @property
    def d(self):
        return self.U.shape[0]

    def _check_X(self, X):
        X = check_matrix(X, "X")
        if X.shape[1] != self.d:
            raise ValueError(f"shape mismatch: the network takes {self.d} features, X has {X.shape[1]}")
        return X

    def regularizer(self):
        """(1/2) * sum_j (|u_j|^2 + alpha_j^2)."""
        return 0.5 * (float(np.sum(self.U ** 2)) + float(np.sum(self.alpha ** 2)))

    def objective(self, X, y, loss, beta):
        """Non-convex training objective loss(f(X), y) + beta * regularizer (sum-form loss)."""
        X, y = check_X_y(X, y)
        loss = get_loss(loss)
        return loss.value(self.predict(X), y) + check_beta(beta) * self.regularizer()

    @abstractmethod
    def predict(self, X):
        """Network output f(x_k) for each row of X."""


class ReLUNetwork(_TwoLayerNetwork):
    r"""Two-layer ReLU network :math:`f(x) = \sum_j \max(0, x^\top u_j)\,\alpha_j`; U is d x m."""

    @classmethod
    def from_convex(cls, V, W, rel_tol=1e-8):
        r"""Square-root split (docs/math.md section 3): each nonzero v_i gives a neuron
        :math:`u = v_i/\sqrt{|v_i|}`, :math:`\alpha = +\sqrt{|v_i|}`; each nonzero w_i gives
        :math:`u = w_i/\sqrt{|w_i|}`, :math:`\alpha = -\sqrt{|w_i|}`. Blocks whose norm is at most
        ``rel_tol`` times the largest block norm (over V and W) are dropped."""
        V = np.asarray(V, float)
        W = np.asarray(W, float)
        blocks = np.hstack([V, W])
        keep, U, root = _square_root_split(blocks, rel_tol)
        sign = np.where(keep < V.shape[1], 1.0, -1.0)
        return cls(U, sign * root)

    @classmethod
    def from_random_features(cls, H, theta, rel_tol=0.0):
        r"""Network of the SCP program: unit directions h_j and output weights theta_j become
        :math:`u_j = h_j \sqrt{|\theta_j|}`, :math:`\alpha_j = \mathrm{sign}(\theta_j)\sqrt{|\theta_j|}`,
        so :math:`\max(0, x^\top u_j)\alpha_j = \theta_j \max(0, x^\top h_j)` and the weight decay equals
        :math:`\beta|\theta|_1`."""
        H = np.asarray(H, float)
        H = H / np.linalg.norm(H, axis=0)
        theta = np.asarray(theta, float).reshape(-1)
        top = np.abs(theta).max(initial=0.0)
        keep = np.flatnonzero(np.abs(theta) > rel_tol * top) if top > 0 else np.zeros(0, dtype=int)
        root = np.sqrt(np.abs(theta[keep]))
        return cls(H[:, keep] * root, np.sign(theta[keep]) * root)

    def hidden(self, X):
        return np.maximum(0.0, self._check_X(X) @ self.U)

    def predict(self, X):
        """f(X) = max(0, X U) alpha."""
        return self.hidden(X) @ self.alpha

    # -- adversarial evaluation (docs/math.md section 7) -------------------------------------------------
    def input_slopes(self, X, bias=False):
        r"""Gradient of f at each training point in the perturbed coordinates:
        :math:`a_k = \sum_j 1[x_k^\top u_j \ge 0]\,\alpha_j u_j` (bias coordinate excluded); n x d'."""
        X = self._check_X(X)
        active = (X @ self.U >= 0).astype(float)
        return (active * self.alpha) @ self.U[perturbed_columns(self.d, bias)].T

    def stable_mask(self, X, epsilon, bias=False, tol=1e-7):
        r"""Points whose activations cannot flip inside the l_inf ball of radius epsilon:
        :math:`|x_k^\top u_j| \ge \epsilon |u_j|_1` for every neuron (to ``tol``, relative).

        The shortfall is judged in output units, :math:`|\alpha_j|(\epsilon|u_j|_1 - |x_k^\top u_j|)`
        (what a flip can change f by), so solver-noise neurons (tiny alpha_j) do not fail the test."""
        X = self._check_X(X)
        epsilon = check_epsilon(epsilon)
        margin = np.abs(X @ self.U)
        radius = epsilon * np.abs(self.U[perturbed_columns(self.d, bias)]).sum(axis=0)
        weight = np.abs(self.alpha)
        scale = 1.0 + np.abs(X).max() * weight * np.abs(self.U).sum(axis=0)
        return np.all(weight * (radius - margin) <= tol * scale, axis=1)

    def worst_margin_bounds(self, X, y, epsilon, bias=False):
        r"""A lower bound on the worst-case margin :math:`\min_{|\delta|_\infty \le \epsilon} y_k f(x_k + \delta)` of
        every row, and the size of the terms it adds up (for the rounding allowance).

        A neuron whose pre-activation cannot change sign in the ball (:math:`|x^\top u_j| \ge \epsilon|u_{j,p}|_1`)
        is exactly affine or exactly zero there, so the active ones together contribute
        :math:`y\,a^\top x - \epsilon |a_p|_1` at worst, with :math:`a = \sum_j \alpha_j u_j`. Every other
        neuron - including solver-noise neurons - contributes :math:`y \alpha_j h` with ``h`` somewhere in
        :math:`[\max(0, x^\top u_j - \epsilon|u_{j,p}|_1),\ \max(0, x^\top u_j + \epsilon|u_{j,p}|_1)]`,
        counted at its worst end. The sum is a sound bound with no tolerance anywhere."""
        X, y = check_X_y(X, y)
        epsilon = check_epsilon(epsilon)
        p = perturbed_columns(self.d, bias)
        Z = X @ self.U
        radius = epsilon * np.abs(self.U[p]).sum(axis=0)
        on = Z >= radius
        unstable = np.abs(Z) < radius
        slopes = (on * self.alpha) @ self.U[p].T
        affine = y * np.sum(on * self.alpha * Z, axis=1) - epsilon * np.abs(slopes).sum(axis=1)
        low, high = np.maximum(0.0, Z - radius), np.maximum(0.0, Z + radius)
        weight = y[:, None] * self.alpha[None, :]
        interval = np.minimum(weight * low, weight * high)
        bound = affine + np.sum(np.where(unstable, interval, 0.0), axis=1)
        size = (np.abs(Z) + radius[None, :]) @ np.abs(self.alpha)
        return bound, size

    def certified_robust(self, X, y, epsilon, bias=False, rel_tol=1e-6):
        """Per row: True when no perturbation of l_inf size <= epsilon (bias column fixed) can flip the sign
        of y f(x): the sound lower bound of :meth:`worst_margin_bounds` exceeds ``rel_tol`` times the label
        scale (1) or the size of the network's terms at that point, whichever is larger - so neither a tie
        nor floating-point rounding is ever certified, and a network whose outputs are noise certifies
        nothing."""
        bound, size = self.worst_margin_bounds(X, y, epsilon, bias)
        return bound > rel_tol * np.maximum(1.0, size)

    def adversarial_losses(self, X, y, loss, epsilon, bias=False, check=True):
        """Per-sample worst-case loss over the l_inf ball, in closed form (exact on eps-stable points):
        the network is affine in the perturbation there with slope a_k (:meth:`input_slopes`)."""
        X, y = check_X_y(X, y)
        loss = get_loss(loss)
        epsilon = check_epsilon(epsilon)
        if check:
            stable = self.stable_mask(X, epsilon, bias)
            if not np.all(stable):
                raise ValueError(f"{int(np.sum(~stable))} training point(s) are not epsilon-stable "
                                 f"(an activation can flip inside the ball); the closed form is not exact")
        slack = epsilon * np.abs(self.input_slopes(X, bias)).sum(axis=1)
        return loss.robust_per_sample(self.predict(X), slack, y)

    def adversarial_objective(self, X, y, loss, beta, epsilon, bias=False, check=True):
        """Exact adversarial training objective sum_k max_{|delta|_inf<=eps} loss + beta * regularizer,
        valid when every training point is epsilon-stable (checked unless ``check=False``)."""
        total = float(np.sum(self.adversarial_losses(X, y, loss, epsilon, bias, check)))
        return total + check_beta(beta) * self.regularizer()

    def __repr__(self):
        return f"ReLUNetwork(d={self.d}, width={self.width})"


class GatedReLUNetwork(_TwoLayerNetwork):
    r"""Gated ReLU network :math:`f(x) = \sum_j 1[x^\top g_j \ge 0]\,(x^\top u_j)\,\alpha_j`.

    ``G`` (d x m) holds the gate directions; without them the network can only be evaluated on the
    training patterns (pass ``patterns``)."""

    def __init__(self, U, alpha, G=None):
        super().__init__(U, alpha)
        self.G = None if G is None else np.asarray(G, float)

    @classmethod
    def from_convex(cls, U, G=None, rel_tol=1e-8):
        """Square-root split of the gated program's blocks u_i; the gates follow the kept blocks."""
        keep, Unet, root = _square_root_split(np.asarray(U, float), rel_tol)
        net = cls(Unet, root, None if G is None else np.asarray(G, float)[:, keep])
        net.kept_patterns = keep
        return net

    def predict(self, X, patterns=None):
        """f(X); gates from ``G``, or the given 0/1 matrix ``patterns`` (n x m) for the kept neurons."""
        X = self._check_X(X)
        if patterns is None:
            if self.G is None:
                raise ValueError("this gated network has no gate directions; pass the training patterns")
            patterns = self._gates(X)
        return ((X @ self.U) * patterns) @ self.alpha

    # -- adversarial evaluation (docs/math.md section 7) -------------------------------------------------
    def _gates(self, X):
        if self.G is None:
            raise ValueError("this gated network has no gate directions; they are needed off the training patterns")
        return (X @ self.G >= 0).astype(float)

    def input_slopes(self, X, bias=False):
        r"""Gradient of f at each point in the perturbed coordinates, gates held:
        :math:`a_k = \sum_j 1[x_k^\top g_j \ge 0]\,\alpha_j u_j` (bias coordinate excluded); n x d'. A gate's
        jump has no gradient, so a signed-gradient attack sees only the linear parts."""
        X = self._check_X(X)
        return (self._gates(X) * self.alpha) @ self.U[perturbed_columns(self.d, bias)].T

    def worst_margin_bounds(self, X, y, epsilon, bias=False):
        r"""A sound lower bound on :math:`\min_{|\delta|_\infty \le \epsilon} y_k f(x_k + \delta)` per row, and
        the size of the terms it adds up. A neuron whose gate cannot switch in the ball
        (:math:`x^\top g_j \ge \epsilon |g_{j,p}|_1`: always on; :math:`x^\top g_j < -\epsilon|g_{j,p}|_1`:
        always off) is affine or zero there, and the always-on ones together contribute
        :math:`y\,a^\top x - \epsilon |a_p|_1` with :math:`a = \sum_j \alpha_j u_j`. A neuron whose gate can
        switch contributes :math:`y \alpha_j \cdot 0` or :math:`y \alpha_j\, x'^\top u_j` with
        :math:`x'^\top u_j \in [x^\top u_j - \epsilon|u_{j,p}|_1,\ x^\top u_j + \epsilon|u_{j,p}|_1]`, counted
        at its worst."""
        X, y = check_X_y(X, y)
        epsilon = check_epsilon(epsilon)
        p = perturbed_columns(self.d, bias)
        self._gates(X[:0])  # the gate directions are needed
        gate, linear = X @ self.G, X @ self.U
        gate_radius = epsilon * np.abs(self.G[p]).sum(axis=0)
        radius = epsilon * np.abs(self.U[p]).sum(axis=0)
        on = gate >= gate_radius
        switching = np.abs(gate) < gate_radius
        slopes = (on * self.alpha) @ self.U[p].T
        affine = y * np.sum(on * self.alpha * linear, axis=1) - epsilon * np.abs(slopes).sum(axis=1)
        weight = y[:, None] * self.alpha[None, :]
        worst = np.minimum(0.0, np.minimum(weight * (linear - radius), weight * (linear + radius)))
        bound = affine + np.sum(np.where(switching, worst, 0.0), axis=1)
        size = (np.abs(linear) + radius[None, :]) @ np.abs(self.alpha)
        return bound, size

    def certified_robust(self, X, y, epsilon, bias=False, rel_tol=1e-6):
        """Per row: True when the sound bound of :meth:`worst_margin_bounds` exceeds ``rel_tol`` times the
        label scale (1) or the size of the network's terms, whichever is larger (as for the ReLU network)."""
        bound, size = self.worst_margin_bounds(X, y, epsilon, bias)
        return bound > rel_tol * np.maximum(1.0, size)

    def __repr__(self):
        return f"GatedReLUNetwork(d={self.d}, width={self.width})"
