r"""A primal-dual interior point for the robust gated-ReLU and robust random-feature programs with the gates
fixed at the clean points (:mod:`formulations.robust_unconstrained`; docs/math.md, "Robust gated and
random-feature programs"), all three losses.

Blocks ``b_j`` (gated: ``u_j``, d entries; SCP: ``theta_j``, one entry) enter each sample through
``Sigma_k = sum_j M_kj E_j b_j`` (gated: ``M = D``, ``E_j = I``; SCP: ``M = A``, ``E_j = h_j``). With one
residual variable ``e_k`` and one l1 epigraph ``u_k`` per sample the program is the conic program

.. math::
    \min\ \sum_k \phi(e_k + \kappa 1^T u_k) + \beta\, 1^T t \quad\text{s.t.}\quad
    \alpha_r e_k + \gamma_r 1^T u_k + s_r c_k^T \Sigma_k - b_{rk} \ge 0\ (\text{rows } r),\quad
    u_k \pm \Pi\Sigma_k \ge 0,\quad (t_j, b_j) \in \mathcal Q,

* hinge: ``phi(m) = m``, ``kappa = 0``, rows ``e_k >= 0`` and ``e_k + y_k x_k^T Sigma_k - eps 1^T u_k >= 1``;
* squared: ``phi(m) = m^2 / 2``, ``kappa = eps``, rows ``e_k >= +-(x_k^T Sigma_k - y_k)``;
* logistic: ``phi(m) = log(1 + e^m)``, ``kappa = eps``, row ``e_k >= -y_k x_k^T Sigma_k``.

At a solution ``u_k = |Pi Sigma_k|`` and each sample's term is its worst-case loss with the gates fixed.
This is the conic form of :mod:`solvers.ipm_robust` / :mod:`solvers.ipm_robust_losses` without their
robust cone rows and with one block per gate.

**Dual bound.** Every worst-case loss ``h_k(s)`` is a supremum of affine functions, ``h_k(s) >= Y_k^T s -
psi_k`` for ``Y_k = nu_k x_k + eps q_k Pi u_k`` with ``|u_k|_inf <= 1`` and ``(nu, q)`` in the loss's domain
(:mod:`solvers.robust_losses_dual`; the hinge like the logistic, ``nu_k = -q_k y_k``, ``q_k`` in [0, 1],
with ``psi_k = -q_k``). Without cone rows the Lagrangian's infimum over ``b_j`` is finite exactly when
``|E_j^T sum_k M_kj Y_k|_2 <= beta``, so scaling the point by ``t = min(1, beta / max_j |.|)`` (and the
best smaller t) gives the certified lower bound ``-sum_k psi_k(t nu_k, t q_k)``; the dual point is read off
the multipliers ``z_r`` of the residual rows and ``z_-+`` of ``u_k -+ Pi Sigma_k``: ``Y_k = -(sum_r s_r
z_rk) c_k + Pi (z_-,k - z_+,k)``. Every point is feasible (no constraints), so ``optimal`` means a
certified relative gap within ``tol_gap``.

**Newton system.** Per sample, ``(e_k, u_k)`` touch the blocks only through ``Sigma_k``: their ``(1 + d')``
block - a diagonal plus one rank-one term - is eliminated by Sherman-Morrison, leaving ``C_k`` (d x d) on ``Sigma_k``; the reduced matrix on the
blocks is ``sum_k (M_k M_k^T) (x) C_k`` (gated) or ``sum_k (A_k A_k^T) o (H^T C_k H)`` (SCP), plus each
cone's ``W^{-2}`` with ``t_j`` eliminated: one Cholesky of size ``P d`` (gated) or ``N`` (SCP) per iteration.
Mehrotra's predictor-corrector with Nesterov-Todd scaling from an infeasible start
(:mod:`solvers.core.cones`), data scaled to unit root-mean-square entries.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy import linalg as sla
from scipy.special import expit

from .core.cones import (BlockPoint, NTScaling, interior_point_outcome, mehrotra_step, newton_residual,
                         reduced_solve, refined_direction, run_interior_point, shifted_cholesky)
from .core.dual import certified_gap, dual_scaling
from .core.heap import retains_heap
from .core.options import InteriorPointSettings, check_positive, keyword_signature, settings_from_options
from .result import finish_run
from .robust_losses_dual import _best_scaling, conjugate_sum

__all__ = ["ipm_robust_gated", "RobustGatedIPMSettings", "fixed_gate_dual_bound"]

#: relative diagonal shifts tried, smallest first, when rounding makes the reduced Newton matrix indefinite
#: (late in a run on the SCP program, where many features share few data directions); the refinement on
#: the full Newton equations (:func:`~solvers.core.cones.refined_direction`) absorbs the shift
NEWTON_SHIFTS = (1e-14, 1e-11, 1e-8, 1e-6)

#: the programs this interior point solves
FORMULATIONS = ("robust_gated", "robust_scp")


@dataclass
class RobustGatedIPMSettings(InteriorPointSettings):
    """The options of :func:`ipm_robust_gated` with their defaults: those of every dense interior point, plus
    ``verbose`` (the summary line on stderr) and the registry's generic ``--tol`` (``tol_abs`` / ``tol_rel``:
    when given, ``tol_gap`` becomes their minimum)."""

    verbose: bool = False
    tol_abs: Optional[float] = None
    tol_rel: Optional[float] = None
    solver = "ipm_robust_gated"

    def __post_init__(self):
        if self.tol_abs is not None or self.tol_rel is not None:
            self.tol_gap = min(check_positive(self.solver, "tol", v)
                               for v in (self.tol_abs, self.tol_rel) if v is not None)
        super().__post_init__()
        self.verbose = bool(self.verbose)


# ------------------------------------------------------------------------------------------------------
# the losses: phi, its derivatives, and the residual rows (module docstring)
# ------------------------------------------------------------------------------------------------------
class _LossRows:
    """``phi`` and the rows ``alpha_r e + gamma_r 1^T u + s_r c^T Sigma - b_r >= 0`` of one loss (scaled
    data ``X``, labels ``y``, radius ``eps``); ``c_k = nu_factor_k x_k``."""

    def __init__(self, loss, X, y, eps):
        self.loss = loss
        classify = loss != "squared"
        self.nu_factor = y if classify else np.ones_like(y)
        self.C = self.nu_factor[:, None] * X
        n = y.size
        if loss == "hinge":
            self.alpha, self.gamma, self.signs = np.array([1.0, 1.0]), np.array([0.0, -eps]), np.array([0.0, 1.0])
            self.b = np.vstack([np.zeros(n), np.ones(n)])
            self.kappa = 0.0
        elif loss == "squared":
            self.alpha, self.gamma, self.signs = np.ones(2), np.zeros(2), np.array([1.0, -1.0])
            self.b = np.vstack([y, -y])
            self.kappa = eps
        else:
            self.alpha, self.gamma, self.signs = np.ones(1), np.zeros(1), np.ones(1)
            self.b = np.zeros((1, n))
            self.kappa = eps
        self.slope_rows = self.signs != 0
        #: the hinge's margin row, the one row with u in it (a rank-one term of the per-sample matrix)
        self.coupled = 1 if loss == "hinge" else None

    def derivatives(self, m):
        """``phi'(m)`` and ``phi''(m)``."""
        if self.loss == "hinge":
            return np.ones_like(m), np.zeros_like(m)
        if self.loss == "squared":
            return m, np.ones_like(m)
        s = expit(m)
        return s, s * (1.0 - s)


