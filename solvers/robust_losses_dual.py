r"""The Lagrange-dual bound of the robust program with the squared or the logistic loss (docs/math.md 7.2),
and the pricing of patterns with it for :mod:`solvers.working_set`.

Program (original units, ``A = [V, W]``, ``Sigma_k = sum_j Dpm_kj a_j``, ``Pi`` the perturbed coordinates):

.. math::
    p^* = \min_A \sum_k h_k(\Sigma_k) + \beta \sum_j |a_j|_2
    \quad\text{s.t.}\quad S2_{kj}\, x_k^T a_j \ge \epsilon |\Pi a_j|_1 ,

with ``h_k(s) = f(g_k(s))``: squared ``f(z) = z^2 / 2`` (z >= 0) and ``g_k(s) = |x_k^T s - y_k| + eps |Pi
s|_1``; logistic ``f(z) = log(1 + e^z)`` and ``g_k(s) = -y_k x_k^T s + eps |Pi s|_1``. Both ``g_k`` are
suprema of affine functions, ``g_k(s) = max (sigma x_k + eps Pi u)^T s - sigma b_k`` over ``|u|_inf <= 1``
and ``sigma`` in ``[-1, 1]`` (squared, ``b = y``) or ``sigma = -y_k`` (logistic, ``b = 0``). Fenchel-Young
twice - ``f(z) >= q z - f^*(q)`` for ``q >= 0``, then ``q g_k(s) >= Y^T s - q sigma b_k`` for
``Y = q (sigma x_k + eps Pi u)`` - gives, for every **dual point** ``(nu, q, U)`` with

.. math::
    Y_k = \nu_k x_k + \epsilon q_k \Pi u_k,\quad |u_k|_\infty \le 1,\quad
    \text{squared: } |\nu_k| \le q_k,\quad \text{logistic: } \nu_k = -q_k y_k,\ q_k \in [0, 1],

the affine minorant ``h_k(s) >= Y_k^T s - psi_k`` with ``psi_k = q_k^2 / 2 + nu_k y_k`` (squared) or
``q_k log q_k + (1 - q_k) log(1 - q_k)`` (logistic). (The hinge is the case ``f(z) = max(0, 1 + z)``,
``psi_k = -q_k``: :mod:`solvers.admm.robust_polish`.) With cone multipliers ``lambda >= 0``,
``g_j = sum_k Dpm_kj Y_k - X^T (S2_j o lambda_j)`` and ``Lambda_j = sum_k lambda_kj``, the Lagrangian's
infimum over ``a_j`` is 0 when ``|soft_Pi(g_j, eps Lambda_j)|_2 <= beta`` and ``-inf`` otherwise, so

.. math::  p^* \ge -\sum_k \psi_k(t \nu_k, t q_k)\quad\text{for every } t \in [0, t_{max}],\quad
    t_{max} = \min(1, \beta / \max_j |soft_\Pi(g_j, \epsilon\Lambda_j)|_2)

(the conditions are homogeneous in ``(nu, q, lambda)``); :func:`robust_loss_bound` takes the best such t
(closed form for the squared loss, a bounded scalar search of the concave function for the logistic).
At the optimum ``Y_k`` is the gradient of ``h_k`` at ``Sigma_k`` and the bound is tight.
"""
from __future__ import annotations

import time

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import xlogy

from .admm.robust_polish import _price_block
from .core.dual import dual_scaling
from .core.operators import PatternMaps
from .core.prox import soft_threshold

__all__ = ["LOSSES", "normalise_dual_point", "slope_multipliers", "robust_loss_block_norms",
           "robust_loss_bound", "restore_cone_multipliers", "price_working_set"]

#: the losses of this bound (the hinge has its own, :mod:`solvers.admm.robust_polish`)
LOSSES = ("squared", "logistic")


def _check_loss(name):
    if name not in LOSSES:
        raise ValueError(f"the robust squared/logistic dual bound does not cover the {name} loss")


def normalise_dual_point(loss, y, nu, q, U, pmask):
    """The dual point ``(nu, q, U)`` moved into its domain (module docstring): ``U`` clipped to [-1, 1] and
    zero off ``Pi``; squared: ``q = max(q, |nu|)``; logistic: ``q`` clipped to [0, 1] and ``nu = -q y``."""
    _check_loss(loss)
    q = np.asarray(q, float)
    U = np.clip(np.asarray(U, float), -1.0, 1.0) * pmask[None, :]
    if loss == "squared":
        nu = np.asarray(nu, float)
        return nu, np.maximum(q, np.abs(nu)), U
    q = np.clip(q, 0.0, 1.0)
    return -q * y, q, U


def slope_multipliers(X, eps, nu, q, U):
    """``Y_k = nu_k x_k + eps q_k Pi u_k`` (n x d; ``U`` already zero off ``Pi``)."""
    return nu[:, None] * X + eps * q[:, None] * U


def _block_residuals(program, Y, lam):
    """``g_j = sum_k Dpm_kj Y_k - X^T (S2_j o lambda_j)`` (d x 2P) and the thresholds ``eps Lambda_j Pi``."""
    maps = PatternMaps(program.X, program.D)
    G = Y.T @ maps.Dpm - program.X.T @ (maps.S2 * lam)
    thr = program.epsilon_value * lam.sum(axis=0)[None, :] * program.perturbed_mask[:, None]
    return G, thr


def robust_loss_block_norms(program, Y, lam):
    """Per block, ``|soft_Pi(g_j, eps Lambda_j)|_2`` (dual feasible when at most beta); ``lam`` clipped at 0."""
    G, thr = _block_residuals(program, Y, np.maximum(np.asarray(lam, float), 0.0))
    return np.linalg.norm(soft_threshold(G, thr), axis=0)


