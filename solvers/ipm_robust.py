r"""A primal-dual interior point for the robust (l_inf adversarial) hinge program, for small programs such as
the working sets of :mod:`solvers.working_set` (docs/math.md 7.1).

The robust hinge program of :mod:`formulations.robust` (blocks ``a_j``, j = 1..2P, ``Dpm = [D, -D]``,
``S2 = [S, S]``, ``Sigma_k = sum_j Dpm_kj a_j``, ``w_k = y_k x_k``, ``Pi`` the perturbed coordinates) as a
conic program with one l1 epigraph per sample (``u_k``) and per block (``r_j``):

.. math::
    \min\ 1^T\xi + \beta\, 1^T t \quad\text{s.t.}\quad
    \xi \ge 0,\quad \xi_k + w_k^T\Sigma_k - \epsilon 1^T u_k \ge 1,\quad u_k \pm \Pi\Sigma_k \ge 0,

.. math::
    S2_{kj}\, x_k^T a_j - \epsilon 1^T r_j \ge 0,\quad r_j \pm \Pi a_j \ge 0,\quad (t_j, a_j) \in \mathcal Q^{d+1}.

At a solution ``u_k = |Pi Sigma_k|``, ``r_j = |Pi a_j|`` and ``xi_k`` is the worst-case hinge. The
multipliers give the robust dual point of :mod:`solvers.admm.robust_polish`: with ``z_h`` on the hinge rows
and ``z_+, z_-`` on ``u_k -+ Pi Sigma_k``, ``Y_k = -z_h,k w_k + Pi (z_+,k - z_-,k)`` is a subgradient of the
worst-case hinge (:func:`~solvers.admm.robust_polish.hinge_multipliers` writes it as ``alpha_k (eps Pi u_k -
w_k)``), and the cone rows' multipliers are the ``lambda`` of the bound.

Algorithm: Mehrotra's predictor-corrector with Nesterov-Todd scaling (:mod:`solvers.core.cones`) from an
infeasible start, as :mod:`solvers.ipm_dense`. The Newton system ``G^T W^{-2} G`` has ``n (1 + d')``
per-sample variables ``(xi_k, u_k)`` that touch the blocks only through ``Sigma_k``: each sample's
``(1 + d')``-block is eliminated (a batched dense solve), leaving a ``d x d`` matrix ``C_k`` on ``Sigma_k``
and the reduced matrix ``sum_k (Dpm_k Dpm_k^T) (x) C_k`` on the blocks, plus each block's own terms on
``(a_j, r_j, t_j)``, where ``(r_j, t_j)`` are eliminated block by block too: one Cholesky of size ``2P d``
per iteration, ``O(n (2P d)^2)`` to form - meant for working sets, where 2P is small.
"""
from __future__ import annotations

import time

import numpy as np
from scipy import linalg as sla

from .admm.robust_polish import hinge_multipliers, restore_dual_feasibility, robust_dual_bound
from .core.cones import (BlockPoint, NTScaling, interior_point_outcome, mehrotra_step, newton_residual,
                         reduced_solve, refined_direction, run_interior_point, shifted_cholesky)
from .core.dual import certified_gap
from .core.heap import retains_heap
from .core.operators import PatternMaps
from .core.options import InteriorPointSettings, keyword_signature, settings_from_options
from .result import finish_run

__all__ = ["ipm_robust", "RobustIPMSettings"]

class RobustIPMSettings(InteriorPointSettings):
    """The options of :func:`ipm_robust` with their defaults."""

    solver = "ipm_robust"