# ------------------------------------------------------------------------------------------------------
# the gates: Sigma_k = sum_j M_kj E_j b_j, its adjoint and the reduced Newton matrix
# ------------------------------------------------------------------------------------------------------
class _GatedMap:
    """Gated program: ``b_j = u_j`` (d), ``Sigma = D B^T``."""

    def __init__(self, M, d):
        self.M, self.m, self.J = M, d, M.shape[1]

    def sigma(self, B):
        return self.M @ B.T

    def adjoint(self, G):
        """``sum_k M_kj G_k`` per block (d x J) for per-sample vectors ``G`` (n x d)."""
        return G.T @ self.M

    def reduced(self, C):
        """``sum_k (M_k M_k^T) (x) C_k`` as (J, d, J, d)."""
        n, J, d = self.M.shape[0], self.J, self.m
        pair = (self.M[:, :, None] * self.M[:, None, :]).reshape(n, J * J)
        return (pair.T @ C.reshape(n, d * d)).reshape(J, J, d, d).transpose(0, 2, 1, 3)


class _FeatureMap:
    """Random-feature program: ``b_j = theta_j`` (1), ``Sigma_k = H (A_k o theta)``."""

    def __init__(self, M, H):
        self.M, self.H, self.m, self.J = M, H, 1, M.shape[1]

    def sigma(self, B):
        return (self.M * B[0][None, :]) @ self.H.T

    def adjoint(self, G):
        return np.sum(self.M * (G @ self.H), axis=0)[None, :]

    def reduced(self, C):
        """``sum_k A_kj A_kl h_j^T C_k h_l`` as (J, 1, J, 1)."""
        Q = np.einsum("aj,kab,bl->kjl", self.H, C, self.H, optimize=True)
        K = np.einsum("kj,kl,kjl->jl", self.M, self.M, Q, optimize=True)
        return K[:, None, :, None]


