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

One iteration:

1. a-update, the normal equations
   ``tau L^T L a + 2 a + Q^T Q a = tau L^T(Sigma - U) + (b - mu) + (e - eta) + Q^T (c - kappa)``; as operators on
   the d x 2P array, ``L^T L A = A (Dpm^T Dpm)``, ``Q^T Q A = sigma^2 X^T X A``, so with the eigendecompositions
   ``X^T X = Ux diag(ex) Ux^T`` and ``Dpm^T Dpm = Ud diag(ed) Ud^T`` the operator is diagonal in the joint basis:
   ``A = Ux [(Ux^T R Ud) / (2 + sigma^2 ex_i + tau ed_j)] Ud^T`` - O(d^2 P + d P^2), rho does not enter;
2. ``Sigma = prox_{h / (rho tau)}(L a_hat + U)``, per sample (:func:`hinge_slack_prox`, exact);
3. ``b = `` group soft-threshold of ``a_hat + mu`` at ``beta / rho``;
4. ``(c, e) = Proj_K(Q a_hat + kappa, a_hat + eta)``, per block (:func:`project_cones`, exact);
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

Polish (:mod:`solvers.admm_robust_polish`): at check iterations the structure of the z-iterates (support
of b, zero coordinates and signs of e, cone rows the projection lifted, hinge pieces and slope signs of the
prox) is read off; once it has been unchanged for 3 checks (and polishing has used at most 20% of the
time) the reduced problem it fixes is solved by equality-constrained Newton, re-read off the polished
point and solved again (``polish_rounds``), and the polished point gets a Lagrange-dual bound. A feasible
polished point whose certified relative gap is ``<= tol_gap`` ends the run with status optimal. A
feasible polished point that is not certified starts the primal active-set descent
(:func:`solvers.admm_robust_polish.descend`, ``descent=True``) for a slice of the attempt's budget
(``max(0.5 s, 10%`` of the elapsed time); the next attempt continues from where it ended if that is
lower); its certified points end the run the same way.

Returned point: among the polished point, the descent's last point and the iterates b, a and e, each
iterate also *repaired* (a violating block moves along its cone's interior direction,
``a_j + (v_j / m_j) h_j``, feasible by the triangle inequality, or is zeroed), the feasible one with the
lowest objective; if none is feasible to ``feas_tol`` the least violating one, with status
``optimal_inaccurate``.

Measured (battery ``reference_problems("robust", "hinge")``, eps = 0.05, defaults): breast_cancer_150x10
stops on its residuals after 60 iterations; sparse_beta_2 is certified after 260 iterations (0.3 s),
X_scaled_100 / X_scaled_0.01 / bias_50x3 / gaussian_60x5 after 3,950-6,830 / 3,950-7,070 / 4,990-5,890 /
6,030-8,770 (4-12 s; three runs, two of them with both cores busy: the polish and descent budgets are
times) and dense_beta_1e-4 (beta = 1e-4, LP-like, degenerate) after 20,500-32,500 (25-38 s) in about
3 runs of 4 (otherwise max_iter at its optimum, 1e-7 - 5e-7 above, uncertified), all within 2e-6 of
Clarabel (the ADMM's point is below Clarabel's on five of them). Without the descent the same
ran 7,800 - 17,400 iterations and dense_beta_1e-4 stayed 1.2e-3 above after 50,000 (the structure read
off its iterates was wrong: 25 samples on the kink where the optimum has 1); before the polish only the
first two certified. Polished from the oracle's structure, every battery problem certifies to 1e-12 in one Newton
round (tests).

