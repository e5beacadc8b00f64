r"""ADMM for the robust (l_inf adversarial) convex ReLU program with the hinge loss.

Problem (docs/math.md sections 2, 6 and 7). Variables ``A = [V, W]`` (d x 2P, columns a_j), ``Dpm = [D, -D]``,
``S2 = [S, S]`` (n x 2P), ``Pi`` the 0/1 mask of the perturbed coordinates (all but the bias column):

.. math::
    \min_A\ \sum_k \max(0,\ 1 - y_k x_k^T \Sigma_k + \epsilon |\Pi \circ \Sigma_k|_1)
    + \beta \sum_j |a_j|_2
    \quad\text{s.t.}\quad S2_j \circ (X a_j) \ge \epsilon |\Pi \circ a_j|_1\ \ (j = 1..2P),

where ``Sigma = Dpm A^T`` (n x d): row k is ``sum_j Dpm_kj a_j``, so ``yhat_k = x_k^T Sigma_k`` and the slope
of the (eps-stable) network at x_k is ``a_k = Pi o Sigma_k``.

Splits (scaled ADMM, one penalty rho; the prediction split carries the extra weight tau):

* ``Sigma = L A`` with ``L A := Dpm A^T`` - the loss enters only through a per-sample prox;
* ``b = A`` - group lasso, a group soft-threshold;
* ``(c, e) = (Q A, A)`` with ``Q A := sigma S2 o (X A)`` and the cone set
  ``K = {(c_j, e_j): c_j >= sigma eps |Pi o e_j|_1 1}`` per block - a Euclidean projection.

One iteration (:meth:`_RobustADMM.iterate`):

1. a-update, the normal equations
   ``tau L^T L a + 2 a + Q^T Q a = tau L^T(Sigma - U) + (b - mu) + (e - eta) + Q^T (c - kappa)``; as operators on
   the d x 2P array, ``L^T L A = A (Dpm^T Dpm)``, ``Q^T Q A = sigma^2 X^T X A``, so with the eigendecompositions
   ``X^T X = Ux diag(ex) Ux^T`` and ``Dpm^T Dpm = Ud diag(ed) Ud^T`` the operator is diagonal in the joint basis:
   ``A = Ux [(Ux^T R Ud) / (2 + sigma^2 ex_i + tau ed_j)] Ud^T`` - O(d^2 P + d P^2), rho does not enter;
2. ``Sigma = prox_{h / (rho tau)}(L a_hat + U)``, per sample (:func:`hinge_slack_prox`, exact);
3. ``b = `` group soft-threshold of ``a_hat + mu`` at ``beta / rho``;
4. ``(c, e) = Proj_K(Q a_hat + kappa, a_hat + eta)``, per block (:func:`project_robust_cones`, exact);
5. ``U += L a_hat - Sigma``, ``mu += a_hat - b``, ``kappa += Q a_hat - c``, ``eta += a_hat - e``,

with the over-relaxed ``a_hat = alpha a + (1 - alpha) z_old`` in each split (z = Sigma, b, c, e).

Data scaling: the solver works on ``Xs = X / sx`` (every column, the bias column included - there it is just a
constant feature), with ``eps_s = eps / sx``, ``beta_s = beta / sx`` and ``A = A_s / sx``: predictions,
slacks, cone constraints and objective are unchanged. Hinge labels are not scaled (the margin is 1).

Stopping: OSQP-style residuals (infinity norms, scaled problem), ``r_prim = max(|L a - Sigma|, |a - b|,
|Q a - c|, |a - e|) <= tol_abs + tol_rel * (size of those vectors)`` and ``r_dual = rho |tau L^T U + mu + eta +
Q^T kappa| <= tol_abs + tol_rel * (size of the terms)``; the z-updates make the dual variables exact
subgradients, so these two residuals are the whole KKT error. Never on objective change.

Setup LPs (:func:`cone_margins`, one small HiGHS LP per pattern): the most interior direction h_i of each
robust cone and its margin. A cone with margin 0 is ``{0}``: its blocks are pinned to zero (the b- and
e-proxes become the indicator of 0 for them), which the ADMM otherwise approaches very slowly.

Polish (:mod:`solvers.admm.robust_polish`): at check iterations the structure of the z-iterates (support
of b, zero coordinates and signs of e, cone rows the projection lifted, hinge pieces and slope signs of the
prox) is read off; once it has been unchanged for 3 checks (and polishing has used at most 20% of the
time, :class:`~solvers.admm.robust_polish.RobustPolishSchedule`) the reduced problem it fixes is solved by
equality-constrained Newton, re-read off the polished point and solved again (``polish_rounds``), and the
polished point gets a Lagrange-dual bound. A feasible polished point whose certified relative gap is
``<= tol_gap`` ends the run with status optimal. A feasible polished point that is not certified starts the
primal active-set descent (:func:`solvers.admm.robust_descent.descend`, ``descent=True``) for a slice of the
attempt's budget (``max(0.5 s, 10%`` of the elapsed time); the next attempt continues from where it ended if
that is lower); its certified points end the run the same way. The budgets are wall-clock times, so the
iteration at which a run is certified varies from run to run.

Returned point: among the polished point, the descent's last point and the iterates b, a and e, each
iterate also *repaired* (a violating block moves along its cone's interior direction,
``a_j + (v_j / m_j) h_j``, feasible by the triangle inequality, or is zeroed), the feasible one with the
lowest objective; if none is feasible to ``feas_tol`` the least violating one, with status
``optimal_inaccurate``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from formulations.robust import RobustReLUProgram

from ..core.blas import run_with_blas_threads
from ..core.dual import certified_gap
from ..core.log import IterationLog, record
from ..core.operators import ConeMaps
from ..core.options import (check_flags, check_int, check_option_names, check_positive, check_print_every,
                            check_rho_tolerance, keyword_signature, limit_reached, verbose_after,
                            warm_start_weights)
from ..core.prox import block_norms, group_soft, inf_norm, soft_threshold
from ..core.scaling import root_mean_scale
from ..result import finish_run
from .robust_descent import descend
from .robust_polish import (RobustPolishSchedule, RobustStructure, hinge_multipliers, polish_robust,
                            restore_dual_feasibility, robust_dual_bound)
from .schedules import Residuals, balanced_rho, initial_rho, pick_returned_point
from ..working_set import WorkingSetSchedule, patterns_in_use, scheduled_attempt

__all__ = ["admm_robust", "RobustADMMSettings", "hinge_slack_prox", "project_robust_cones", "RobustOperators"]

_NAME = "admm_robust"


# ------------------------------------------------------------------------------------------------------
# options
# ------------------------------------------------------------------------------------------------------
@dataclass
class RobustADMMSettings:
    r"""The options of :func:`admm_robust` and their defaults (validated in ``__post_init__``; a bad option is
    a ValueError naming ``admm_robust`` and the option).

    rho : initial penalty (scaled problem); None: ``sqrt(beta_s beta_max)``, ``beta_max = max_j |X^T(Dpm_j o
        y)|`` (the size of the loss gradient at A = 0).
    alpha : over-relaxation in (0, 2).
    tol_abs, tol_rel : OSQP-style residual tolerances (module docstring).
    feas_tol : cone violation accepted for the returned point, times ``max(1, |y|_inf)``.
    max_iter, time_limit : limits (time in seconds, None: none).
    verbose : True/False, or seconds after which the table (stderr) starts.
    adaptive_rho, adaptive_rho_tolerance : residual balancing when the normalised residuals differ by more
        than this factor (a rho change is free: rho does not enter the a-update).
    scaling : work on ``X / sx`` (``sx = |X|_F / sqrt(d)``).
    sigma : weight of Q (the cone rows); tau : weight of the prediction split (None: ``0.3 sigma^2 P /
        sum(D)``, which keeps ``tau L^T L`` and ``Q^T Q`` of one size on the scaled data); omega : weight of
        the cone split (c, e).
    check_every, print_every : residual / history / rho cadence and table cadence (None: about every 50
        iterations).
    pin_empty_cones : fix blocks whose robust cone is {0} to zero (setup LPs).
    polish : try the active-set polish (module docstring); tol_gap : certified relative gap that ends the
        run; polish_rounds : Newton solves per attempt (the structure re-read off the previous one).
    descent : when a polished point is feasible but not certified, continue within the attempt's budget with
        the primal active-set descent (:func:`solvers.admm.robust_descent.descend`) from it.
    working_set, working_set_after : the second-order polish on the working set of patterns
        (:mod:`solvers.working_set` with :mod:`solvers.ipm_robust`) after this many iterations, then after
        4x as many each time, and once at the end of a run that nothing certified (only with ``polish``).
    """

    rho: Optional[float] = None
    alpha: float = 1.6
    tol_abs: float = 1e-8
    tol_rel: float = 1e-7
    feas_tol: float = 1e-9
    max_iter: int = 50000
    time_limit: Optional[float] = None
    verbose: Any = False
    adaptive_rho: bool = True
    adaptive_rho_tolerance: float = 5.0
    scaling: bool = True
    sigma: float = 3.0
    tau: Optional[float] = None
    check_every: int = 10
    print_every: Optional[int] = None
    pin_empty_cones: bool = True
    omega: float = 1.0
    polish: bool = True
    tol_gap: float = 1e-6
    polish_rounds: int = 3
    descent: bool = True
    working_set: bool = True
    working_set_after: int = 1000
    verbose_after: Optional[float] = field(init=False, default=None, repr=False)

    def __post_init__(self):
        positive = self._positive
        self.alpha = positive("alpha", self.alpha, upper=2.0, upper_closed=False)
        self.tol_abs = positive("tol_abs", self.tol_abs)
        self.tol_rel = positive("tol_rel", self.tol_rel)
        self.feas_tol = positive("feas_tol", self.feas_tol)
        self.rho = positive("rho", self.rho, allow_none=True)
        self.sigma = positive("sigma", self.sigma)
        self.tau = positive("tau", self.tau, allow_none=True)
        self.omega = positive("omega", self.omega)
        self.adaptive_rho_tolerance = check_rho_tolerance(_NAME, self.adaptive_rho_tolerance)
        self.time_limit = positive("time_limit", self.time_limit, allow_none=True)
        self.max_iter = check_int(_NAME, "max_iter", self.max_iter, minimum=0)
        self.check_every = check_int(_NAME, "check_every", self.check_every)
        self.print_every = check_print_every(_NAME, self.print_every, self.check_every)
        self.tol_gap = positive("tol_gap", self.tol_gap)
        self.polish_rounds = check_int(_NAME, "polish_rounds", self.polish_rounds)
        self.working_set_after = check_int(_NAME, "working_set_after", self.working_set_after)
        check_flags(_NAME, adaptive_rho=self.adaptive_rho, scaling=self.scaling,
                    pin_empty_cones=self.pin_empty_cones, polish=self.polish, descent=self.descent,
                    working_set=self.working_set)
        self.verbose_after = verbose_after(_NAME, self.verbose)

    @staticmethod
    def _positive(name, value, allow_none=False, upper=None, upper_closed=True):
        return check_positive(_NAME, name, value, allow_none, upper, upper_closed)


def _check_program(program):
    if not isinstance(program, RobustReLUProgram):
        form = getattr(program, "formulation", None)
        raise ValueError("the admm_robust solver supports the robust ReLU program (formulation 'robust'); got "
                         f"{type(program).__name__}{' (' + form + ')' if form else ''}")
    if program.loss.name != "hinge":
        raise ValueError(f"the admm_robust solver supports the hinge loss; got {program.loss.name}")


# ------------------------------------------------------------------------------------------------------
# step 2: the per-sample prox of the worst-case hinge
# ------------------------------------------------------------------------------------------------------
def _slack_phi(S0, Wy, eps, pmask, theta):
    """phi(theta) = g(prox_{theta g}(s0)) for every row, and the prox point (rows of S0)."""
    U = S0 + theta[:, None] * Wy
    S = U.copy()
    if eps > 0:
        S[:, pmask] = soft_threshold(U[:, pmask], theta[:, None] * eps)
    phi = 1.0 - np.einsum("ij,ij->i", Wy, S) + eps * np.abs(S[:, pmask]).sum(axis=1)
    return phi, S


def hinge_slack_prox(S0, Wy, eps, pmask, t, return_pieces=False):
    r"""Row-wise prox of the worst-case hinge: ``argmin_s h_k(s) + |s - s0_k|^2 / (2 t)`` with
    ``h_k(s) = max(0, g_k(s))``, ``g_k(s) = 1 - wy_k^T s + eps |Pi o s|_1`` (``wy_k = y_k x_k``).

    If ``g(s0) <= 0`` the prox is s0. Otherwise it is ``s(theta) = prox_{theta g}(s0)`` (soft-threshold of
    ``s0 + theta wy`` at ``theta eps`` on the perturbed coordinates, a shift on the others) with theta = t if
    ``phi(t) = g(s(t)) >= 0``, else the root of the nonincreasing piecewise-linear ``phi`` in [0, t]
    (:func:`_slack_root`). No loop over samples.

    ``S0``, ``Wy``: n x d; ``pmask``: boolean d-vector; ``t > 0`` scalar. Returns the n x d prox, and with
    ``return_pieces`` also the boolean n-vectors ``below`` (``g > 0`` at the prox: loss linear) and ``kink``
    (``g = 0``: the root case); the other rows have ``g <= 0`` (loss zero).
    """
    S0 = np.asarray(S0, float)
    out = S0.copy()
    below, kink = np.zeros(S0.shape[0], bool), np.zeros(S0.shape[0], bool)
    g0 = 1.0 - np.einsum("ij,ij->i", Wy, S0) + eps * np.abs(S0[:, pmask]).sum(axis=1)
    rows = np.flatnonzero(g0 > 0)
    if rows.size:
        phi_t, St = _slack_phi(S0[rows], Wy[rows], eps, pmask, np.full(rows.size, float(t)))
        done = phi_t >= 0
        out[rows[done]] = St[done]
        below[rows[phi_t > 0]] = True
        kink[rows[phi_t == 0]] = True
        roots = rows[~done]
        kink[roots] = True
        if roots.size:
            out[roots] = _slack_root(S0[roots], Wy[roots], eps, pmask, t)
    return (out, below, kink) if return_pieces else out


def _slack_root(s0, wy, eps, pmask, t):
    r"""``s(theta)`` at the root of ``phi`` in (0, t) for rows with ``phi(0) > 0 > phi(t)``. The kinks of phi
    are known in closed form (a coordinate of s(theta) enters or leaves zero at ``theta = s0_i / (eps - wy_i)``
    or ``theta = -s0_i / (eps + wy_i)``): they are sorted per row, the bracketing pair is found by a
    vectorised binary search, and the root by linear interpolation on that kink-free piece (exact up to
    rounding)."""
    m = s0.shape[0]
    if eps > 0:                                 # kinks of phi in (0, t), padded with the end points 0 and t
        sp, wp = s0[:, pmask], wy[:, pmask]
        with np.errstate(divide="ignore", invalid="ignore"):
            kinks = np.concatenate([sp / (eps - wp), -sp / (eps + wp)], axis=1)
        kinks = np.where(np.isfinite(kinks) & (kinks > 0) & (kinks < t), kinks, t)
    else:
        kinks = np.empty((m, 0))
    grid = np.concatenate([np.zeros((m, 1)), kinks, np.full((m, 1), float(t))], axis=1)
    grid.sort(axis=1)
    rows = np.arange(m)
    lo = np.zeros(m, dtype=int)
    hi = np.full(m, grid.shape[1] - 1, dtype=int)
    while np.any(hi - lo > 1):                  # invariant: phi(grid[lo]) >= 0 > phi(grid[hi])
        open_ = hi - lo > 1
        mid = (lo + hi) // 2
        phi_mid, _ = _slack_phi(s0, wy, eps, pmask, grid[rows, mid])
        lo = np.where(open_ & (phi_mid >= 0), mid, lo)
        hi = np.where(open_ & (phi_mid < 0), mid, hi)
    left, right = grid[rows, lo], grid[rows, hi]
    phi_left, _ = _slack_phi(s0, wy, eps, pmask, left)
    phi_right, _ = _slack_phi(s0, wy, eps, pmask, right)
    denom = phi_left - phi_right
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = np.where(denom > 0, left + phi_left * (right - left) / denom, left)
    _, S = _slack_phi(s0, wy, eps, pmask, np.clip(theta, left, right))
    return S


# ------------------------------------------------------------------------------------------------------
# step 4: projection onto the robust cone set, per block
# ------------------------------------------------------------------------------------------------------
def project_robust_cones(C0, E0, weights, max_newton=100):
    r"""Euclidean projection of every block (column j) of ``(C0, E0)`` onto
    ``K = {(c, e): c_k >= sum_i w_i |e_i| for every k}`` (``C0``: n x J, ``E0``: d x J, ``w >= 0``: d-vector;
    ``w = sigma eps Pi`` for the robust cone). Not :func:`solvers.core.operators.project_cones`, which
    projects a point onto the (non-robust) pattern cones.

    Optimality: ``e = soft(e0, mu w)`` (coordinate i thresholded at ``mu w_i``), ``t = sum_i w_i |e_i|``,
    ``c = max(c0, t)``, where ``mu >= 0`` is the root of ``psi(mu) = sum_k (t(mu) - c0_k)_+ - mu``
    (:func:`_cone_multipliers`). ``psi(0) <= 0``: the block is feasible (``mu = 0``). Past ``mu_max = max_i
    |e0_i| / w_i`` the weighted coordinates of e are zero and ``c = max(c0, 0)``.

    Returns (C, E, mu).
    """
    C0 = np.asarray(C0, float)
    E0 = np.asarray(E0, float)
    w = np.asarray(weights, float)
    mu = np.zeros(C0.shape[1])
    on = w > 0
    if not np.any(on):
        return np.maximum(C0, 0.0), E0.copy(), mu
    absE = np.abs(E0)
    t0 = w @ absE
    psi0 = np.maximum(t0[None, :] - C0, 0.0).sum(axis=0)
    active = np.flatnonzero(psi0 > 0)
    if active.size == 0:
        return C0.copy(), E0.copy(), mu
    wo = w[on]
    mu_max = (absE[on][:, active] / wo[:, None]).max(axis=0)
    psi_max = np.maximum(-C0[:, active], 0.0).sum(axis=0) - mu_max
    zero = psi_max >= 0                          # the root lies past mu_max: e's weighted part vanishes
    zcols = active[zero]
    if zcols.size:
        mu[zcols] = np.maximum(np.maximum(-C0[:, zcols], 0.0).sum(axis=0), mu_max[zero])
    cols = active[~zero]
    if cols.size:
        mu[cols] = _cone_multipliers(absE[on][:, cols], C0[:, cols], wo, t0[cols], max_newton)
    E = soft_threshold(E0, mu[None, :] * w[:, None])
    t = w @ np.abs(E)
    return np.maximum(C0, t[None, :]), E, mu


def _cone_multipliers(abs_e, c0, wo, t0, max_newton):
    r"""The roots ``mu`` of ``psi(mu) = sum_k (t(mu) - c0_k)_+ - mu`` for the blocks (columns) given, with
    ``t(mu) = sum_i w_i (|e0_i| - mu w_i)_+`` (``abs_e``: the weighted coordinates' ``|e0|``, ``wo`` their
    weights). psi is convex (a nondecreasing convex function of the convex ``t(mu)``), piecewise linear and
    strictly decreasing, so Newton's method from ``mu = 0`` with right derivatives never overshoots and
    reaches the root in finitely many steps (one per piece crossed at most); blocks are processed together."""
    w2 = (wo ** 2)[:, None]
    mu = np.zeros(abs_e.shape[1])
    idx = np.arange(abs_e.shape[1])
    scale = np.maximum(1.0, np.abs(c0).max(axis=0) + t0)
    for _ in range(max_newton):
        mc = mu[idx]
        rem = abs_e[:, idx] - mc[None, :] * wo[:, None]
        pos = rem > 0
        t = (wo[:, None] * np.where(pos, rem, 0.0)).sum(axis=0)
        gap = t[None, :] - c0[:, idx]
        psi = np.maximum(gap, 0.0).sum(axis=0) - mc
        conv = psi <= 1e-15 * scale[idx]
        dpsi = (gap > 0).sum(axis=0) * -(w2 * pos).sum(axis=0) - 1.0
        new = mc + np.where(conv, 0.0, -psi / dpsi)
        stalled = new <= mc
        mu[idx] = new
        idx = idx[~(conv | stalled)]
        if idx.size == 0:
            break
    return mu


# ------------------------------------------------------------------------------------------------------
# the linear maps and the a-update
# ------------------------------------------------------------------------------------------------------
class RobustOperators(ConeMaps):
    r"""The maps of the splits on the (scaled) data and the diagonalised a-update, on the pattern arrays
    ``Dpm``, ``S2`` and the cone map ``Q`` of :class:`~solvers.core.operators.ConeMaps`.

    ``L A = Dpm A^T`` (n x d), ``L^T Z = Z^T Dpm`` (d x 2P), ``Q A = sigma S2 o (X A)`` (n x 2P),
    ``Q^T C = sigma X^T (S2 o C)``; :meth:`solve` applies ``(tau L^T L + (1 + omega) I + omega Q^T Q)^{-1}``."""

    def __init__(self, X, D, sigma=1.0, tau=1.0, omega=1.0):
        super().__init__(np.ascontiguousarray(X, dtype=float), D, sigma)
        self.tau = float(tau)
        self.omega = float(omega)
        self.ex, self.Ux = np.linalg.eigh(self.XT @ self.X)
        self.ex = np.maximum(self.ex, 0.0)
        self.ed, self.Ud = np.linalg.eigh(self.Dpm.T @ self.Dpm)
        self.ed = np.maximum(self.ed, 0.0)
        self.UxT = np.ascontiguousarray(self.Ux.T)
        self.UdT = np.ascontiguousarray(self.Ud.T)
        self.set_tau(tau)

    def set_tau(self, tau):
        self.tau = float(tau)
        self.inv_den = 1.0 / (1.0 + self.omega * (1.0 + self.sigma ** 2 * self.ex[:, None])
                              + self.tau * self.ed[None, :])

    def L(self, A):
        return self.Dpm @ A.T

    def LT(self, Z):
        return Z.T @ self.Dpm

    def solve(self, R):
        """``(tau L^T L + (1 + omega) I + omega Q^T Q)^{-1} R`` for a d x 2P right-hand side."""
        return self.Ux @ (((self.UxT @ R) @ self.Ud) * self.inv_den) @ self.UdT

    def apply(self, A):
        """The operator itself (for tests): ``tau A Dpm^T Dpm + (1 + omega) A + omega sigma^2 X^T X A``."""
        return (self.tau * A @ (self.Dpm.T @ self.Dpm) + (1.0 + self.omega) * A
                + self.omega * self.sigma ** 2 * (self.XT @ (self.X @ A)))

    def dense_matrix(self):
        """The operator as a dense (2P d) x (2P d) matrix on vec(A) (column-major blocks), built from the
        definitions of L and Q block by block (tests only: tiny sizes)."""
        d, J, n = self.d, 2 * self.P, self.n
        Lm = np.zeros((n * d, J * d))   # vec of Sigma (row-major n x d) from stacked a_j
        Qm = np.zeros((n * J, J * d))   # stacked c_j from stacked a_j
        for j in range(J):
            for k in range(n):
                Lm[k * d:(k + 1) * d, j * d:(j + 1) * d] = self.Dpm[k, j] * np.eye(d)
            Qm[j * n:(j + 1) * n, j * d:(j + 1) * d] = self.sigma * self.S2[:, j:j + 1] * self.X
        return self.tau * Lm.T @ Lm + (1.0 + self.omega) * np.eye(J * d) + self.omega * Qm.T @ Qm


# ------------------------------------------------------------------------------------------------------
# the robust cones: interior directions (setup) and the final repair
# ------------------------------------------------------------------------------------------------------
def cone_margins(X, S, eps, pmask):
    r"""For every pattern i, the LP ``max m  s.t.  S_i o (X h) - eps |Pi o h|_1 >= m,  |h|_inf <= 1``.

    Returns (margins (P,), H (d x P)): ``m_i > 0`` means the robust cone of pattern i has an interior and
    ``h_i`` is a strictly feasible direction; ``m_i = 0`` means the cone is ``{0}`` (every block of the
    pattern must be zero). V- and W-blocks of a pattern share the cone. One small HiGHS LP per pattern."""
    from scipy.optimize import linprog
    X = np.asarray(X, float)
    n, d = X.shape
    dp = int(pmask.sum())
    I = np.eye(d)[pmask]
    A2 = np.vstack([np.hstack([I, -np.eye(dp), np.zeros((dp, 1))]),
                    np.hstack([-I, -np.eye(dp), np.zeros((dp, 1))])])
    c = np.zeros(d + dp + 1)
    c[-1] = -1.0
    bounds = [(-1.0, 1.0)] * d + [(0.0, None)] * dp + [(None, None)]
    b = np.zeros(n + 2 * dp)
    P = S.shape[1]
    margins = np.zeros(P)
    H = np.zeros((d, P))
    for i in range(P):  # P independent LPs (setup only)
        A1 = np.hstack([-S[:, i:i + 1] * X, eps * np.ones((n, dp)), np.ones((n, 1))])
        res = linprog(c, A_ub=np.vstack([A1, A2]), b_ub=b, bounds=bounds, method="highs")
        if res.status == 0:
            h = res.x[:d]
            # the exact margin of the returned direction (not the LP's own value)
            m = float(np.min(S[:, i] * (X @ h)) - eps * np.abs(h[pmask]).sum())
            if m > 0:
                margins[i], H[:, i] = m, h
    return margins, H


def _block_violations(X, S2, eps, pmask, A):
    """Per block: max_k (eps |Pi a_j|_1 - S2_kj x_k^T a_j)_+ (original units)."""
    radius = eps * np.abs(A[pmask]).sum(axis=0)
    return np.maximum(0.0, radius[None, :] - S2 * (X @ A)).max(axis=0, initial=0.0)


def _repair(X, S2, eps, pmask, A, margins2, H2, feas_abs):
    """Make every block of A (original units) satisfy its robust cone to ``feas_abs``: a violating block
    moves along its pattern's interior direction, ``a_j + (v_j / m_j) h_j`` (feasible by the triangle
    inequality: the violation drops by at least s m_j), or is zeroed if the cone has no interior or the
    move does not help. Returns the repaired copy."""
    A = A.copy()
    viol = _block_violations(X, S2, eps, pmask, A)
    bad = viol > feas_abs
    if not np.any(bad):
        return A
    can = bad & (margins2 > 0)
    step = np.where(can, viol * (1.0 + 1e-6) / np.where(margins2 > 0, margins2, 1.0), 0.0)
    A[:, can] += H2[:, can] * step[can]
    still = _block_violations(X, S2, eps, pmask, A) > feas_abs
    A[:, still | (bad & ~can)] = 0.0
    return A


def _objective_s(F, ys, Wy, eps_s, beta_s, pmask, A):
    """Objective of the scaled problem at A (equal to the original objective at A / sx)."""
    Sig = F.L(A)
    marg = 1.0 - np.einsum("ij,ij->i", Wy, Sig) + eps_s * np.abs(Sig[:, pmask]).sum(axis=1)
    return float(np.maximum(marg, 0.0).sum()) + beta_s * float(block_norms(A).sum())


# ------------------------------------------------------------------------------------------------------
# the solver
# ------------------------------------------------------------------------------------------------------
_COLUMNS = [("iter", 6), ("objective", 14), ("prim res", 10), ("dual res", 10), ("rho", 10), ("time", 9)]
_HISTORY = ("iteration", "objective", "primal_residual", "dual_residual", "rho", "time")


class _RobustADMM:
    """One run of the robust ADMM (module docstring): setup, the steps of an iteration, the checks (residuals,
    stopping, polish, rho balancing) and the returned point. Iterates in scaled units: ``A`` (a), ``Sigma``,
    ``B`` (b), ``C``, ``E`` (c, e); scaled duals ``U``, ``Mu``, ``Kappa``, ``Eta``."""

    # -- setup ------------------------------------------------------------------------------------------
    def __init__(self, program, settings, warm_start, t_start):
        self.program, self.opts, self.t_start = program, settings, t_start
        self._setup_data()
        self._setup_cones()
        self.rho = settings.rho if settings.rho is not None else self._default_rho()
        self.setup_time = time.perf_counter() - t_start
        self._start_iterates(warm_start)
        self.it, self.r_p, self.r_d = 0, np.inf, np.inf
        self.history = {key: [] for key in _HISTORY}
        self.info = {"setup_time_s": self.setup_time, "cone_lp_time_s": self.lp_time,
                     "pinned_blocks": int(self.pinned.sum()), "scale_x": self.sx, "rho_initial": self.rho,
                     "rho_updates": 0, "alpha": settings.alpha, "sigma": settings.sigma, "tau": self.F.tau,
                     "polish_attempts": 0, "polish_time_s": 0.0, "descent_time_s": 0.0}
        self.log = IterationLog(_NAME, _COLUMNS, settings.verbose_after)
        self.schedule = RobustPolishSchedule()
        self.working_set_schedule = WorkingSetSchedule(settings.working_set_after)
        self.best_polished = None      # the feasible polished point with the lowest objective
        self.best_bound = -np.inf      # the best certified lower bound of any polish (the robust dual)
        self.descent_point = None      # (A, objective) where the last descent ended

    def _setup_data(self):
        """Scaled data (module docstring), the operators and the cone weights ``sigma eps_s Pi``."""
        program, opts = self.program, self.opts
        X = program.X
        self.P = program.n_patterns
        self.eps, self.beta = program.epsilon_value, program.beta_value
        self.pmask = program.perturbed_mask
        self.sx = float(root_mean_scale(X, X.shape[1])) if opts.scaling else 1.0
        Xs = X / self.sx
        self.eps_s, self.beta_s = self.eps / self.sx, self.beta / self.sx
        tau = opts.tau
        if tau is None:
            # balance the prediction split against the cone rows: tau mean(eig(L^T L)) = 0.3 sigma^2 mean(eig(
            # Xs^T Xs)), where mean(eig(Dpm^T Dpm)) = sum(D) / P and the scaled data have mean(eig(Xs^T Xs)) = 1
            tau = 0.3 * opts.sigma ** 2 / max(float(program.D.sum()) / self.P, 1e-12)
        self.F = RobustOperators(Xs, program.D, opts.sigma, tau, opts.omega)
        self.Wy = program.y[:, None] * Xs
        self.cone_w = opts.sigma * self.eps_s * self.pmask.astype(float)
        self.feas_abs = opts.feas_tol * max(1.0, inf_norm(program.y))

    def _setup_cones(self):
        """Interior directions of the robust cones (original units); the blocks whose cone is {0} are pinned."""
        t_lp = time.perf_counter()
        margins, H = cone_margins(self.program.X, self.program.S, self.eps, self.pmask)
        self.margins2, self.H2 = np.concatenate([margins, margins]), np.hstack([H, H])
        self.pinned = (self.margins2 <= 0) if self.opts.pin_empty_cones else np.zeros(2 * self.P, dtype=bool)
        self.any_pinned = bool(np.any(self.pinned))
        self.lp_time = time.perf_counter() - t_lp

    def _default_rho(self):
        """``sqrt(beta_s max(beta_max, beta_s))``, ``beta_max = max_j |X^T (Dpm_j o y)|`` (scaled data;
        :func:`~solvers.admm.schedules.initial_rho`)."""
        return initial_rho(self.beta_s, self.F.LT(self.Wy))

    def _start_iterates(self, warm_start):
        F = self.F
        if warm_start is not None:
            self.A = self.sx * np.hstack([warm_start["V"], warm_start["W"]])
        else:
            self.A = np.zeros((F.d, 2 * self.P))
        self.Sigma = F.L(self.A)
        self.B = self.A.copy()
        self.C, self.E, _ = project_robust_cones(F.Q(self.A), self.A, self.cone_w)
        self.U = np.zeros_like(self.Sigma)
        self.Mu = np.zeros_like(self.A)
        self.Kappa = np.zeros_like(self.C)
        self.Eta = np.zeros_like(self.A)

    # -- the loop -----------------------------------------------------------------------------------------
    def run(self):
        opts = self.opts
        self.intro = self._intro()
        self.log.active(0.0, self.intro)
        while True:
            status = limit_reached(self.it, opts.max_iter, opts.time_limit, self.t_start)
            if status is not None:
                break
            self.it += 1
            self.iterate()
            if self.it % opts.check_every == 0 or self.it == 1:
                status = self.check()
                if status is not None:
                    break
        return self.finish(status)

    def iterate(self):
        """One ADMM iteration: steps 1-5 of the module docstring."""
        self.update_a()
        LAh, Ab, QAh, Ae = self.over_relax()
        self.update_slopes(LAh)
        self.update_group_lasso(Ab)
        self.update_cones(QAh, Ae)
        self.update_duals(LAh, Ab, QAh, Ae)

    # -- the steps of one iteration -------------------------------------------------------------------------
    def update_a(self):
        """Step 1: the diagonalised normal equations; keeps ``L a`` and ``Q a`` for the residuals."""
        F = self.F
        R = (F.tau * F.LT(self.Sigma - self.U) + (self.B - self.Mu)
             + F.omega * ((self.E - self.Eta) + F.QT(self.C - self.Kappa)))
        self.A = F.solve(R)
        self.LA = F.L(self.A)
        self.QA = F.Q(self.A)

    def over_relax(self):
        """``a_hat = alpha a + (1 - alpha) z_old`` in each split: (L a_hat, a_hat for b, Q a_hat, a_hat for e)."""
        alpha = self.opts.alpha
        a1 = 1.0 - alpha
        return (alpha * self.LA + a1 * self.Sigma, alpha * self.A + a1 * self.B,
                alpha * self.QA + a1 * self.C, alpha * self.A + a1 * self.E)

    def update_slopes(self, LAh):
        """Step 2: the worst-case hinge prox per sample; keeps its pieces for the polish."""
        self.Sigma, self.below, self.kink = hinge_slack_prox(
            LAh + self.U, self.Wy, self.eps_s, self.pmask, 1.0 / (self.rho * self.F.tau), return_pieces=True)

    def update_group_lasso(self, Ab):
        """Step 3: group soft-threshold; the pinned blocks (cone {0}) stay at zero."""
        self.B = group_soft(Ab + self.Mu, self.beta_s / self.rho)
        if self.any_pinned:
            self.B[:, self.pinned] = 0.0

    def update_cones(self, QAh, Ae):
        """Step 4: projection onto the robust cones; a pinned block's set is ``{(c, 0): c >= 0}``."""
        self.C0 = QAh + self.Kappa
        self.C, self.E, _ = project_robust_cones(self.C0, Ae + self.Eta, self.cone_w)
        if self.any_pinned:
            self.E[:, self.pinned] = 0.0
            self.C[:, self.pinned] = np.maximum(self.C0[:, self.pinned], 0.0)

    def update_duals(self, LAh, Ab, QAh, Ae):
        """Step 5: the scaled dual updates."""
        self.U += LAh - self.Sigma
        self.Mu += Ab - self.B
        self.Kappa += QAh - self.C
        self.Eta += Ae - self.E

    # -- checks -------------------------------------------------------------------------------------------
    def residuals(self):
        """Primal and dual residuals and their scales (module docstring, infinity norms)."""
        F = self.F
        LTU = F.tau * F.LT(self.U)
        QTK = F.omega * F.QT(self.Kappa)
        return Residuals(
            primal=max(inf_norm(self.LA - self.Sigma), inf_norm(self.A - self.B), inf_norm(self.QA - self.C),
                       inf_norm(self.A - self.E)),
            dual=self.rho * inf_norm(LTU + self.Mu + F.omega * self.Eta + QTK),
            primal_scale=max(inf_norm(self.LA), inf_norm(self.Sigma), inf_norm(self.A), inf_norm(self.B),
                             inf_norm(self.QA), inf_norm(self.C), inf_norm(self.E)),
            dual_scale=self.rho * max(inf_norm(LTU), inf_norm(self.Mu), F.omega * inf_norm(self.Eta), inf_norm(QTK)))

    def check(self):
        """Residuals, history and table row; then stopping, polish and rho balancing. Returns a status to
        stop with, or None."""
        opts = self.opts
        res = self.residuals()
        self.r_p, self.r_d = res.primal, res.dual
        obj = _objective_s(self.F, self.program.y, self.Wy, self.eps_s, self.beta_s, self.pmask, self.A)
        now = time.perf_counter() - self.t_start
        record(self.history, iteration=self.it, objective=obj, primal_residual=res.primal, dual_residual=res.dual,
               rho=self.rho, time=now)
        if self.log.active(now, self.intro) and (self.it == 1 or self.it % opts.print_every == 0):
            self.log.row(f"{self.it:d}", f"{obj:.8e}", f"{res.primal:.3e}", f"{res.dual:.3e}", f"{self.rho:.3e}",
                         f"{now:.2f}s")
        if not (res.finite() and np.isfinite(obj)):
            return "diverged"
        if res.converged(opts.tol_abs, opts.tol_rel):
            self.bound_from_iterates()
            return "optimal"
        if opts.polish and (self.polish_if_due(now) or self.working_set_if_due()):
            return "optimal"
        if opts.adaptive_rho:
            self.balance_rho(res)
        return None

    def balance_rho(self, res):
        """OSQP residual balancing (free: rho does not enter the a-update); the scaled duals follow."""
        new_rho = balanced_rho(self.rho, res, self.opts.adaptive_rho_tolerance, 1e-8, 1e8)
        if new_rho is None:
            return
        for dual in (self.U, self.Mu, self.Kappa, self.Eta):
            dual *= self.rho / new_rho
        self.rho = new_rho
        self.info["rho_updates"] += 1

    def _intro(self):
        opts = self.opts
        n, d = self.program.X.shape
        return (f"n={n}, d={d}, P={self.P}, beta={self.beta:g}, eps={self.eps:g}, setup {self.setup_time:.3g}s, "
                f"rho0={self.info['rho_initial']:.3g}, alpha={opts.alpha}, sigma={opts.sigma}, tau={self.F.tau:.3g}")

    # -- polish and descent ---------------------------------------------------------------------------------
    def polish_if_due(self, now):
        """When the schedule says so, polish the structure read off the z-iterates within one attempt's budget
        (``max(5 s, share of the elapsed time)``), descend from an uncertified feasible result, and keep the
        best feasible point. True when a point is certified to ``tol_gap``."""
        opts = self.opts
        structure = RobustStructure.from_admm(self.Sigma, self.below, self.kink, self.B, self.E, self.C0,
                                              self.cone_w, self.pmask, self.pinned)
        if not self.schedule.due(structure.signature(), now):
            return False
        t_polish = time.perf_counter()
        deadline = t_polish + max(5.0, self.schedule.share * now)
        if opts.time_limit is not None:
            deadline = min(deadline, self.t_start + opts.time_limit)
        out = polish_robust(self.program, self.B / self.sx, structure, free_blocks=self.pinned, deadline=deadline,
                            rounds=opts.polish_rounds, feas_abs=self.feas_abs)
        self.info["polish_attempts"] += 1
        if opts.descent and out is not None and out["violation"] <= self.feas_abs and out["gap_rel"] > opts.tol_gap:
            out = self.descend_from(out, deadline, now)
        self.info["polish_time_s"] += time.perf_counter() - t_polish
        self.schedule.spent = self.info["polish_time_s"]
        if out is not None:
            self.log.line(f"polish: objective {out['objective']:.10e}, certified rel gap {out['gap_rel']:.2e}, "
                          f"violation {out['violation']:.1e}")
            if np.isfinite(out.get("bound", -np.inf)):
                self.best_bound = max(self.best_bound, float(out["bound"]))
        if not (out is not None and out["violation"] <= self.feas_abs and np.isfinite(out["objective"])):
            return False
        if self.best_polished is None or out["objective"] < self.best_polished["objective"]:
            self.best_polished = out
        return out["gap_rel"] <= opts.tol_gap

    def working_set_if_due(self, final=False):
        """Second-order polish (:mod:`solvers.working_set`, the interior point :mod:`solvers.ipm_robust`) on the
        patterns whose blocks of b are nonzero, certified on the full program by pricing the others (the
        patterns whose cone is {0} are free); on the schedule of :class:`~.working_set.WorkingSetSchedule`.
        Its point competes with the polished ones; True when it is certified."""
        opts = self.opts
        if not (opts.working_set and self.working_set_schedule.due(self.it, final)):
            return False
        pinned_patterns = np.flatnonzero(self.pinned[:self.P])
        working = np.setdiff1d(patterns_in_use(self.B, self.P), pinned_patterns)
        out = scheduled_attempt(self.program, working, opts.tol_gap, self.feas_abs, self.t_start, opts.time_limit,
                                self.info, free_patterns=pinned_patterns)
        if out is None:
            return False
        self.log.line(f"working-set polish: {out['patterns'].size} of {self.P} patterns, objective "
                      f"{out['objective']:.10e}, certified rel gap {out['gap']:.2e}")
        self.best_bound = max(self.best_bound, float(out["dual_bound"]))
        if out["violation"] > self.feas_abs:
            return False
        A = np.hstack([out["weights"]["V"], out["weights"]["W"]])
        if self.best_polished is None or out["objective"] < self.best_polished["objective"]:
            self.best_polished = {"A": A, "objective": out["objective"], "violation": out["violation"],
                                  "bound": out["dual_bound"], "gap_rel": out["gap"]}
        return out["certified"]

    def descend_from(self, polished, deadline, now):
        """The descent from the polished point, or from where the last descent ended if that is lower
        (progress carries over), for a slice of the budget so that the polish attempts keep their cadence.
        Returns the descent's certified point when it beats ``polished``, else ``polished``."""
        start = polished["A"]
        if self.descent_point is not None and not polished["objective"] < self.descent_point[1]:
            start = self.descent_point[0]
        t_descent = time.perf_counter()
        found, A_end, f_end, _ = descend(self.program, start, free_blocks=self.pinned,
                                         deadline=min(deadline, t_descent + max(0.5, 0.1 * now)),
                                         feas_abs=self.feas_abs, tol_gap=self.opts.tol_gap)
        self.info["descent_time_s"] += time.perf_counter() - t_descent
        self.descent_point = (A_end, f_end)
        return found if found is not None and found["gap_rel"] < polished["gap_rel"] else polished

    def bound_from_iterates(self):
        r"""A dual bound read off the ADMM's scaled duals and kept in ``best_bound``: the prox step makes
        ``rho tau U_k`` a subgradient of the worst-case hinge at ``Sigma_k``, which
        :func:`~solvers.admm.robust_polish.hinge_multipliers` writes as ``alpha_k (eps Pi u_k - w_k)``; the cone
        projection makes ``-rho omega Kappa`` the multipliers of the rows ``c >= sigma eps |Pi e|_1``, so
        ``lambda = -sigma rho omega Kappa`` for the rows ``S2 o (X a) >= eps |Pi a|_1`` (both unit-free).
        Blocks left dual infeasible are re-priced (:func:`~solvers.admm.robust_polish.restore_dual_feasibility`,
        within ``max(1 s, 10%`` of the elapsed time)); :func:`~solvers.admm.robust_polish.robust_dual_bound`
        scales the rest. Valid for any iterate; tight once the duals have converged."""
        if not (np.all(np.isfinite(self.U)) and np.all(np.isfinite(self.Kappa))):
            return
        F, opts = self.F, self.opts
        alpha, U = hinge_multipliers(self.rho * F.tau * self.U, self.Wy, self.eps_s, self.pmask)
        lam = np.maximum(-opts.sigma * self.rho * F.omega * self.Kappa, 0.0)
        now = time.perf_counter()
        lam = restore_dual_feasibility(self.program, alpha, U, lam, self.pinned,
                                       deadline=now + max(1.0, 0.1 * (now - self.t_start)))
        bound, _ = robust_dual_bound(self.program, alpha, U, lam, self.pinned)
        self.best_bound = max(self.best_bound, float(bound))

    # -- final point and result -----------------------------------------------------------------------------
    def candidates(self, status):
        """The points a run may return (original units): the best polished point, the descent's last point,
        and the iterates b, a, e with their repaired copies."""
        P, sx = self.P, self.sx
        candidates = {}
        if self.best_polished is not None:
            A = self.best_polished["A"]
            candidates["polished"] = {"V": A[:, :P], "W": A[:, P:]}
            self.info["polish_certified_gap"] = self.best_polished["gap_rel"]
        if self.descent_point is not None and status != "optimal":
            candidates["descent"] = {"V": self.descent_point[0][:, :P], "W": self.descent_point[0][:, P:]}
        if status == "diverged":
            return candidates
        for label, Z in (("b", self.B), ("a", self.A), ("e", self.E)):
            if not np.all(np.isfinite(Z)):
                continue
            candidates[label] = {"V": Z[:, :P] / sx, "W": Z[:, P:] / sx}
            Zo = Z / sx
            Zr = _repair(self.program.X, self.F.S2, self.eps, self.pmask, Zo, self.margins2, self.H2,
                         0.1 * self.feas_abs)
            if not np.array_equal(Zr, Zo):
                candidates[label + "_repaired"] = {"V": Zr[:, :P], "W": Zr[:, P:]}
        return candidates

    def finish(self, status):
        """Pick the returned point (:func:`~solvers.admm.schedules.pick_returned_point`), settle the status
        and build the result (:func:`~solvers.result.finish_run`)."""
        loop_end = time.perf_counter()
        point, weights, obj, viol, evaluated = self._pick_point(status)
        if status != "diverged" and not self._certifies(obj, viol):
            self.bound_from_iterates()
            if not self._certifies(obj, viol) and self.opts.polish and self.working_set_if_due(final=True):
                point, weights, obj, viol, evaluated = self._pick_point(status)
        status = self._final_status(status, point, evaluated, obj, viol)
        # the status follows from what the returned point proves against the best bound of the run
        bound = float(self.best_bound) if np.isfinite(self.best_bound) else None
        gap = None if bound is None else certified_gap(obj, bound)
        certified = gap is not None and gap <= self.opts.tol_gap and viol <= self.feas_abs and point != "zero"
        if certified:
            status = "optimal"
        elif status == "optimal":
            status = "optimal_inaccurate"
        self.info.update({"duality_gap_rel": gap, "dual_bound": bound, "certified": bool(certified)})
        total = time.perf_counter() - self.t_start
        self.info.update({"primal_residual": self.r_p, "dual_residual": self.r_d, "rho": self.rho,
                          "cone_violation": viol, "returned_point": point,
                          "final_step_time_s": total - (loop_end - self.t_start),
                          "candidates": {k: {"objective": v[1], "violation": v[2]} for k, v in evaluated.items()}})
        return finish_run(self.program, weights, status=status, solver="admm", iterations=self.it, solve_time_s=total,
                          history=self.history, info=self.info, verbose=self.log.started)

    def _pick_point(self, status):
        """The returned point among the candidates (:func:`~solvers.admm.schedules.pick_returned_point`):
        ``(label, weights, objective, violation, evaluated candidates)``."""
        program = self.program
        evaluated = {}
        for label, weights in self.candidates(status).items():
            obj, viol = program.objective(weights), program.max_violation(weights)
            if np.isfinite(obj) and np.isfinite(viol):
                evaluated[label] = (weights, obj, viol)
        return (*pick_returned_point(program, evaluated, self.feas_abs), evaluated)

    def _certifies(self, obj, viol):
        """True when the best bound so far certifies a point of objective ``obj`` and violation ``viol``."""
        return (np.isfinite(self.best_bound) and viol <= self.feas_abs
                and certified_gap(obj, self.best_bound) <= self.opts.tol_gap)

    def _final_status(self, status, point, evaluated, obj, viol):
        """No candidate: diverged. A residual stop returns optimal only when the point it returns is feasible
        and not above the iterate a (to the tolerances); otherwise optimal_inaccurate."""
        if point == "zero":
            return "diverged"
        if status == "optimal" and point != "polished":
            best_iterate = min(v[1] for v in evaluated.values())
            obj_a = evaluated["a"][1] if "a" in evaluated else best_iterate
            scale = max(1.0, abs(obj_a))
            if viol > self.feas_abs or obj > obj_a + 10.0 * self.opts.tol_rel * scale + 1e-6 * scale:
                return "optimal_inaccurate"
        return status