class _Data:
    """The scaled program: ``X / sx``, for the squared loss ``y / sy`` (``sy = 1`` otherwise), ``eps / sx`` and
    ``beta / (sx sy)``; the blocks in original units are ``sy B / sx`` and the objective ``sy^2`` times the
    scaled one. Variables ``x = (B m x J, t J, e n, U n x d')``; orthant rows: the loss rows (R x n), then
    ``U -+ Pi Sigma`` (n x d' each); one second-order cone ``(t_j, b_j)`` per block."""

    def __init__(self, program):
        X = np.asarray(program.X, float)
        self.sx = max(float(np.sqrt(np.mean(X * X))), 1e-300)
        self.X = X / self.sx
        self.n, self.d = X.shape
        y = np.asarray(program.y, float)
        self.loss = program.loss.name
        scale = float(np.sqrt(np.mean(y * y))) if self.loss == "squared" else 1.0
        self.sy = scale if scale > 0 else 1.0
        self.pmask = program.perturbed_mask
        self.p = int(self.pmask.sum())
        self.eps = program.epsilon_value / self.sx
        self.beta = program.beta_value / (self.sx * self.sy)
        self.rows = _LossRows(self.loss, self.X, y / self.sy, self.eps)
        if program.formulation == "robust_gated":
            self.gates = _GatedMap(program.D, self.d)
        else:
            self.gates = _FeatureMap(program.A, program.H)
        self.m, self.J = self.gates.m, self.gates.J
        R, n, p = self.rows.signs.size, self.n, self.p
        self.sizes = (R * n, n * p, n * p)
        self.orthant = int(sum(self.sizes))
        self.degree = self.orthant + self.J

    def split(self, v):
        """An orthant vector as (loss rows R x n, n x d', n x d')."""
        R, n, p = self.rows.signs.size, self.n, self.p
        parts = np.split(v, np.cumsum(self.sizes)[:-1])
        return parts[0].reshape(R, n), parts[1].reshape(n, p), parts[2].reshape(n, p)

    def margins(self, e, U):
        """``m_k = e_k + kappa 1^T u_k``, the argument of phi."""
        return e + self.rows.kappa * U.sum(axis=1)

    def G(self, x):
        """``G x`` as (orthant part, cone part 0, cone part 1): minus each row's linear part."""
        B, t, e, U = x
        rows = self.rows
        Sig = self.gates.sigma(B)
        SigP = Sig[:, self.pmask]
        fit = np.einsum("kd,kd->k", rows.C, Sig)
        loss_rows = (rows.alpha[:, None] * e[None, :] + rows.gamma[:, None] * U.sum(axis=1)[None, :]
                     + rows.signs[:, None] * fit[None, :])
        return -np.concatenate([loss_rows.ravel(), (U - SigP).ravel(), (U + SigP).ravel()]), -t, -B

    def GT(self, zL, z0, z1):
        """``G^T z`` as the four variable blocks."""
        z_r, z_m, z_p = self.split(zL)
        rows = self.rows
        sig_grad = (rows.signs @ z_r)[:, None] * rows.C
        sig_grad[:, self.pmask] += z_p - z_m
        gB = self.gates.adjoint(sig_grad)
        gU = (rows.gamma @ z_r)[:, None] + z_m + z_p
        return -gB - z1, -z0, -(rows.alpha @ z_r), -gU

    def h(self):
        out = np.zeros(self.orthant)
        out[:self.sizes[0]] = -self.rows.b.ravel()
        return out

    def gradient(self, x):
        """``phi'(m_k)`` on ``e_k``, ``kappa phi'(m_k)`` on every ``u_k``, beta on t."""
        B, t, e, U = x
        f1, _ = self.rows.derivatives(self.margins(e, U))
        return (np.zeros_like(B), np.full(self.J, self.beta), f1,
                np.repeat(self.rows.kappa * f1[:, None], self.p, axis=1))

    def weights(self, B, program):
        """The blocks in original units as the program's weights dict."""
        B = B * (self.sy / self.sx)
        return {"U": B} if program.formulation == "robust_gated" else {"theta": B[0]}

    def dual_point(self, zL):
        """``(nu, q, U)`` in original units from the orthant multipliers (module docstring)."""
        rows = self.rows
        z_r, z_m, z_p = self.split(zL)
        nu = -(rows.signs @ z_r) * rows.nu_factor
        q = z_r[rows.slope_rows].sum(axis=0)
        slope = z_m - z_p
        U = np.zeros((self.n, self.d))
        if self.eps > 0:
            q = np.maximum(q, np.abs(slope).max(axis=1, initial=0.0) / self.eps)
            U[:, self.pmask] = slope / (self.eps * np.where(q > 0, q, 1.0)[:, None])
        return self.sy * nu, self.sy * q, U