The prediction-split weight matters most: on breast cancer n = 500, d = 30, P = 60, eps = 0.005 the
relative gap after 60 s was 1.4e-1 at tau = 1, 1.5e-2 at 0.1, 1.3e-3 at 0.01 (sigma and omega raised
instead: 2.7e-2 / 2.0e-2); the default ``tau = 0.3 sigma^2 P / sum(D)`` (0.011 there, ~0.1 on the battery)
keeps ``tau L^T L`` and ``Q^T Q`` of one size. That instance is polished and certified (gap 3e-14) after
17,080 iterations, 98 s, 1.2e-7 below Clarabel's optimum, which took 583 s; before the polish and the
new tau the ADMM was 3.7e-2 above after 50,000 iterations (302 s).
"""
from __future__ import annotations

import sys
import time

import numpy as np

from formulations.robust import RobustReLUProgram

from .schedules import balanced_rho
from ..core.options import check_flags, check_rho_tolerance
from ..core.prox import group_soft as _group_soft
from .schedules import pick_returned_point
from ..core.log import record
from ..core.prox import soft_threshold as _soft_threshold
from ..core.prox import inf_norm as _inf
from ..core.options import verbose_after as _verbose_after
from .robust_polish import PolishSchedule, RobustStructure, descend, polish_robust
from ..core.options import check_int, check_positive
from ..core.blas import run_with_blas_threads
from ..result import SolveResult

__all__ = ["admm_robust", "hinge_slack_prox", "project_cones", "RobustOperators"]

_NAME = "admm_robust"


# ------------------------------------------------------------------------------------------------------
# option checks
# ------------------------------------------------------------------------------------------------------
def _check_positive(name, value, allow_none=False, upper=None, upper_closed=True):
    return check_positive(_NAME, name, value, allow_none, upper, upper_closed)


def _check_int(name, value, minimum=1):
    return check_int(_NAME, name, value, minimum)


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
        S[:, pmask] = _soft_threshold(U[:, pmask], theta[:, None] * eps)
    phi = 1.0 - np.einsum("ij,ij->i", Wy, S) + eps * np.abs(S[:, pmask]).sum(axis=1)
    return phi, S


def hinge_slack_prox(S0, Wy, eps, pmask, t, return_pieces=False):
    r"""Row-wise prox of the worst-case hinge: ``argmin_s h_k(s) + |s - s0_k|^2 / (2 t)`` with
    ``h_k(s) = max(0, g_k(s))``, ``g_k(s) = 1 - wy_k^T s + eps |Pi o s|_1`` (``wy_k = y_k x_k``).

    If ``g(s0) <= 0`` the prox is s0. Otherwise it is ``s(theta) = prox_{theta g}(s0)`` (soft-threshold of
    ``s0 + theta wy`` at ``theta eps`` on the perturbed coordinates, a shift on the others) with theta = t if
    ``phi(t) = g(s(t)) >= 0``, else the root of the nonincreasing piecewise-linear ``phi`` in [0, t]. The
    kinks of phi are known in closed form (a coordinate of s(theta) enters or leaves zero at
    ``theta = s0_i / (eps - wy_i)`` or ``theta = -s0_i / (eps + wy_i)``): they are sorted per row, the
    bracketing pair is found by a vectorised binary search, and the root by linear interpolation on that
    kink-free piece (exact up to rounding). No loop over samples.

    ``S0``, ``Wy``: n x d; ``pmask``: boolean d-vector; ``t > 0`` scalar. Returns the n x d prox, and with
    ``return_pieces`` also the boolean n-vectors ``below`` (``g > 0`` at the prox: loss linear) and ``kink``
    (``g = 0``: the root case); the other rows have ``g <= 0`` (loss zero).
    """
    S0 = np.asarray(S0, float)
    out = S0.copy()
    n_rows = S0.shape[0]
    below, kink = np.zeros(n_rows, bool), np.zeros(n_rows, bool)
    g0 = 1.0 - np.einsum("ij,ij->i", Wy, S0) + eps * np.abs(S0[:, pmask]).sum(axis=1)
    rows = np.flatnonzero(g0 > 0)
    if rows.size == 0:
        return (out, below, kink) if return_pieces else out
    s0, wy = S0[rows], Wy[rows]
    m = rows.size
    phi_t, St = _slack_phi(s0, wy, eps, pmask, np.full(m, float(t)))
    done = phi_t >= 0
    out[rows[done]] = St[done]
    below[rows[phi_t > 0]] = True
    kink[rows[phi_t == 0]] = True
    todo = np.flatnonzero(~done)
    kink[rows[todo]] = True
    if todo.size == 0:
        return (out, below, kink) if return_pieces else out
    s0, wy = s0[todo], wy[todo]
    m = todo.size
    # kinks of phi in (0, t), padded with the end points 0 and t
    if eps > 0:
        sp, wp = s0[:, pmask], wy[:, pmask]
        with np.errstate(divide="ignore", invalid="ignore"):
            k1 = sp / (eps - wp)
            k2 = -sp / (eps + wp)
        kinks = np.concatenate([k1, k2], axis=1)
        kinks = np.where(np.isfinite(kinks) & (kinks > 0) & (kinks < t), kinks, t)
    else:
        kinks = np.empty((m, 0))
    grid = np.concatenate([np.zeros((m, 1)), kinks, np.full((m, 1), float(t))], axis=1)
    grid.sort(axis=1)
    ar = np.arange(m)
    lo = np.zeros(m, dtype=int)
    hi = np.full(m, grid.shape[1] - 1, dtype=int)
    # invariant: phi(grid[lo]) >= 0 > phi(grid[hi]); phi(0) = g(s0) > 0 and phi(t) < 0
    while True:
        open_ = hi - lo > 1
        if not np.any(open_):
            break
        mid = (lo + hi) // 2
        ph, _ = _slack_phi(s0, wy, eps, pmask, grid[ar, mid])
        up = open_ & (ph >= 0)
        down = open_ & (ph < 0)
        lo = np.where(up, mid, lo)
        hi = np.where(down, mid, hi)
    a, b = grid[ar, lo], grid[ar, hi]
    pa, _ = _slack_phi(s0, wy, eps, pmask, a)
    pb, _ = _slack_phi(s0, wy, eps, pmask, b)
    denom = pa - pb
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = np.where(denom > 0, a + pa * (b - a) / denom, a)
    theta = np.clip(theta, a, b)
    _, S = _slack_phi(s0, wy, eps, pmask, theta)
    out[rows[todo]] = S
    return (out, below, kink) if return_pieces else out


# ------------------------------------------------------------------------------------------------------
# step 4: projection onto the robust cone set, per block
# ------------------------------------------------------------------------------------------------------
def project_cones(C0, E0, weights, max_newton=100):
    r"""Euclidean projection of every block (column j) of ``(C0, E0)`` onto
    ``K = {(c, e): c_k >= sum_i w_i |e_i| for every k}`` (``C0``: n x J, ``E0``: d x J, ``w >= 0``: d-vector;
    ``w = sigma eps Pi`` for the robust cone).

    Optimality: ``e = soft(e0, mu w)`` (coordinate i thresholded at ``mu w_i``), ``t = sum_i w_i |e_i|``,
    ``c = max(c0, t)``, where ``mu >= 0`` is the root of ``psi(mu) = sum_k (t(mu) - c0_k)_+ - mu``. psi is
    convex (a nondecreasing convex function of the convex ``t(mu)``), piecewise linear and strictly
    decreasing, so Newton's method from ``mu = 0`` with right derivatives never overshoots and reaches the
    root in finitely many steps (one per piece crossed at most); blocks are processed together.
    ``psi(0) <= 0``: the block is feasible (``mu = 0``). Past ``mu_max = max_i |e0_i| / w_i`` the
    weighted coordinates of e are zero and ``c = max(c0, 0)``.

    Returns (C, E, mu).
    """
    C0 = np.asarray(C0, float)
    E0 = np.asarray(E0, float)
    w = np.asarray(weights, float)
    J = C0.shape[1]
    mu = np.zeros(J)
    on = w > 0
    if not np.any(on):
        return np.maximum(C0, 0.0), E0.copy(), mu
    absE = np.abs(E0)
    t0 = w @ absE
    psi0 = np.maximum(t0[None, :] - C0, 0.0).sum(axis=0)
    active = np.flatnonzero(psi0 > 0)
    C = C0.copy()
    E = E0.copy()
    if active.size == 0:
        return C, E, mu
    wo = w[on]
    ratio = absE[on][:, active] / wo[:, None]
    mu_max = ratio.max(axis=0)
    psi_max = np.maximum(-C0[:, active], 0.0).sum(axis=0) - mu_max
    zero = psi_max >= 0
    zcols = active[zero]
    if zcols.size:
        mu[zcols] = np.maximum(np.maximum(-C0[:, zcols], 0.0).sum(axis=0), mu_max[zero])
    cols = active[~zero]
    if cols.size:
        a_e = absE[on][:, cols]  # d' x m
        c0 = C0[:, cols]
        w2 = (wo ** 2)[:, None]
        m_cur = np.zeros(cols.size)
        idx = np.arange(cols.size)
        scale = np.maximum(1.0, np.abs(c0).max(axis=0) + t0[cols])
        for _ in range(max_newton):
            ae = a_e[:, idx]
            mc = m_cur[idx]
            rem = ae - mc[None, :] * wo[:, None]
            pos = rem > 0
            t = (wo[:, None] * np.where(pos, rem, 0.0)).sum(axis=0)
            gap = t[None, :] - c0[:, idx]
            psi = np.maximum(gap, 0.0).sum(axis=0) - mc
            conv = psi <= 1e-15 * scale[idx]
            dt = -(w2 * pos).sum(axis=0)
            cnt = (gap > 0).sum(axis=0)
            dpsi = cnt * dt - 1.0
            step = -psi / dpsi
            step = np.where(conv, 0.0, step)
            new = mc + step
            stalled = new <= mc
            m_cur[idx] = new
            keep = ~(conv | stalled)
            idx = idx[keep]
            if idx.size == 0:
                break
        mu[cols] = m_cur
    thr = mu[None, :] * w[:, None]
    E = _soft_threshold(E0, thr)
    t = w @ np.abs(E)
    C = np.maximum(C0, t[None, :])
    return C, E, mu


# ------------------------------------------------------------------------------------------------------
# the linear maps and the a-update
# ------------------------------------------------------------------------------------------------------
class RobustOperators:
    r"""The maps of the splits on the (scaled) data and the diagonalised a-update.

    ``L A = Dpm A^T`` (n x d), ``L^T Z = Z^T Dpm`` (d x 2P), ``Q A = sigma S2 o (X A)`` (n x 2P),
    ``Q^T C = sigma X^T (S2 o C)``; :meth:`solve` applies ``(tau L^T L + 2 I + Q^T Q)^{-1}``."""

    def __init__(self, X, D, sigma=1.0, tau=1.0, omega=1.0):
        self.X = np.ascontiguousarray(X, dtype=float)
        self.XT = np.ascontiguousarray(self.X.T)
        D = np.asarray(D, float)
        self.n, self.d = self.X.shape
        self.P = D.shape[1]
        self.Dpm = np.ascontiguousarray(np.hstack([D, -D]))
        S = 2.0 * D - 1.0
        self.S2 = np.ascontiguousarray(np.hstack([S, S]))
        self.sigma = float(sigma)
        self.tau = float(tau)
        self.omega = float(omega)
        self.S2q = self.sigma * self.S2
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

    def Q(self, A):
        return self.S2q * (self.X @ A)

    def QT(self, C):
        return self.XT @ (self.S2q * C)

    def solve(self, R):
        """``(tau L^T L + 2 I + Q^T Q)^{-1} R`` for a d x 2P right-hand side."""
        return self.Ux @ (((self.UxT @ R) @ self.Ud) * self.inv_den) @ self.UdT

    def apply(self, A):
        """The operator itself (for tests): ``tau A Dpm^T Dpm + 2 A + sigma^2 X^T X A``."""
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


# ------------------------------------------------------------------------------------------------------
# the solver
# ------------------------------------------------------------------------------------------------------
def _objective_s(F, ys, Wy, eps_s, beta_s, pmask, A):
    """Objective of the scaled problem at A (equal to the original objective at A / sx)."""
    Sig = F.L(A)
    marg = 1.0 - np.einsum("ij,ij->i", Wy, Sig) + eps_s * np.abs(Sig[:, pmask]).sum(axis=1)
    return float(np.maximum(marg, 0.0).sum()) + beta_s * float(np.sqrt(np.einsum("ij,ij->j", A, A)).sum())


def _admm_robust(program, *, rho=None, alpha=1.6, tol_abs=1e-8, tol_rel=1e-7, feas_tol=1e-9, max_iter=50000,
                 time_limit=None, warm_start=None, verbose=False, adaptive_rho=True,
                 adaptive_rho_tolerance=5.0, scaling=True, sigma=3.0, tau=None, check_every=10,
                 print_every=None, pin_empty_cones=True, omega=1.0, polish=True, tol_gap=1e-6, polish_rounds=3,
                 descent=True):
    t_start = time.perf_counter()
    _check_program(program)
    alpha = _check_positive("alpha", alpha, upper=2.0, upper_closed=False)
    tol_abs = _check_positive("tol_abs", tol_abs)
    tol_rel = _check_positive("tol_rel", tol_rel)
    feas_tol = _check_positive("feas_tol", feas_tol)
    rho = _check_positive("rho", rho, allow_none=True)
    sigma = _check_positive("sigma", sigma)
    tau = _check_positive("tau", tau, allow_none=True)
    omega = _check_positive("omega", omega)
    adaptive_rho_tolerance = check_rho_tolerance(_NAME, _check_positive("adaptive_rho_tolerance",
                                                                        adaptive_rho_tolerance))
    time_limit = _check_positive("time_limit", time_limit, allow_none=True)
    max_iter = _check_int("max_iter", max_iter, minimum=0)
    check_every = _check_int("check_every", check_every)
    print_every = check_every * max(1, 50 // check_every) if print_every is None else _check_int(
        "print_every", print_every)
    tol_gap = _check_positive("tol_gap", tol_gap)
    polish_rounds = _check_int("polish_rounds", polish_rounds)
    check_flags(_NAME, adaptive_rho=adaptive_rho, scaling=scaling, pin_empty_cones=pin_empty_cones,
                polish=polish, descent=descent)
    verbose_after = _verbose_after(_NAME, verbose)
    verbose = False
    if warm_start is not None:
        if isinstance(warm_start, SolveResult):
            warm_start = warm_start.weights
        warm_start = program.check_weights(warm_start)

    # ---- setup -------------------------------------------------------------------------------------
    X, y = program.X, program.y
    n, d = X.shape
    P = program.n_patterns
    eps = program.epsilon_value
    beta = program.beta_value
    pmask = np.zeros(d, dtype=bool)
    pmask[program.perturbed] = True
    if scaling:
        sx = float(np.linalg.norm(X) / np.sqrt(d))
        sx = sx if sx > 0 else 1.0
    else:
        sx = 1.0
    Xs = X / sx
    eps_s, beta_s = eps / sx, beta / sx
    if tau is None:
        # balance the prediction split against the cone rows: tau mean(eig(L^T L)) = 0.3 sigma^2 mean(eig(
        # Xs^T Xs)), where mean(eig(Dpm^T Dpm)) = sum(D) / P and the scaled data have mean(eig(Xs^T Xs)) = 1
        tau = 0.3 * sigma ** 2 / max(float(program.D.sum()) / P, 1e-12)
    F = RobustOperators(Xs, program.D, sigma, tau, omega)
    Wy = y[:, None] * Xs
    cone_w = sigma * eps_s * pmask.astype(float)
    # interior directions of the robust cones (original units): pin the blocks whose cone is {0}
    t_lp = time.perf_counter()
    margins, Hdir = cone_margins(X, program.S, eps, pmask)
    margins2, H2 = np.concatenate([margins, margins]), np.hstack([Hdir, Hdir])
    pinned = (margins2 <= 0) if pin_empty_cones else np.zeros(2 * P, dtype=bool)
    any_pinned = bool(np.any(pinned))
    lp_time = time.perf_counter() - t_lp
    if rho is None:
        # beta_max = max_j |X^T (Dpm_j o y)|: the size of the loss gradient at A = 0
        G0 = F.LT(Wy)
        beta_max = float(np.sqrt(np.einsum("ij,ij->j", G0, G0)).max(initial=0.0))
        rho = float(np.sqrt(beta_s * max(beta_max, beta_s)))
    setup_time = time.perf_counter() - t_start

    # ---- state ---------------------------------------------------------------------------------------
    if warm_start is not None:
        A = sx * np.hstack([warm_start["V"], warm_start["W"]])
    else:
        A = np.zeros((d, 2 * P))
    Sig = F.L(A)
    B = A.copy()
    C, E, _ = project_cones(F.Q(A), A, cone_w)
    U = np.zeros_like(Sig)
    Mu = np.zeros_like(A)
    Kp = np.zeros_like(C)
    Eta = np.zeros_like(A)

    hist = {k: [] for k in ("iteration", "objective", "primal_residual", "dual_residual", "rho", "time")}
    info = {"setup_time_s": setup_time, "cone_lp_time_s": lp_time, "pinned_blocks": int(pinned.sum()),
            "scale_x": sx, "rho_initial": rho, "rho_updates": 0,
            "alpha": alpha, "sigma": sigma, "tau": tau}
    status = None
    it = 0
    r_p = r_d = np.inf
    feas_abs = feas_tol * max(1.0, _inf(y))
    schedule = PolishSchedule()
    best_polished = None
    descent_point = None                       # (A, objective) where the last descent ended
    info.update(polish_attempts=0, polish_time_s=0.0, descent_time_s=0.0)

    def start_log(now):
        nonlocal verbose
        if not verbose and verbose_after is not None and now >= verbose_after:
            verbose = True
            print(f"{_NAME}: n={n}, d={d}, P={P}, beta={beta:g}, eps={eps:g}, setup {setup_time:.3g}s, "
                  f"rho0={rho:.3g}, alpha={alpha}, sigma={sigma}, tau={tau:.3g}", file=sys.stderr)
            print(f"{'iter':>6} {'objective':>14} {'prim res':>10} {'dual res':>10} {'rho':>10} {'time':>9}",
                  file=sys.stderr)
        return verbose

    start_log(0.0)
    a1 = 1.0 - alpha
    while True:
        if it >= max_iter:
            status = "max_iter"
            break
        if time_limit is not None and time.perf_counter() - t_start >= time_limit:
            status = "time_limit"
            break
        it += 1
        # 1. a-update
        R = tau * F.LT(Sig - U) + (B - Mu) + omega * ((E - Eta) + F.QT(C - Kp))
        A = F.solve(R)
        LA = F.L(A)
        QA = F.Q(A)
        # over-relaxation
        LAh = alpha * LA + a1 * Sig
        Ab = alpha * A + a1 * B
        QAh = alpha * QA + a1 * C
        Ae = alpha * A + a1 * E
        # 2.-4. z-updates
        Sig, below, kink = hinge_slack_prox(LAh + U, Wy, eps_s, pmask, 1.0 / (rho * tau), return_pieces=True)
        B = _group_soft(Ab + Mu, beta_s / rho)
        C0 = QAh + Kp
        C, E, _ = project_cones(C0, Ae + Eta, cone_w)
        if any_pinned:  # blocks whose cone is {0}: the set {(c, 0): c >= 0}
            B[:, pinned] = 0.0
            E[:, pinned] = 0.0
            C[:, pinned] = np.maximum(C0[:, pinned], 0.0)
        # 5. duals
        U += LAh - Sig
        Mu += Ab - B
        Kp += QAh - C
        Eta += Ae - E

        if it % check_every == 0 or it == 1:
            LTU = tau * F.LT(U)
            QTK = omega * F.QT(Kp)
            r_p = max(_inf(LA - Sig), _inf(A - B), _inf(QA - C), _inf(A - E))
            r_d = rho * _inf(LTU + Mu + omega * Eta + QTK)
            p_scale = max(_inf(LA), _inf(Sig), _inf(A), _inf(B), _inf(QA), _inf(C), _inf(E))
            d_scale = rho * max(_inf(LTU), _inf(Mu), omega * _inf(Eta), _inf(QTK))
            obj = _objective_s(F, y, Wy, eps_s, beta_s, pmask, A)
            now = time.perf_counter() - t_start
            record(hist, iteration=it, objective=obj, primal_residual=r_p, dual_residual=r_d, rho=rho, time=now)
            if start_log(now) and (it == 1 or it % print_every == 0):
                print(f"{it:6d} {obj:14.8e} {r_p:10.3e} {r_d:10.3e} {rho:10.3e} {now:8.2f}s", file=sys.stderr)
            if not (np.isfinite(r_p) and np.isfinite(r_d) and np.isfinite(obj)):
                status = "diverged"
                break
            if r_p <= tol_abs + tol_rel * p_scale and r_d <= tol_abs + tol_rel * d_scale:
                status = "optimal"
                break
            if polish:
                structure = RobustStructure.from_admm(Sig, below, kink, B, E, C0, cone_w, pmask, pinned)
                if schedule.due(structure.signature(), now):
                    t_pol = time.perf_counter()
                    deadline = t_pol + max(5.0, schedule.share * now)       # one attempt's budget
                    if time_limit is not None:
                        deadline = min(deadline, t_start + time_limit)
                    out = polish_robust(program, B / sx, structure, free_blocks=pinned, deadline=deadline,
                                        rounds=polish_rounds, feas_abs=feas_abs)
                    info["polish_attempts"] += 1
                    if descent and out is not None and out["violation"] <= feas_abs and out["gap_rel"] > tol_gap:
                        # not certified: descend from the polished point, or from where the last descent
                        # ended if that is lower (progress carries over), for a slice of the budget, so
                        # that the polish attempts keep their cadence
                        start = out["A"] if descent_point is None or out["objective"] < descent_point[1] \
                            else descent_point[0]
                        t_d = time.perf_counter()
                        found, A_d, f_d, _ = descend(program, start, free_blocks=pinned,
                                                     deadline=min(deadline, t_d + max(0.5, 0.1 * now)),
                                                     feas_abs=feas_abs, tol_gap=tol_gap)
                        info["descent_time_s"] += time.perf_counter() - t_d
                        descent_point = (A_d, f_d)
                        if found is not None and found["gap_rel"] < out["gap_rel"]:
                            out = found
                    info["polish_time_s"] += time.perf_counter() - t_pol
                    schedule.spent = info["polish_time_s"]
                    if verbose and out is not None:
                        print(f"{'':6} polish: objective {out['objective']:.10e}, certified rel gap "
                              f"{out['gap_rel']:.2e}, violation {out['violation']:.1e}", file=sys.stderr)
                    if out is not None and out["violation"] <= feas_abs and np.isfinite(out["objective"]):
                        if best_polished is None or out["objective"] < best_polished["objective"]:
                            best_polished = out
                        if out["gap_rel"] <= tol_gap:
                            status = "optimal"
                            break
            new_rho = balanced_rho(rho, r_p, p_scale, r_d, d_scale, adaptive_rho_tolerance, 1e-8, 1e8) \
                if adaptive_rho else None
            if new_rho is not None:
                for dual_var in (U, Mu, Kp, Eta):
                    dual_var *= rho / new_rho
                rho = new_rho
                info["rho_updates"] += 1

    loop_end = time.perf_counter()
    # ---- final point -------------------------------------------------------------------------------
    S2 = F.S2
    candidates = {}
    if best_polished is not None:
        Ap = best_polished["A"]
        candidates["polished"] = {"V": Ap[:, :P], "W": Ap[:, P:]}
        info["polish_certified_gap"] = best_polished["gap_rel"]
    if descent_point is not None and status != "optimal":
        candidates["descent"] = {"V": descent_point[0][:, :P], "W": descent_point[0][:, P:]}
    if status != "diverged":
        for label, Z in (("b", B), ("a", A), ("e", E)):
            Wt = {"V": Z[:, :P] / sx, "W": Z[:, P:] / sx}
            if not np.all(np.isfinite(Z)):
                continue
            candidates[label] = Wt
            Zo = Z / sx
            Zr = _repair(X, S2, eps, pmask, Zo, margins2, H2, 0.1 * feas_abs)
            if not np.array_equal(Zr, Zo):
                candidates[label + "_repaired"] = {"V": Zr[:, :P], "W": Zr[:, P:]}
    evaluated = {}
    for label, Wt in candidates.items():
        obj_c, viol_c = program.objective(Wt), program.max_violation(Wt)
        if np.isfinite(obj_c) and np.isfinite(viol_c):
            evaluated[label] = (Wt, obj_c, viol_c)
    point, weights, obj, viol = pick_returned_point(program, evaluated, feas_abs)
    if point == "zero":
        status = "diverged"
    if status == "optimal" and point != "polished":
        best_iter = min(v[1] for v in evaluated.values())
        obj_a = evaluated["a"][1] if "a" in evaluated else best_iter
        if viol > feas_abs or obj > obj_a + 10.0 * tol_rel * max(1.0, abs(obj_a)) + 1e-6 * max(1.0, abs(obj_a)):
            status = "optimal_inaccurate"
    total = time.perf_counter() - t_start
    info.update({"primal_residual": r_p, "dual_residual": r_d, "rho": rho, "cone_violation": viol,
                 "returned_point": point, "final_step_time_s": total - (loop_end - t_start),
                 "candidates": {k: {"objective": v[1], "violation": v[2]} for k, v in evaluated.items()}})
    history = {k: np.asarray(v, dtype=float) for k, v in hist.items()}
    result = SolveResult(program=program, weights=weights, status=status, solver="admm", iterations=it,
                         solve_time_s=total, history=history, info=info)
    if verbose:
        print(f"{_NAME}: status {status}, iterations {it}, objective {obj:.10e}, cone violation {viol:.1e}, "
              f"point {point}, time {total:.3g}s", file=sys.stderr)
    if status != "optimal":
        result.warn_if_not_converged(stacklevel=4)
    return result


def admm_robust(program, *, rho=None, alpha=1.6, tol_abs=1e-8, tol_rel=1e-7, feas_tol=1e-9, max_iter=50000,
                time_limit=None, warm_start=None, verbose=False, adaptive_rho=True, adaptive_rho_tolerance=5.0,
                scaling=True, sigma=3.0, tau=None, check_every=10, print_every=None, pin_empty_cones=True,
                omega=1.0, polish=True, tol_gap=1e-6, polish_rounds=3, descent=True, blas_threads=1):
    r"""Solve a hinge-loss :class:`~formulations.robust.RobustReLUProgram` by ADMM (module docstring).

    Parameters
    ----------
    rho : initial penalty (scaled problem); default ``sqrt(beta_s beta_max)``, ``beta_max = max_j |X^T(Dpm_j o y)|``.
    alpha : over-relaxation in (0, 2).
    tol_abs, tol_rel : OSQP-style residual tolerances (module docstring).
    feas_tol : cone violation accepted for the returned point, times ``max(1, |y|_inf)``.
    max_iter, time_limit : limits (time in seconds, None: none).
    warm_start : dict ``{"V", "W"}`` (original units) or a SolveResult.
    verbose : True/False, or seconds after which the table (stderr) starts.
    adaptive_rho, adaptive_rho_tolerance : residual balancing when the normalised residuals differ by more
        than this factor (a rho change is free: rho does not enter the a-update).
    scaling : work on ``X / sx`` (``sx = |X|_F / sqrt(d)``).
    sigma : weight of Q (the cone rows); tau : weight of the prediction split (None: ``0.3 sigma^2 P /
        sum(D)``, which balances ``tau L^T L`` against ``Q^T Q`` on the scaled data; measured best from
        n = 40 to 500); omega : weight of the cone split (c, e).
    check_every, print_every : residual / history / rho cadence and table cadence.
    pin_empty_cones : fix blocks whose robust cone is {0} to zero (setup LPs).
    polish : try the active-set polish (module docstring); tol_gap : certified relative gap that ends the
        run; polish_rounds : Newton solves per attempt (the structure re-read off the previous one).
    descent : when a polished point is feasible but not certified, continue within the attempt's budget with
        the primal active-set descent (:func:`solvers.admm_robust_polish.descend`) from it.
    blas_threads : BLAS threads during the solve (threadpoolctl), None leaves them alone.

    Returns a SolveResult (``solver="admm"``) with status optimal / optimal_inaccurate / max_iter /
    time_limit / diverged; any status but optimal raises a ConvergenceWarning. ``history``: iteration,
    objective (at a), primal_residual, dual_residual, rho, time. ``info``: residuals, rho, rho_initial,
    rho_updates, cone_violation, returned_point, candidates, pinned_blocks, cone_lp_time_s, setup_time_s,
    final_step_time_s, scale_x, polish_attempts, polish_time_s (descent included), descent_time_s,
    polish_certified_gap (best polished point).
    """
    options = dict(rho=rho, alpha=alpha, tol_abs=tol_abs, tol_rel=tol_rel, feas_tol=feas_tol, max_iter=max_iter,
                   time_limit=time_limit, warm_start=warm_start, verbose=verbose, adaptive_rho=adaptive_rho,
                   adaptive_rho_tolerance=adaptive_rho_tolerance, scaling=scaling, sigma=sigma, tau=tau,
                   check_every=check_every, print_every=print_every, pin_empty_cones=pin_empty_cones, omega=omega,
                   polish=polish, tol_gap=tol_gap, polish_rounds=polish_rounds, descent=descent)
    return run_with_blas_threads(_NAME, blas_threads, _admm_robust, program, **options)