def conjugate_sum(loss, y, nu, q):
    """``sum_k psi_k(nu_k, q_k)`` of the module docstring (the dual bound is its negative)."""
    _check_loss(loss)
    if loss == "squared":
        return float(0.5 * q @ q + nu @ y)
    return float(np.sum(xlogy(q, q) + xlogy(1.0 - q, 1.0 - q)))


def _best_scaling(loss, y, nu, q, t_max):
    """The ``t`` in ``[0, t_max]`` maximising the concave ``-sum psi(t nu, t q)``: squared in closed form
    (``t = -nu^T y / |q|^2``, clipped); logistic by a bounded scalar search, checked against ``t_max``."""
    if t_max <= 0.0:
        return 0.0
    if loss == "squared":
        qq = float(q @ q)
        return t_max if qq <= 0.0 else float(np.clip(-float(nu @ y) / qq, 0.0, t_max))
    found = minimize_scalar(lambda t: conjugate_sum(loss, y, t * nu, t * q), bounds=(0.0, t_max),
                            method="bounded", options={"xatol": 1e-12 * max(t_max, 1e-300)})
    t = float(np.clip(found.x, 0.0, t_max))
    return t if conjugate_sum(loss, y, t * nu, t * q) <= conjugate_sum(loss, y, t_max * nu, t_max * q) else t_max


def robust_loss_bound(program, nu, q, U, lam, free_blocks=None):
    """Lower bound ``-sum_k psi_k(t nu_k, t q_k)`` on the optimum of the robust squared or logistic program
    (module docstring) from any ``(nu, q, U)`` (moved into their domain first) and cone multipliers ``lam``
    (n x 2P, clipped at 0). ``free_blocks``: boolean 2P-mask of blocks whose cone is ``{0}`` (zero whatever
    the multipliers), left out of the maximum. Returns (bound, t)."""
    loss, y = program.loss.name, program.y
    nu, q, U = normalise_dual_point(loss, y, nu, q, U, program.perturbed_mask)
    Y = slope_multipliers(program.X, program.epsilon_value, nu, q, U)
    norms = robust_loss_block_norms(program, Y, lam)
    if free_blocks is not None:
        norms = np.where(free_blocks, 0.0, norms)
    t_max = dual_scaling(float(norms.max(initial=0.0)), program.beta_value)
    t = _best_scaling(loss, y, nu, q, t_max)
    return -conjugate_sum(loss, y, t * nu, t * q), t


def restore_cone_multipliers(program, Y, lam, free_blocks=None, deadline=None):
    r"""With ``Y`` fixed, re-price the cone multipliers of every block that is not dual feasible by the exact
    nonnegative least-squares fit with column generation of the robust hinge's pricing
    (``min_{lam >= 0} dist(g0_j - X^T (S2_j o lam), eps 1^T lam B_inf)``, ``g0_j = sum_k Dpm_kj Y_k``);
    a block keeps its old multipliers unless the new ones lower its norm. Blocks in ``free_blocks`` are left
    out; blocks not reached before ``deadline`` keep theirs. Returns a new ``lam``."""
    X, eps, beta, pmask = program.X, program.epsilon_value, program.beta_value, program.perturbed_mask
    maps = PatternMaps(X, program.D)
    lam = np.maximum(np.asarray(lam, float), 0.0).copy()
    norms = robust_loss_block_norms(program, Y, lam)
    bad = norms > beta
    if free_blocks is not None:
        bad &= ~free_blocks
    G0 = Y.T @ maps.Dpm
    for j in np.flatnonzero(bad):  # one small NNLS per dual-infeasible block
        if deadline is not None and time.perf_counter() > deadline:
            break
        lam_j = _price_block(G0[:, j], X.T * maps.S2[:, j][None, :], eps, pmask, beta)
        g_j = G0[:, j] - X.T @ (maps.S2[:, j] * lam_j)
        if np.linalg.norm(soft_threshold(g_j, eps * lam_j.sum() * pmask)) < norms[j]:
            lam[:, j] = lam_j
    return lam


def price_working_set(program, multipliers, working, outside, deadline=None, free_patterns=None):
    """Prices of the patterns ``outside`` of the working set and the bound on the full program, from the
    working set's dual point ``multipliers = (nu, q, U, lam)`` (``lam``: n x 2|working|, zero cone
    multipliers elsewhere): every dual-infeasible block re-priced (:func:`restore_cone_multipliers`), the
    price of a pattern the larger norm of its two blocks, the bound :func:`robust_loss_bound` - valid
    whatever pricing reached before ``deadline``. Returns (prices, bound)."""
    nu, q, U, lam_working = multipliers
    P, m = program.n_patterns, working.size
    lam = np.zeros((program.n, 2 * P))
    lam[:, working], lam[:, P + working] = lam_working[:, :m], lam_working[:, m:]
    free = np.zeros(2 * P, dtype=bool)
    if free_patterns is not None:
        free_patterns = np.asarray(free_patterns, dtype=int)
        free[free_patterns] = free[P + free_patterns] = True
    nu, q, U = normalise_dual_point(program.loss.name, program.y, nu, q, U, program.perturbed_mask)
    Y = slope_multipliers(program.X, program.epsilon_value, nu, q, U)
    lam = restore_cone_multipliers(program, Y, lam, free, deadline)
    norms = np.where(free, 0.0, robust_loss_block_norms(program, Y, lam))
    bound, _ = robust_loss_bound(program, nu, q, U, lam, free)
    return np.maximum(norms[outside], norms[P + outside]), bound