class _Data(PatternMaps):
    """Data scaled to unit root-mean-square entries (``X / sx``, ``eps / sx``, ``beta / sx``; the hinge and
    the multipliers are unchanged), the pattern arrays and the sizes of the variables and the rows.

    Variables ``x = (A d x J, R d' x J, t J, xi n, U n x d')``. Orthant rows, in this order: ``xi >= 0`` (n),
    the hinge rows (n), ``U -+ Pi Sigma`` (n d' each), the cone rows (n J), ``R -+ Pi A`` (d' J each)."""

    def __init__(self, program):
        X = np.asarray(program.X, float)
        self.sx = max(float(np.sqrt(np.mean(X * X))), 1e-300)
        super().__init__(X / self.sx, program.D)
        self.n, self.d = self.X.shape
        self.J = self.Dpm.shape[1]
        self.pmask = program.perturbed_mask
        self.p = int(self.pmask.sum())
        self.eps = program.epsilon_value / self.sx
        self.beta = program.beta_value / self.sx
        self.Wy = program.y[:, None] * self.X
        n, p, J = self.n, self.p, self.J
        self.sizes = (n, n, n * p, n * p, n * J, p * J, p * J)
        self.orthant = int(sum(self.sizes))
        self.degree = self.orthant + J

    def split(self, v):
        """An orthant vector as its seven row groups, shaped (n, n, n x d', n x d', n x J, d' x J, d' x J)."""
        n, p, J = self.n, self.p, self.J
        parts = np.split(v, np.cumsum(self.sizes)[:-1])
        shapes = ((n,), (n,), (n, p), (n, p), (n, J), (p, J), (p, J))
        return [part.reshape(shape) for part, shape in zip(parts, shapes)]

    def sigma(self, A):
        return self.Dpm @ A.T

    def G(self, x):
        """``G x`` as (orthant part, cone part 0, cone part 1): minus each row's linear part."""
        A, R, t, xi, U = x
        Sig = self.sigma(A)
        SigP = Sig[:, self.pmask]
        AP = A[self.pmask]
        rows = (xi, xi + np.einsum("kd,kd->k", self.Wy, Sig) - self.eps * U.sum(axis=1), U - SigP, U + SigP,
                self.S2 * (self.X @ A) - self.eps * R.sum(axis=0)[None, :], R - AP, R + AP)
        return -np.concatenate([r.ravel() for r in rows]), -t, -A

    def GT(self, zL, z0, z1):
        """``G^T z`` as the five variable blocks."""
        z_xi, z_h, z_m, z_p, z_c, z_rm, z_rp = self.split(zL)
        sig_grad = z_h[:, None] * self.Wy
        sig_grad[:, self.pmask] += z_p - z_m
        gA = sig_grad.T @ self.Dpm + self.X.T @ (self.S2 * z_c)
        gA[self.pmask] += z_rp - z_rm
        gR = z_rm + z_rp - self.eps * z_c.sum(axis=0)[None, :]
        gU = z_m + z_p - self.eps * z_h[:, None]
        return -gA - z1, -gR, -z0, -(z_xi + z_h), -gU

    def h(self):
        out = np.zeros(self.orthant)
        out[self.n:2 * self.n] = -1.0
        return out

    def cost(self):
        J, p, n, d = self.J, self.p, self.n, self.d
        return (np.zeros((d, J)), np.zeros((p, J)), np.full(J, self.beta), np.ones(n), np.zeros((n, p)))

    def multipliers(self, zL):
        """The robust dual point ``(alpha, U, lambda)`` of the module docstring from the orthant multipliers."""
        _, z_h, z_m, z_p, z_c, _, _ = self.split(zL)
        Y = -z_h[:, None] * self.Wy
        Y[:, self.pmask] += z_m - z_p
        alpha, U = hinge_multipliers(Y, self.Wy, self.eps, self.pmask)
        return alpha, U, np.maximum(z_c, 0.0)


def _zeros_like(x):
    return tuple(np.zeros_like(v) for v in x)


def block_rr_solve(local_rr, rhs):
    """``Lrr^{-1} rhs`` per block for the Cholesky factors ``local_rr`` (J, p+1, p+1) of the blocks' own
    ``(r_j, t_j)`` matrices; ``rhs`` (J, p+1, k)."""
    return np.linalg.solve(np.swapaxes(local_rr, 1, 2), np.linalg.solve(local_rr, rhs))