# ------------------------------------------------------------------------------------------------------
# the dual bound (original units)
# ------------------------------------------------------------------------------------------------------
def _normalise(loss, y, nu, q, U, pmask):
    """The dual point moved into its domain: ``U`` clipped to [-1, 1] and zero off ``Pi``; squared:
    ``q >= |nu|``; hinge and logistic: ``q`` in [0, 1] and ``nu = -q y``."""
    U = np.clip(np.asarray(U, float), -1.0, 1.0) * pmask[None, :]
    q = np.asarray(q, float)
    if loss == "squared":
        nu = np.asarray(nu, float)
        return nu, np.maximum(q, np.abs(nu)), U
    q = np.clip(q, 0.0, 1.0)
    return -q * y, q, U


def block_residual_norms(program, Y):
    """``|E_j^T sum_k M_kj Y_k|_2`` per block: gated ``|(Y^T D)_j|``, SCP ``|h_j^T sum_k A_kj Y_k|``."""
    if program.formulation == "robust_gated":
        return np.linalg.norm(Y.T @ program.D, axis=0)
    return np.abs(np.sum(program.A * (Y @ program.H), axis=0))


def fixed_gate_dual_bound(program, nu, q, U):
    """Certified lower bound on the optimum of a robust gated / robust SCP program from any dual point
    ``(nu, q, U)`` (moved into its domain first; module docstring). Returns (bound, t)."""
    loss, y = program.loss.name, program.y
    nu, q, U = _normalise(loss, y, nu, q, U, program.perturbed_mask)
    Y = nu[:, None] * program.X + program.epsilon_value * q[:, None] * U
    t_max = dual_scaling(float(block_residual_norms(program, Y).max(initial=0.0)), program.beta_value)
    if loss == "hinge":  # the bound t 1^T q grows with t
        return t_max * float(q.sum()), t_max
    t = _best_scaling(loss, y, nu, q, t_max)
    return -conjugate_sum(loss, y, t * nu, t * q), t


