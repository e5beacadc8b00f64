r"""A primal-dual interior point for the robust (l_inf adversarial) program with the squared or the logistic
loss, for small programs such as the working sets of :mod:`solvers.working_set` (docs/math.md 7.2).

The robust program of :mod:`formulations.robust` (blocks ``a_j``, j = 1..2P, ``Dpm = [D, -D]``,
``S2 = [S, S]``, ``Sigma_k = sum_j Dpm_kj a_j``, ``Pi`` the perturbed coordinates) with one epigraph
variable ``e_k`` for the loss's residual, one l1 epigraph per sample (``u_k``) and per block (``r_j``):

.. math::
    \min\ \sum_k f(e_k + \epsilon 1^T u_k) + \beta\, 1^T t \quad\text{s.t.}\quad
    e_k + s (c_k^T \Sigma_k - b_k) \ge 0\ (s \in \text{signs}),\quad u_k \pm \Pi\Sigma_k \ge 0,

.. math::
    S2_{kj}\, x_k^T a_j - \epsilon 1^T r_j \ge 0,\quad r_j \pm \Pi a_j \ge 0,\quad (t_j, a_j) \in \mathcal Q^{d+1},

squared: ``f(m) = m^2 / 2``, ``c_k = x_k``, ``b_k = y_k``, signs ``+-1`` (``e_k >= |x_k^T Sigma_k - y_k|``);
logistic: ``f(m) = log(1 + e^m)``, ``c_k = y_k x_k``, ``b_k = 0``, sign ``+1`` (``e_k >= -y_k x_k^T Sigma_k``).
At a solution ``u_k = |Pi Sigma_k|``, ``r_j = |Pi a_j|`` and ``f(e_k + eps 1^T u_k)`` is the worst-case loss
(f is increasing where it matters). The loss stays in the objective, smooth in ``(e, u)``.

Multipliers: with ``z_s`` on the residual rows and ``z_-+`` on ``u_k -+ Pi Sigma_k``, the gradient of the
worst-case loss at ``Sigma_k`` is ``Y_k = -sum_s s z_s,k c_k + Pi (z_-,k - z_+,k)`` and stationarity in
``(e_k, u_k)`` gives ``sum_s z_s,k = f'(m_k) = q_k`` and ``z_- + z_+ = eps q_k``: the dual point ``(nu, q,
U)`` of :mod:`solvers.robust_losses_dual` (``nu_k = -sum_s s z_s,k`` times 1 or ``y_k``), and the cone
rows' multipliers are its ``lambda``; every iterate gives a certified lower bound.

Algorithm: Mehrotra's predictor-corrector with Nesterov-Todd scaling (:mod:`solvers.core.cones`) from an
infeasible start, the smooth loss's Hessian added to the Newton matrix as in :mod:`solvers.ipm_dense`. The
per-sample variables ``(e_k, u_k)`` touch the blocks only through ``Sigma_k`` and the loss's Hessian
``f''(m_k) (1, eps 1)(1, eps 1)^T`` stays inside them, so each sample's ``(1 + d')``-block is eliminated
(a diagonal plus that rank one: Sherman-Morrison, ``O(d')`` per sample), leaving ``sum_k (Dpm_k Dpm_k^T)
(x) C_k`` on the blocks; each block's ``(r_j, t_j)`` are eliminated too: one Cholesky of size ``2P d`` per
iteration (the structure of :mod:`solvers.ipm_robust`).
"""
from __future__ import annotations

import time

import numpy as np
from scipy import linalg as sla
from scipy.special import expit

from .core.cones import (BlockPoint, NTScaling, interior_point_outcome, mehrotra_step, newton_residual,
                         reduced_solve, refined_direction, run_interior_point, shifted_cholesky)
from .core.dual import certified_gap
from .core.heap import retains_heap
from .core.operators import PatternMaps
from .core.options import InteriorPointSettings, keyword_signature, settings_from_options
from .ipm_robust import RobustBounds, block_rr_solve, eliminate_block_variables
from .result import finish_run
from .robust_losses_dual import (LOSSES, normalise_dual_point, restore_cone_multipliers, robust_loss_bound,
                                  slope_multipliers)

__all__ = ["ipm_robust_losses", "RobustLossesIPMSettings"]


class RobustLossesIPMSettings(InteriorPointSettings):
    """The options of :func:`ipm_robust_losses` with their defaults (those of every dense interior point)."""

    solver = "ipm_robust_losses"