def eliminate_block_variables(data, h_c, h_rm, h_rp, Wi2):
    r"""Each block's own rows on ``(a_j, r_j, t_j)`` - the cone rows ``S2_kj x_k^T a_j - eps 1^T r_j``
    (weights ``h_c``, n x J), ``r_j -+ Pi a_j`` (``h_rm``, ``h_rp``, p x J) and the second-order cone
    (``Wi2``, the inverse square of its scaling) - with ``(r_j, t_j)`` eliminated, since they touch
    nothing outside the block. Returns the (J, d, d) Schur complements on ``a_j`` and the factors of the
    back-substitution: ``local_ar`` (J, d, p+1), the Cholesky factors ``local_rr`` of the ``(r_j, t_j)``
    parts and ``Fr = local_rr^{-1} local_ar^T``. ``data`` has ``d``, ``p``, ``J``, ``eps``, ``pmask``,
    ``S2`` and ``X``."""
    d, p, J, eps = data.d, data.p, data.J, data.eps
    b = d + p + 1
    cols, rp = np.flatnonzero(data.pmask), np.arange(p)
    local = np.zeros((J, b, b))
    XS = data.S2.T[:, :, None] * data.X[None, :, :]                                 # (J, n, d)
    local[:, :d, :d] += np.einsum("jk,jka,jkb->jab", h_c.T, XS, XS, optimize=True)
    cross = -eps * np.einsum("jk,jka->ja", h_c.T, XS)                               # a_j against 1^T r_j
    local[:, :d, d:d + p] += cross[:, :, None]
    local[:, d:d + p, :d] += cross[:, None, :]
    local[:, d:d + p, d:d + p] += (eps ** 2 * h_c.sum(axis=0))[:, None, None]
    local[:, d + rp, d + rp] += (h_rm + h_rp).T
    local[:, cols, cols] += (h_rm + h_rp).T
    local[:, cols, d + rp] += (h_rp - h_rm).T
    local[:, d + rp, cols] += (h_rp - h_rm).T
    local[:, :d, :d] += Wi2[:, 1:, 1:]
    local[:, :d, b - 1] += Wi2[:, 1:, 0]
    local[:, b - 1, :d] += Wi2[:, 0, 1:]
    local[:, b - 1, b - 1] += Wi2[:, 0, 0]
    local_ar = local[:, :d, d:]
    local_rr = np.linalg.cholesky(local[:, d:, d:])
    Fr = block_rr_solve(local_rr, np.swapaxes(local_ar, 1, 2))                      # (J, p+1, d)
    return local[:, :d, :d] - local_ar @ Fr, local_ar, local_rr, Fr