# ------------------------------------------------------------------------------------------------------
# the Newton system
# ------------------------------------------------------------------------------------------------------
class _Newton:
    """``H + G^T W^{-2} G`` at one point and scaling (H: phi's Hessian), with the samples' ``(e_k, u_k)`` and
    the cones' ``t_j`` eliminated and the reduced matrix on the blocks factorised once."""

    def __init__(self, data, nt, x, zL, sL):
        self.data, self.nt = data, nt
        _, self.curvature = data.rows.derivatives(data.margins(x[2], x[3]))
        h_r, h_m, h_p = data.split(zL / sL)
        C = self._eliminate_samples(h_r, h_m, h_p)
        J, m = data.J, data.m
        K = data.gates.reduced(C).copy()
        Wi2 = nt.inverse_squared()
        self.Wtt = Wi2[:, 0, 0]
        self.Wbt = Wi2[:, 1:, 0]
        idx = np.arange(J)
        K[idx, :, idx, :] += self._cone_schur(nt)
        self.K = K.reshape(J * m, J * m)
        self.cho = shifted_cholesky(self.K, NEWTON_SHIFTS)

    @staticmethod
    def _cone_schur(nt):
        r"""Each cone's ``W^{-2}`` with ``t_j`` eliminated, the (J, m, m) matrices on ``b_j``: the inverse of the
        ``b``-block of ``W^2`` (a Schur complement of an inverse is the inverse of the block), formed without
        the subtraction ``W^{-2}_bb - W^{-2}_bt W^{-2}_tb / W^{-2}_tt``, which cancels catastrophically when the
        cone point nears its boundary (``W = b_w [[w0, w1^T], [w1, I + w1 w1^T / (1 + w0)]]``)."""
        J, m = nt.w0.size, nt.w1.shape[0]
        W = np.empty((J, m + 1, m + 1))
        W[:, 0, 0] = nt.w0
        W[:, 0, 1:] = W[:, 1:, 0] = nt.w1.T
        W[:, 1:, 1:] = np.eye(m)[None] + np.einsum("ij,kj->jik", nt.w1, nt.w1) / (1.0 + nt.w0)[:, None, None]
        W *= nt.bw[:, None, None]
        return np.linalg.inv((W @ W)[:, 1:, 1:])

    def _eliminate_samples(self, h_r, h_m, h_p):
        r"""Per sample the quadratic ``phi'' (e + kappa 1^T u)^2 + sum_r h_r (alpha_r e + gamma_r 1^T u + s_r
        c^T Sigma)^2 + sum_i h_-+ (u_i -+ Sigma_i)^2`` in ``y = (e, u)`` and ``Sigma``. Its ``Hyy`` is a positive
        diagonal (the rows without ``u``, and ``h_- + h_+`` on ``u``) plus one rank-one term ``omega w w^T``
        - the hinge row with ``gamma = -eps`` (hinge), or ``phi''`` along ``(1, kappa 1)`` (squared, logistic)
        - inverted by Sherman-Morrison (:meth:`_yy_solve`); keeps ``F = Hyy^{-1} HyS`` for the
        back-substitution and returns the Schur complements ``C_k`` (n, d, d)."""
        data, rows = self.data, self.data.rows
        p = data.p
        cols, ip = np.flatnonzero(data.pmask), 1 + np.arange(p)
        plain = np.ones(rows.signs.size, dtype=bool)
        if rows.coupled is not None:
            c = rows.coupled
            plain[c] = False
            weight, direction = h_r[c], np.concatenate([[rows.alpha[c]], np.full(p, rows.gamma[c])])
        else:
            weight, direction = self.curvature, np.concatenate([[1.0], np.full(p, rows.kappa)])
        diagonal = np.concatenate([((rows.alpha[plain] ** 2) @ h_r[plain])[:, None], h_m + h_p], axis=1)
        self.yy_diagonal_inverse = 1.0 / diagonal
        self.yy_rank_one = direction
        self.yy_direction = self.yy_diagonal_inverse * direction[None, :]
        self.yy_weight = weight / (1.0 + weight * (self.yy_direction @ direction))
        Qr = np.concatenate([rows.alpha[:, None], np.repeat(rows.gamma[:, None], p, axis=1)], axis=1)  # (R, 1+p)
        HyS = np.einsum("rk,ra,kd->kad", h_r * rows.signs[:, None], Qr, rows.C, optimize=True)
        HyS[:, ip, cols] += h_p - h_m
        self.HyS = HyS
        self.F = self._yy_solve(HyS)
        return self._schur_complements(h_r, h_m, h_p, weight, direction)

    def _schur_complements(self, h_r, h_m, h_p, weight, direction):
        r"""The Schur complements ``C_k = HSS - HyS^T Hyy^{-1} HyS`` as a sum of semidefinite terms, without
        the subtraction (which cancels once the weights ``h = z / s`` span many orders of magnitude).

        Minimising the per-sample quadratic over ``(e, u)`` with the coupling row ``omega (e + w_u 1^T u +
        v^T Sigma)^2`` written as ``max_lam 2 lam (.) - lam^2 / omega``: each ``u_i`` leaves
        ``G_i sigma_i^2 + 2 lam w_u R_i sigma_i - lam^2 w_u^2 / S_i`` (``S = h_- + h_+``, ``G = 4 h_- h_+ / S``,
        ``R = (h_- - h_+) / S``, ``sigma = Pi Sigma``); ``e`` with the other rows ``h_r (e + s_r rho)^2``
        (``rho = c^T Sigma``) leaves ``E rho^2 - 2 lam (Dr / Hr) rho - lam^2 / Hr`` (``Hr = sum h_r``,
        ``Dr = sum h_r s_r``, ``E = sum_{r<r'} h_r h_r' (s_r - s_r')^2 / Hr``, Lagrange's identity); maximising
        over ``lam`` gives

        .. math:: C = E\, c c^T + \mathrm{diag}_\Pi(G) + \frac{\omega}{1 + \omega (1/H_r + w_u^2 \sum_i 1/S_i)}\, g g^T,
            \quad g = v - (D_r/H_r) c + w_u \Pi R ."""
        data, rows = self.data, self.data.rows
        cols = np.flatnonzero(data.pmask)
        plain = np.ones(rows.signs.size, dtype=bool)
        if rows.coupled is not None:
            plain[rows.coupled] = False
        hp_rows, s_plain = h_r[plain], rows.signs[plain]
        Hr = hp_rows.sum(axis=0)
        Dr = s_plain @ hp_rows
        E = sum(hp_rows[a] * hp_rows[b] * (s_plain[a] - s_plain[b]) ** 2
                for a, b in itertools.combinations(range(s_plain.size), 2)) / Hr
        S = h_m + h_p
        G = 4.0 * h_m * h_p / S
        R = (h_m - h_p) / S
        w_u = direction[1] if data.p else 0.0
        v = rows.signs[rows.coupled] * rows.C if rows.coupled is not None else 0.0
        g = v - (Dr / Hr)[:, None] * rows.C
        g[:, cols] += w_u * R
        coupling = weight / (1.0 + weight * (1.0 / Hr + w_u ** 2 * (1.0 / S).sum(axis=1)))
        C = (np.asarray(E) * np.ones(data.n))[:, None, None] * rows.C[:, :, None] * rows.C[:, None, :]
        C[:, cols, cols] += G
        return C + coupling[:, None, None] * g[:, :, None] * g[:, None, :]

    def _yy_solve(self, rhs):
        """``Hyy^{-1} rhs`` per sample (``rhs``: (n, 1+d', k)): with ``Hyy = Delta + omega w w^T``,
        ``Delta^{-1} rhs - (omega / (1 + omega w^T Delta^{-1} w)) (Delta^{-1} w) (w^T Delta^{-1} rhs)``."""
        scaled = self.yy_diagonal_inverse[:, :, None] * rhs
        along = np.einsum("a,kaj->kj", self.yy_rank_one, scaled) * self.yy_weight[:, None]
        return scaled - self.yy_direction[:, :, None] * along[:, None, :]

    def solve_x(self, rx):
        """``(H + G^T W^{-2} G) dx = rx`` through the reduced system (one refinement step)."""
        data = self.data
        rB, rt, re, rU = rx
        ty = self._yy_solve(np.concatenate([re[:, None], rU], axis=1)[:, :, None])[:, :, 0]
        rB = rB - data.gates.adjoint(np.einsum("kai,ka->ki", self.HyS, ty)) - self.Wbt.T * (rt / self.Wtt)
        rhs = rB.T.ravel()
        sol = sla.cho_solve(self.cho, rhs, check_finite=False)
        sol += sla.cho_solve(self.cho, rhs - self.K @ sol, check_finite=False)
        dB = sol.reshape(data.J, data.m).T
        dt = (rt - np.einsum("aj,aj->j", self.Wbt.T, dB)) / self.Wtt
        dy = ty - np.einsum("kai,ki->ka", self.F, data.gates.sigma(dB))
        return dB, dt, dy[:, 0], dy[:, 1:]

    def hessian_times(self, dx):
        data = self.data
        dm = self.curvature * data.margins(dx[2], dx[3])
        return (0.0, 0.0, dm, np.repeat(data.rows.kappa * dm[:, None], data.p, axis=1))

    def direction(self, bx, bz, bs, refinements=3):
        """Solve ``H dx + G^T dz = bx``, ``G dx + ds = bz``, ``lambda o (W dz + W^{-T} ds) = bs``, refined on
        these full equations."""
        return refined_direction(self._solve, self._kkt_residual, bx, bz, bs, 4, refinements)

    def _kkt_residual(self, step, bx, bz, bs):
        return newton_residual(self.data, self.nt, step, bx, bz, bs, self.hessian_times)

    def _solve(self, bx, bz, bs):
        return reduced_solve(self.data, self.nt, self.solve_x, bx, bz, bs)