# ------------------------------------------------------------------------------------------------------
# the losses: f, its derivatives, and the residual rows
# ------------------------------------------------------------------------------------------------------
class _SquaredModel:
    """``f(m) = m^2 / 2``; rows ``e_k +- (x_k^T Sigma_k - y_k) >= 0``."""

    signs = (1.0, -1.0)

    def __init__(self, X, y):
        self.C, self.b, self.nu_factor = X, y, np.ones_like(y)

    @staticmethod
    def derivatives(m):
        return m, np.ones_like(m)


class _LogisticModel:
    """``f(m) = log(1 + e^m)``; row ``e_k + y_k x_k^T Sigma_k >= 0``."""

    signs = (1.0,)

    def __init__(self, X, y):
        self.C, self.b, self.nu_factor = y[:, None] * X, np.zeros_like(y), y

    @staticmethod
    def derivatives(m):
        s = expit(m)
        return s, s * (1.0 - s)


_MODELS = {"squared": _SquaredModel, "logistic": _LogisticModel}


class _Data(PatternMaps):
    """Data scaled to unit root-mean-square entries: ``X / sx``, and for the squared loss the labels ``y / sy``
    (``sy = 1`` for the logistic), with ``eps / sx`` and ``beta / (sx sy)``; then ``A = sy A_s / sx``, the
    objective is ``sy^2`` times the scaled one and the multipliers ``(nu, q, lambda)`` are ``sy`` times the
    scaled ones (``U`` is unit-free). Also the loss's rows and the sizes of the variables and the rows.

    Variables ``x = (A d x J, R d' x J, t J, e n, U n x d')``. Orthant rows, in this order: the residual rows
    (n per sign), ``U -+ Pi Sigma`` (n d' each), the cone rows (n J), ``R -+ Pi A`` (d' J each)."""

    def __init__(self, program):
        X = np.asarray(program.X, float)
        self.sx = max(float(np.sqrt(np.mean(X * X))), 1e-300)
        super().__init__(X / self.sx, program.D)
        self.loss = program.loss.name
        y = np.asarray(program.y, float)
        label_scale = float(np.sqrt(np.mean(y * y))) if self.loss == "squared" else 1.0
        self.sy = label_scale if label_scale > 0 else 1.0
        self.model = _MODELS[self.loss](self.X, y / self.sy)
        self.J = self.Dpm.shape[1]
        self.pmask = program.perturbed_mask
        self.p = int(self.pmask.sum())
        self.eps = program.epsilon_value / self.sx
        self.beta = program.beta_value / (self.sx * self.sy)
        n, p, J, k = self.n, self.p, self.J, len(self.model.signs)
        self.signs = np.asarray(self.model.signs)
        self.sizes = (k * n, n * p, n * p, n * J, p * J, p * J)
        self.orthant = int(sum(self.sizes))
        self.degree = self.orthant + J

    def split(self, v):
        """An orthant vector as its six row groups, shaped (signs x n, n x d', n x d', n x J, d' x J, d' x J)."""
        n, p, J = self.n, self.p, self.J
        parts = np.split(v, np.cumsum(self.sizes)[:-1])
        shapes = ((self.signs.size, n), (n, p), (n, p), (n, J), (p, J), (p, J))
        return [part.reshape(shape) for part, shape in zip(parts, shapes)]

    def sigma(self, A):
        return self.Dpm @ A.T

    def margins(self, e, U):
        """``m_k = e_k + eps 1^T u_k``, the argument of f."""
        return e + self.eps * U.sum(axis=1)

    def G(self, x):
        """``G x`` as (orthant part, cone part 0, cone part 1): minus each row's linear part."""
        A, R, t, e, U = x
        Sig = self.sigma(A)
        SigP, AP = Sig[:, self.pmask], A[self.pmask]
        fit = np.einsum("kd,kd->k", self.model.C, Sig)
        rows = (e[None, :] + self.signs[:, None] * fit[None, :], U - SigP, U + SigP,
                self.S2 * (self.X @ A) - self.eps * R.sum(axis=0)[None, :], R - AP, R + AP)
        return -np.concatenate([r.ravel() for r in rows]), -t, -A

    def GT(self, zL, z0, z1):
        """``G^T z`` as the five variable blocks."""
        z_r, z_m, z_p, z_c, z_rm, z_rp = self.split(zL)
        sig_grad = (self.signs @ z_r)[:, None] * self.model.C
        sig_grad[:, self.pmask] += z_p - z_m
        gA = sig_grad.T @ self.Dpm + self.X.T @ (self.S2 * z_c)
        gA[self.pmask] += z_rp - z_rm
        gR = z_rm + z_rp - self.eps * z_c.sum(axis=0)[None, :]
        return -gA - z1, -gR, -z0, -z_r.sum(axis=0), -(z_m + z_p)

    def h(self):
        """The rows' constants: ``-s b`` on the residual rows, zero elsewhere."""
        out = np.zeros(self.orthant)
        out[:self.sizes[0]] = -(self.signs[:, None] * self.model.b[None, :]).ravel()
        return out

    def gradient(self, x):
        """The objective's gradient: ``f'(m_k)`` on ``e_k``, ``eps f'(m_k)`` on every ``u_k``, beta on t."""
        A, R, t, e, U = x
        f1, _ = self.model.derivatives(self.margins(e, U))
        return (np.zeros_like(A), np.zeros_like(R), np.full(self.J, self.beta), f1,
                np.repeat(self.eps * f1[:, None], self.p, axis=1))

    def weights(self, A):
        """The blocks in original units, ``sy A / sx``."""
        return A * (self.sy / self.sx)

    def dual_point(self, zL):
        """``(nu, q, U, lambda)`` of :mod:`solvers.robust_losses_dual` (original units) from the orthant
        multipliers (module docstring); for the squared loss ``q`` is raised to what represents ``Y_k``
        exactly."""
        z_r, z_m, z_p, z_c, _, _ = self.split(zL)
        nu = -(self.signs @ z_r) * self.model.nu_factor
        q = z_r.sum(axis=0)
        slope = z_m - z_p
        if self.eps > 0 and self.loss == "squared":
            q = np.maximum(q, np.abs(slope).max(axis=1, initial=0.0) / self.eps)
        U = np.zeros((self.n, self.d))
        if self.eps > 0:
            U[:, self.pmask] = slope / (self.eps * np.where(q > 0, q, 1.0)[:, None])
        return self.sy * nu, self.sy * q, U, self.sy * np.maximum(z_c, 0.0)