def _solve(program, warm_start, options):
    t_start = time.perf_counter()
    _check_program(program)
    settings = RobustADMMSettings(**options)
    return _RobustADMM(program, settings, warm_start_weights(program, warm_start), t_start).run()


def admm_robust(program, *, warm_start=None, blas_threads=1, **options):
    r"""Solve a hinge-loss :class:`~formulations.robust.RobustReLUProgram` by ADMM (module docstring).

    ``options`` are the fields of :class:`RobustADMMSettings` (rho, alpha, tol_abs, tol_rel, feas_tol,
    max_iter, time_limit, verbose, adaptive_rho, adaptive_rho_tolerance, scaling, sigma, tau, check_every,
    print_every, pin_empty_cones, omega, polish, tol_gap, polish_rounds, descent), with the defaults written
    there. ``warm_start``: dict ``{"V", "W"}`` (original units) or a SolveResult; ``blas_threads``: BLAS
    threads during the solve (threadpoolctl), None leaves them alone.

    Returns a SolveResult (``solver="admm"``) with status optimal / optimal_inaccurate / max_iter /
    time_limit / diverged; any status but optimal raises a ConvergenceWarning. ``history``: iteration,
    objective (at a), primal_residual, dual_residual, rho, time. ``info``: residuals, rho, rho_initial,
    rho_updates, cone_violation, returned_point, candidates, pinned_blocks, cone_lp_time_s, setup_time_s,
    final_step_time_s, scale_x, polish_attempts, polish_time_s (descent included), descent_time_s,
    polish_certified_gap (best polished point).
    """
    check_option_names(_NAME, RobustADMMSettings, options)
    return run_with_blas_threads(_NAME, blas_threads, _solve, program, warm_start, options)


admm_robust.__signature__ = keyword_signature(RobustADMMSettings, warm_start=None, blas_threads=1)