# ------------------------------------------------------------------------------------------------------
# the iteration, the bound and the run
# ------------------------------------------------------------------------------------------------------
def _start(data):
    """An infeasible interior start: x = 0, every slack and multiplier at the cones' identity."""
    m, J, n, p = data.m, data.J, data.n, data.p
    x = (np.zeros((m, J)), np.zeros(J), np.zeros(n), np.zeros((n, p)))
    return BlockPoint(x, np.ones(data.orthant), np.ones(J), np.zeros((m, J)), np.ones(data.orthant), np.ones(J),
                  np.zeros((m, J)))


def _iterate(data, p, h):
    nt = NTScaling(p.sL, p.zL, p.s0, p.s1, p.z0, p.z1)
    gL, g0, g1 = data.G(p.x)
    bz = (-(gL + p.sL - h), -(g0 + p.s0), -(g1 + p.s1))
    bx = tuple(-(c + g) for c, g in zip(data.gradient(p.x), data.GT(p.zL, p.z0, p.z1)))
    return mehrotra_step(p, _Newton(data, nt, p.x, p.zL, p.sL), nt, bx, bz, data.degree, n_x=4)


class _Bounds:
    """The best primal point (every point is feasible) and the best certified bound seen so far."""

    def __init__(self, program, data):
        self.program, self.data = program, data
        self.primal, self.weights, self.dual, self.multipliers = np.inf, None, -np.inf, None

    def update(self, p):
        program, data = self.program, self.data
        weights = data.weights(p.x[0], program)
        objective = float(program.objective(weights))
        if objective < self.primal:
            self.primal, self.weights = objective, weights
        nu, q, U = data.dual_point(p.zL)
        bound, _ = fixed_gate_dual_bound(program, nu, q, U)
        if bound > self.dual:
            self.dual, self.multipliers = bound, (nu, q, U)

    def gap(self):
        return certified_gap(self.primal, self.dual) if self.weights is not None and np.isfinite(self.dual) else None