# ------------------------------------------------------------------------------------------------------
# the Newton system
# ------------------------------------------------------------------------------------------------------
class _Newton:
    """``H + G^T W^{-2} G`` at one point and scaling (H: the loss's Hessian), with the per-sample variables
    eliminated and the reduced matrix on the blocks' ``(a_j, r_j, t_j)`` factorised once."""

    def __init__(self, data, nt, x, zL, sL):
        self.data, self.nt = data, nt
        n, d, J = data.n, data.d, data.J
        _, f2 = data.model.derivatives(data.margins(x[3], x[4]))
        self.curvature = f2
        h_r, h_m, h_p, h_c, h_rm, h_rp = data.split(zL / sL)
        C = self._eliminate_samples(f2, h_r, h_m, h_p)
        pair = (data.Dpm[:, :, None] * data.Dpm[:, None, :]).reshape(n, J * J)
        K = (pair.T @ C.reshape(n, d * d)).reshape(J, J, d, d).transpose(0, 2, 1, 3).copy()
        idx = np.arange(J)
        K[idx, :, idx, :] += self._eliminate_block_variables(h_c, h_rm, h_rp, nt.inverse_squared())
        self.K = K.reshape(J * d, J * d)
        self.cho = shifted_cholesky(self.K)

    def _eliminate_samples(self, f2, h_r, h_m, h_p):
        r"""Per sample, the quadratic ``f'' (e + eps 1^T u)^2 + sum_s h_s (e + s c^T Sigma)^2 + sum_i h_-+ (u_i
        -+ Sigma_i)^2`` in ``y = (e, u)`` and ``Sigma``. Its ``Hyy`` is a positive diagonal plus the rank one
        ``f'' q q^T`` (``q = (1, eps 1)``), inverted by Sherman-Morrison (:meth:`_yy_solve`); keeps ``F = Hyy^{-1}
        HyS`` for the back-substitution and returns the Schur complements ``C_k`` (n, d, d)."""
        data = self.data
        p, m, C = data.p, 1 + data.p, data.model.C
        cols = np.flatnonzero(data.pmask)
        self.q_y = np.concatenate([[1.0], np.full(p, data.eps)])
        self.yy_diagonal_inverse = 1.0 / np.concatenate([h_r.sum(axis=0)[:, None], h_m + h_p], axis=1)
        self.yy_direction = self.yy_diagonal_inverse * self.q_y[None, :]
        self.yy_weight = f2 / (1.0 + f2 * (self.yy_direction @ self.q_y))
        HyS = np.zeros((data.n, m, data.d))
        HyS[:, 0, :] = (data.signs @ h_r)[:, None] * C
        HyS[:, 1 + np.arange(p), cols] += h_p - h_m
        HSS = h_r.sum(axis=0)[:, None, None] * C[:, :, None] * C[:, None, :]
        HSS[:, cols, cols] += h_m + h_p
        self.F = self._yy_solve(HyS)
        self.HyS = HyS
        return HSS - np.einsum("kmi,kmj->kij", HyS, self.F, optimize=True)

    def _eliminate_block_variables(self, h_c, h_rm, h_rp, Wi2):
        """The blocks' own rows with ``(r_j, t_j)`` eliminated (:func:`solvers.ipm_robust.eliminate_block_variables`),
        keeping the factors for the back-substitution."""
        schur, self.local_ar, self.local_rr, self.Fr = eliminate_block_variables(self.data, h_c, h_rm, h_rp, Wi2)
        return schur

    def _rr_solve(self, rhs):
        return block_rr_solve(self.local_rr, rhs)

    def _yy_solve(self, rhs):
        """``Hyy^{-1} rhs`` per sample (``rhs``: (n, m, k)): with ``Hyy = Delta + f'' q q^T``,
        ``Delta^{-1} rhs - (f'' / (1 + f'' q^T Delta^{-1} q)) (Delta^{-1} q) (q^T Delta^{-1} rhs)``."""
        scaled = self.yy_diagonal_inverse[:, :, None] * rhs
        along = np.einsum("m,kmj->kj", self.q_y, scaled) * self.yy_weight[:, None]
        return scaled - self.yy_direction[:, :, None] * along[:, None, :]

    def solve_x(self, rx):
        """``(H + G^T W^{-2} G) dx = rx``: eliminate the samples' ``(e_k, u_k)`` and the blocks' ``(r_j, t_j)``,
        solve the reduced system on the blocks (one refinement step), recover the rest."""
        data, d, p, J = self.data, self.data.d, self.data.p, self.data.J
        rA, rR, rt, re, rU = rx
        ty = self._yy_solve(np.concatenate([re[:, None], rU], axis=1)[:, :, None])[:, :, 0]
        rA = rA - np.einsum("kmi,km->ki", self.HyS, ty).T @ data.Dpm
        tr = self._rr_solve(np.concatenate([rR.T, rt[:, None]], axis=1)[:, :, None])[:, :, 0]
        rA = rA - np.einsum("jar,jr->aj", self.local_ar, tr)
        rhs = rA.T.ravel()
        sol = sla.cho_solve(self.cho, rhs, check_finite=False)
        sol += sla.cho_solve(self.cho, rhs - self.K @ sol, check_finite=False)
        dA = sol.reshape(J, d).T
        drt = tr - np.einsum("jra,aj->jr", self.Fr, dA)
        dy = ty - np.einsum("kmi,ki->km", self.F, data.sigma(dA))
        return dA, drt[:, :p].T, drt[:, p], dy[:, 0], dy[:, 1:]

    def hessian_times(self, dx):
        """``H dx``: ``f''(m_k) (de_k + eps 1^T du_k)`` on ``e_k`` and eps times it on every ``u_k``."""
        data = self.data
        dm = self.curvature * data.margins(dx[3], dx[4])
        return (0.0, 0.0, 0.0, dm, np.repeat(data.eps * dm[:, None], data.p, axis=1))

    def direction(self, bx, bz, bs, refinements=3):
        """Solve ``H dx + G^T dz = bx``, ``G dx + ds = bz``, ``lambda o (W dz + W^{-T} ds) = bs``, refined on
        these full equations."""
        return refined_direction(self._solve, self._kkt_residual, bx, bz, bs, 5, refinements)

    def _kkt_residual(self, step, bx, bz, bs):
        return newton_residual(self.data, self.nt, step, bx, bz, bs, self.hessian_times)

    def _solve(self, bx, bz, bs):
        return reduced_solve(self.data, self.nt, self.solve_x, bx, bz, bs)