class _Newton:
    """``G^T W^{-2} G`` at one scaling, with the per-sample variables eliminated and the reduced matrix on
    the blocks' ``(a_j, r_j, t_j)`` factorised once (module docstring)."""

    def __init__(self, data, nt, zL, sL):
        self.data, self.nt = data, nt
        n, d, J = data.n, data.d, data.J
        h_xi, h_h, h_m, h_p, h_c, h_rm, h_rp = data.split(zL / sL)
        C = self._eliminate_samples(h_xi, h_h, h_m, h_p)
        pair = (data.Dpm[:, :, None] * data.Dpm[:, None, :]).reshape(n, J * J)
        K = (pair.T @ C.reshape(n, d * d)).reshape(J, J, d, d).transpose(0, 2, 1, 3).copy()
        idx = np.arange(J)
        K[idx, :, idx, :] += self._eliminate_block_variables(h_c, h_rm, h_rp, nt.inverse_squared())
        self.K = K.reshape(J * d, J * d)
        self.cho = shifted_cholesky(self.K)

    def _eliminate_samples(self, h_xi, h_h, h_m, h_p):
        r"""Per sample, the quadratic ``h_xi xi^2 + h_h (xi + w^T Sigma - eps 1^T u)^2 + sum_i h_-+ (u_i -+
        Sigma_i)^2`` in ``y = (xi, u)`` and ``Sigma``: factor ``Hyy`` (batched Cholesky), keep
        ``F = Hyy^{-1} HyS`` for the back-substitution, return the Schur complements ``C_k`` (n, d, d)."""
        data = self.data
        p, eps, m = data.p, data.eps, 1 + data.p
        cols = np.flatnonzero(data.pmask)
        q_y = np.concatenate([[1.0], np.full(p, -eps)])
        Hyy = h_h[:, None, None] * np.outer(q_y, q_y)[None]
        Hyy[:, np.arange(m), np.arange(m)] += np.concatenate([h_xi[:, None], h_m + h_p], axis=1)
        HyS = h_h[:, None, None] * q_y[None, :, None] * data.Wy[:, None, :]          # (n, m, d)
        HyS[:, 1 + np.arange(p), cols] += h_p - h_m
        HSS = h_h[:, None, None] * data.Wy[:, :, None] * data.Wy[:, None, :]
        HSS[:, cols, cols] += h_m + h_p
        self.Hyy_factor = np.linalg.cholesky(Hyy)
        self.F = self._yy_solve(HyS)
        self.HyS = HyS
        return HSS - np.einsum("kmi,kmj->kij", HyS, self.F, optimize=True)

    def _eliminate_block_variables(self, h_c, h_rm, h_rp, Wi2):
        """:func:`eliminate_block_variables`, keeping the factors for the back-substitution."""
        schur, self.local_ar, self.local_rr, self.Fr = eliminate_block_variables(self.data, h_c, h_rm, h_rp, Wi2)
        return schur

    def _rr_solve(self, rhs):
        """``Lrr^{-1} rhs`` per block (the (r_j, t_j) part of the block's own matrix); ``rhs`` (J, p+1, k)."""
        return block_rr_solve(self.local_rr, rhs)

    def _yy_solve(self, rhs):
        """``Hyy^{-1} rhs`` per sample; ``rhs`` (n, m, k)."""
        L = self.Hyy_factor
        return np.linalg.solve(np.swapaxes(L, 1, 2), np.linalg.solve(L, rhs))

    def solve_x(self, rx):
        """``(G^T W^{-2} G) dx = rx``: eliminate the samples' ``(xi_k, u_k)``, solve the reduced system on the
        blocks (one refinement step), recover the samples."""
        data, d, p, J = self.data, self.data.d, self.data.p, self.data.J
        rA, rR, rt, rxi, rU = rx
        ry = np.concatenate([rxi[:, None], rU], axis=1)[:, :, None]                     # (n, m, 1)
        ty = self._yy_solve(ry)[:, :, 0]
        s = np.einsum("kmi,km->ki", self.HyS, ty)
        rA = rA - s.T @ data.Dpm
        rr = np.concatenate([rR.T, rt[:, None]], axis=1)[:, :, None]                     # (J, p+1, 1)
        tr = self._rr_solve(rr)
        rA = rA - np.einsum("jar,jr->aj", self.local_ar, tr[:, :, 0])
        rhs = rA.T.ravel()
        sol = sla.cho_solve(self.cho, rhs, check_finite=False)
        sol += sla.cho_solve(self.cho, rhs - self.K @ sol, check_finite=False)
        dA = sol.reshape(J, d).T
        drt = tr[:, :, 0] - np.einsum("jra,aj->jr", self.Fr, dA)
        dR, dt = drt[:, :p].T, drt[:, p]
        dy = ty - np.einsum("kmi,ki->km", self.F, data.sigma(dA))
        return dA, dR, dt, dy[:, 0], dy[:, 1:]

    def direction(self, bx, bz, bs, refinements=3):
        """Solve ``G^T dz = bx``, ``G dx + ds = bz``, ``lambda o (W dz + W^{-T} ds) = bs``, refined on these
        full equations (a correction is kept only when it lowers the largest residual)."""
        return refined_direction(self._solve, self._kkt_residual, bx, bz, bs, 5, refinements)

    def _kkt_residual(self, step, bx, bz, bs):
        return newton_residual(self.data, self.nt, step, bx, bz, bs)

    def _solve(self, bx, bz, bs):
        return reduced_solve(self.data, self.nt, self.solve_x, bx, bz, bs)


def _start(data):
    """An infeasible interior start: x = 0, every slack and multiplier at the cones' identity."""
    d, J = data.d, data.J
    return BlockPoint(_zeros_like(data.cost()), np.ones(data.orthant), np.ones(J), np.zeros((d, J)),
                  np.ones(data.orthant), np.ones(J), np.zeros((d, J)))