def _solve(program, settings):
    t_start = time.perf_counter()
    data = _Data(program)
    bounds = _Bounds(program, data)
    h = data.h()
    status, iterations, stopped_by = run_interior_point(_start(data), lambda p: _iterate(data, p, h),
                                                        bounds, settings, data.degree, t_start)
    weights = bounds.weights if bounds.weights is not None else program.zero_weights()
    status, info = interior_point_outcome(status, bounds, settings.tol_gap, stopped_by,
                                          multipliers=bounds.multipliers)
    return finish_run(program, weights, status=status, solver="ipm_robust_gated", iterations=iterations,
                      solve_time_s=time.perf_counter() - t_start, info=info, verbose=settings.verbose)


@retains_heap
def ipm_robust_gated(program, **options):
    r"""Solve a :class:`~formulations.robust_unconstrained.RobustGatedReLUProgram` or
    :class:`~formulations.robust_unconstrained.RobustSCPProgram` (hinge, squared or logistic loss) by the
    interior point of this module: cost ``O(n (P d)^2 d + (P d)^3 / 3)`` per iteration on the gated program,
    ``O(n N^2 d + N^3 / 3)`` on the SCP program - for small and medium programs.

    Options (:class:`RobustGatedIPMSettings`): ``tol_gap`` (1e-7), the certified relative duality gap to stop
    at; ``feas_tol`` (unused: the programs have no constraints); ``max_iter`` (100); ``time_limit`` (None);
    ``verbose`` (False); ``tol_abs`` / ``tol_rel`` (None: the registry's ``--tol``).

    Returns a SolveResult (``solver = "ipm_robust_gated"``) at the best iterate, ``optimal`` only with a
    certified gap; ``info``: duality_gap_rel, dual_bound, multipliers ``(nu, q, U)`` of the best bound,
    certified, stopped_by."""
    from formulations.robust_unconstrained import RobustGatedReLUProgram, RobustSCPProgram
    if not isinstance(program, (RobustGatedReLUProgram, RobustSCPProgram)):
        raise ValueError(f"ipm_robust_gated solves the {' and '.join(FORMULATIONS)} programs; got "
                         f"{type(program).__name__}")
    settings = settings_from_options("ipm_robust_gated", RobustGatedIPMSettings, options)
    return _solve(program, settings)


ipm_robust_gated.__signature__ = keyword_signature(RobustGatedIPMSettings)