# ------------------------------------------------------------------------------------------------------
# the iteration, the bound and the run
# ------------------------------------------------------------------------------------------------------
def _start(data):
    """An infeasible interior start: x = 0, every slack and multiplier at the cones' identity."""
    d, J, n, p = data.d, data.J, data.n, data.p
    x = (np.zeros((d, J)), np.zeros((p, J)), np.zeros(J), np.zeros(n), np.zeros((n, p)))
    return BlockPoint(x, np.ones(data.orthant), np.ones(J), np.zeros((d, J)), np.ones(data.orthant), np.ones(J),
                  np.zeros((d, J)))


def _iterate(data, p, h):
    """One predictor-corrector step (:func:`~solvers.core.cones.mehrotra_step`) from the residuals ``G x + s -
    h`` and ``grad f + G^T z``; returns (next point, step length)."""
    nt = NTScaling(p.sL, p.zL, p.s0, p.s1, p.z0, p.z1)
    gL, g0, g1 = data.G(p.x)
    bz = (-(gL + p.sL - h), -(g0 + p.s0), -(g1 + p.s1))
    bx = tuple(-(c + g) for c, g in zip(data.gradient(p.x), data.GT(p.zL, p.z0, p.z1)))
    return mehrotra_step(p, _Newton(data, nt, p.x, p.zL, p.sL), nt, bx, bz, data.degree, n_x=5)