def _iterate(data, p, h, c):
    """One predictor-corrector step (:func:`~solvers.core.cones.mehrotra_step`) from the residuals ``G x + s -
    h`` and ``c + G^T z``; returns (next point, step length)."""
    nt = NTScaling(p.sL, p.zL, p.s0, p.s1, p.z0, p.z1)
    gL, g0, g1 = data.G(p.x)
    bz = (-(gL + p.sL - h), -(g0 + p.s0), -(g1 + p.s1))
    bx = tuple(-(ci + gi) for ci, gi in zip(c, data.GT(p.zL, p.z0, p.z1)))
    return mehrotra_step(p, _Newton(data, nt, p.zL, p.sL), nt, bx, bz, data.degree, n_x=5)


class RobustBounds:
    """The best cone-feasible primal point (original units) and the best certified bound seen so far; the
    bound from the iterate's multipliers is the loss's own (:meth:`update`)."""

    def __init__(self, program, data, feas_tol):
        self.program, self.data = program, data
        self.feas_abs = feas_tol * max(1.0, float(np.max(np.abs(program.y), initial=0.0)))
        self.primal, self.A, self.dual, self.multipliers = np.inf, None, -np.inf, None

    def update(self, p):
        """Keep the iterate if it is cone-feasible and better; a bound from its multipliers (the cone
        multipliers re-priced by NNLS, blockwise, once the gap is below 1e-2)."""
        program, data = self.program, self.data
        A = p.x[0] / data.sx
        weights = {"V": A[:, :data.P], "W": A[:, data.P:]}
        objective = float(program.objective(weights))
        if program.max_violation(weights) <= self.feas_abs and objective < self.primal:
            self.primal, self.A = objective, A.copy()
        alpha, U, lam = data.multipliers(p.zL)
        bound, _ = robust_dual_bound(program, alpha, U, lam)
        if certified_gap(self.primal, bound) < 1e-2:
            lam = restore_dual_feasibility(program, alpha, U, lam)
            bound, _ = robust_dual_bound(program, alpha, U, lam)
        if bound > self.dual:
            self.dual, self.multipliers = bound, (alpha, U, lam)

    def gap(self):
        return certified_gap(self.primal, self.dual) if self.A is not None and np.isfinite(self.dual) else None


def _solve(program, settings):
    t_start = time.perf_counter()
    data = _Data(program)
    h, c = data.h(), data.cost()
    bounds = RobustBounds(program, data, settings.feas_tol)
    status, iterations, stopped_by = run_interior_point(_start(data), lambda p: _iterate(data, p, h, c), bounds,
                                                        settings, data.degree, t_start)
    A = bounds.A if bounds.A is not None else np.zeros((data.d, data.J))
    weights = {"V": A[:, :data.P], "W": A[:, data.P:]}
    status, info = interior_point_outcome(status, bounds, settings.tol_gap, stopped_by,
                                          multipliers=bounds.multipliers)
    return finish_run(program, weights, status=status, solver="ipm_robust", iterations=iterations,
                      solve_time_s=time.perf_counter() - t_start, info=info)


@retains_heap
def ipm_robust(program, **options):
    r"""Solve a hinge-loss :class:`~formulations.robust.RobustReLUProgram` by the interior point of this module
    (cost ``O(n (2dP)^2 + (2dP)^3 / 3)`` per iteration: for small programs and working sets).

    Options (:class:`RobustIPMSettings`): ``tol_gap`` (1e-7), the certified relative duality gap to stop at;
    ``feas_tol`` (1e-9, times ``max(1, |y|_inf)``), the cone violation accepted for the returned point;
    ``max_iter`` (100); ``time_limit`` (None).

    Returns a SolveResult (``solver = "ipm_robust"``) at the best cone-feasible iterate, ``optimal`` only with
    a certified gap; ``info``: duality_gap_rel, dual_bound, multipliers (``(alpha, U, lambda)`` of the best
    bound, for pricing other patterns), certified, stopped_by (when the step collapsed or the arithmetic ran
    out)."""
    from formulations.robust import RobustReLUProgram
    if not isinstance(program, RobustReLUProgram) or program.loss.name != "hinge":
        raise ValueError("ipm_robust solves the hinge-loss robust program")
    settings = settings_from_options("ipm_robust", RobustIPMSettings, options)
    return _solve(program, settings)


ipm_robust.__signature__ = keyword_signature(RobustIPMSettings)