class _Bounds(RobustBounds):
    """:class:`~solvers.ipm_robust.RobustBounds` with the robust squared and logistic losses' bound."""

    def update(self, p):
        """Keep the iterate if it is cone-feasible and better; a bound from its multipliers (the cone
        multipliers re-priced by NNLS, blockwise, once the gap is below 1e-2)."""
        program, data = self.program, self.data
        A = data.weights(p.x[0])
        weights = {"V": A[:, :data.P], "W": A[:, data.P:]}
        objective = float(program.objective(weights))
        if program.max_violation(weights) <= self.feas_abs and objective < self.primal:
            self.primal, self.A = objective, A.copy()
        nu, q, U, lam = data.dual_point(p.zL)
        bound, _ = robust_loss_bound(program, nu, q, U, lam)
        if certified_gap(self.primal, bound) < 1e-2:
            nu, q, U = normalise_dual_point(data.loss, program.y, nu, q, U, data.pmask)
            lam = restore_cone_multipliers(program, slope_multipliers(program.X, program.epsilon_value, nu, q, U),
                                           lam)
            bound, _ = robust_loss_bound(program, nu, q, U, lam)
        if bound > self.dual:
            self.dual, self.multipliers = bound, (nu, q, U, lam)


def _solve(program, settings):
    t_start = time.perf_counter()
    data = _Data(program)
    bounds = _Bounds(program, data, settings.feas_tol)
    h = data.h()
    status, iterations, stopped_by = run_interior_point(_start(data), lambda p: _iterate(data, p, h), bounds,
                                                        settings, data.degree, t_start)
    A = bounds.A if bounds.A is not None else np.zeros((data.d, data.J))
    weights = {"V": A[:, :data.P], "W": A[:, data.P:]}
    status, info = interior_point_outcome(status, bounds, settings.tol_gap, stopped_by,
                                          multipliers=bounds.multipliers)
    return finish_run(program, weights, status=status, solver="ipm_robust_losses", iterations=iterations,
                      solve_time_s=time.perf_counter() - t_start, info=info)


@retains_heap
def ipm_robust_losses(program, **options):
    r"""Solve a squared- or logistic-loss :class:`~formulations.robust.RobustReLUProgram` by the interior point of
    this module (cost ``O(n (2dP)^2 + (2dP)^3 / 3)`` per iteration: for small programs and working sets;
    :func:`solvers.working_set` runs it on the patterns in use).

    Options (:class:`RobustLossesIPMSettings`): ``tol_gap`` (1e-7), the certified relative duality gap to stop
    at; ``feas_tol`` (1e-9, times ``max(1, |y|_inf)``), the cone violation accepted for the returned point;
    ``max_iter`` (100); ``time_limit`` (None).

    Returns a SolveResult (``solver = "ipm_robust_losses"``) at the best cone-feasible iterate, ``optimal``
    only with a certified gap; ``info``: duality_gap_rel, dual_bound, multipliers (``(nu, q, U, lambda)`` of
    the best bound, for pricing other patterns), certified, stopped_by."""
    from formulations.robust import RobustReLUProgram
    if not isinstance(program, RobustReLUProgram) or program.loss.name not in LOSSES:
        loss = getattr(getattr(program, "loss", None), "name", None)
        raise ValueError(f"ipm_robust_losses solves the robust program with the squared or logistic loss; got "
                         f"{type(program).__name__}{' with the ' + loss + ' loss' if loss else ''}")
    settings = settings_from_options("ipm_robust_losses", RobustLossesIPMSettings, options)
    return _solve(program, settings)


ipm_robust_losses.__signature__ = keyword_signature(RobustLossesIPMSettings)
