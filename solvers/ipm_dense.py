r"""A dense primal-dual interior point for the hinge- and logistic-loss constrained and gated programs, for
small programs such as the working sets of :mod:`solvers.working_set` (docs/math.md 6.8).

The constrained program of docs/math.md section 2 (blocks ``a_j``, j = 1..2P, prediction maps
``M_j = Dpm_j o X``, stacked ``Z = [M_1 .. M_2P]``, n x 2dP), with one epigraph variable per group norm.
The hinge loss takes one slack per sample:

.. math::
    \min_{a, t, \xi}\ 1^T\xi + \beta\, 1^T t \quad\text{s.t.}\quad \xi \ge 0,\quad
    \xi + y \circ (Z a) \ge 1,\quad S_j \circ (X a_j) \ge 0,\quad (t_j, a_j) \in \mathcal Q^{d+1};

the logistic loss stays in the objective, ``\min\ \ell(Z a, y) + \beta 1^T t`` over the same cones. The
gated program (docs/math.md section 5) is the same without the cone rows, with one block per gate
(``M_j = D_j o X``). For the hinge, ``xi_i = max(0, 1 - y_i f_i)`` at a solution and the multipliers of
``xi + y o (Z a) >= 1`` are its dual weights ``alpha`` in [0, 1]. In the loss gradient's convention
(``nu = -alpha o y`` for the hinge, ``nu = l'(Z a)`` for the logistic) the Lagrange dual is

.. math::
    \max\ -\ell^*(\nu) \quad\text{s.t.}\quad \lambda \ge 0,\
    |M_j^T \nu - X^T (S_j \circ \lambda_j)|_2 \le \beta ,

so every iterate gives a bound: scale ``(nu, lambda)`` by ``theta = min(1, beta / max_j |...|_2)`` and
take the loss's dual value at ``theta nu``.

The hinge is solved through a smoothing that the run lowers. With a free shift ``q`` per sample,

.. math::
    \min\ 1^T\xi + \tfrac{1}{2\mu}|q|^2 + \beta\, 1^T t \quad\text{s.t.}\quad \xi \ge 0,\quad
    \xi + q + y \circ (Z a) \ge 1,\ \ldots

is the sum of Huber-smoothed hinges ``h_mu(r) = r - mu/2`` (``r >= mu``), ``r^2 / (2 mu)`` (``0 < r < mu``), 0
(``r <= 0``) of ``r = 1 - y f``, which is below the hinge by at most ``mu / 2`` per sample. Its margin
multipliers are still hinge dual weights in [0, 1], so every bound below is one of the exact hinge program,
and the primal value is the exact hinge objective at the iterate: the certified gap is the hinge's. At the
smoothed optimum that gap is ``sum r (1 - r / mu)`` over the samples inside the band ``0 < r < mu``, at most
``mu / 4`` each. The smoothing removes the kink at margin 1 on which the exact hinge's interior point
crawls (step lengths near 0.3), and bounds the samples' Newton weights by ``1 / mu``. Once the smoothed
program is solved well below the hinge gap it leaves, mu shrinks (:func:`_lower_smoothing`); ``smoothing=0``
solves the exact hinge.

Algorithm: Mehrotra's predictor-corrector with Nesterov-Todd scaling (:mod:`solvers.core.cones`) from an
infeasible start. The Newton system ``(H + G^T W^{-2} G) dx = r`` is formed densely: for the hinge the
per-sample pairs (xi_i, q_i) are eliminated (2 x 2 each), leaving ``Z^T diag(omega) Z`` with
``1 / omega = 1 / h_1 + 1 / h_2 + mu`` (h: the NT weights of the two orthant rows);
for the logistic the Hessian ``H = Z^T diag(l''(Z a)) Z`` takes its place; plus the cone rows' blocks
``X^T diag(h_3j) X`` and the second-order cones' ``W_j^{-2}``. On the constrained program
``Z = [Zh, -Zh]``, so ``Z^T diag(omega) Z = E K E^T`` with the one product ``K = Zh^T diag(omega) Zh`` (dP x
dP, BLAS syrk), and the system is solved in ``z = v - w`` at size dP (:class:`_PairedSystem`); the gated
program's system, of size ``dP + P``, is factorised as it stands (:class:`_StackedSystem`). With fewer
samples than that size warrants, the system in z is solved through an n x n matrix instead (Woodbury,
:class:`_CapacitanceSystem`; :func:`newton_route` chooses by predicted flops). One Cholesky per
iteration - meant for working sets, where dP or n is small. ``Zh = [D_1 o X .. D_P o X]`` (n x dP) is never
stored: its rows are formed a chunk at a time for the product K, and the products ``Zh u = rowsum(D o (X
U))`` and ``Zh^T r = X^T (D o r)`` read only X and D.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
from scipy import linalg as sla
from scipy.linalg import blas
from scipy.special import xlogy

from .core.cones import (NTScaling, interior_point_outcome, jordan_product, mehrotra_step, preconditioned_cg,
                         refined_direction, run_interior_point, shifted_cholesky)
from .core.dual import NNLS_MAX_FEATURES, certified_gap, cone_residual, cone_residuals, dual_scaling, gram_norm
from .core.heap import retains_heap
from .core.operators import PatternMaps, weighted_gram_block, weighted_gram_blocks
from .core.options import InteriorPointSettings, check_positive, keyword_signature, settings_from_options
from .core.prox import block_norms
from .result import finish_run

__all__ = ["ipm_dense", "DenseIPMSettings", "LOSSES"]

#: the losses this interior point solves: the hinge through its slacks, the logistic as a smooth objective
LOSSES = ("hinge", "logistic")

#: bytes of the row chunk of ``sqrt(omega) o Zh`` formed in :meth:`_Data.weighted_gram`
GRAM_CHUNK_BYTES = 2 ** 26
#: past this many features the weighted Gram matrix is formed block by block, on the rows each pair of
#: patterns holds (``_Data.block_gram``); below it a syrk on d x d blocks runs far from BLAS's peak
BLOCK_GRAM_MIN_D = 64
#: continuation in the hinge's smoothing: mu shrinks once the smoothed program's own gap is below SETTLE times
#: the hinge gap it leaves (:func:`_lower_smoothing`)
SETTLE = 0.3
#: the paired solve (:class:`_PairedSystem`) is refined by conjugate gradients on the unreduced system to this
#: relative residual, in at most PAIRED_STEPS steps; else that Newton step factorises the stacked system (the n
#: x n route: the dP system). A step costs a product with the system, far less than either fallback: with 20
#: steps instead of 5 the n x n route handed over on 3 of 20 random hinge instances instead of 13, and those
#: 20 runs took 12.4 s instead of 14.2 s with the same 970 Newton steps (one thread)
PAIRED_TOL = 1e-12
PAIRED_STEPS = 20
#: the routes of the constrained program's Newton systems (:func:`newton_route`)
NEWTON_ROUTES = ("auto", "nxn", "gram")
#: the eigenvalues of each pattern's parallel sum are floored at this share of the largest before the
#: capacitance route (:class:`_CapacitanceSystem`) inverts them
CAPACITANCE_FLOOR = 1e-12
#: projected-gradient iterations per Newton step that improve the cone multipliers of the dual bound on
#: wide data (more than ``NNLS_MAX_FEATURES`` features); each starts where the last one stopped
WIDE_BOUND_ITERATIONS = 100


@dataclass
class DenseIPMSettings(InteriorPointSettings):
    """The options of :func:`ipm_dense` with their defaults; ``smoothing`` is the hinge's mu (module
    docstring), 0 for the exact hinge; ``newton_route`` how the constrained program's Newton systems are
    solved (:func:`newton_route`)."""

    smoothing: float = 0.3
    newton_route: str = "auto"
    callback: Optional[Callable] = None
    solver = "ipm_dense"

    def __post_init__(self):
        super().__post_init__()
        if self.smoothing != 0:
            self.smoothing = check_positive(self.solver, "smoothing", self.smoothing)
        if self.callback is not None and not callable(self.callback):
            raise ValueError(f"ipm_dense: callback must be callable, got {type(self.callback).__name__}")
        if self.newton_route not in NEWTON_ROUTES:
            raise ValueError(f"ipm_dense: newton_route must be one of {', '.join(NEWTON_ROUTES)}, got "
                             f"{self.newton_route!r}")


class _Data(PatternMaps):
    """Data scaled to unit root-mean-square entries (``X / sx``, ``beta / sx``; the hinge is unchanged), the
    blocks' prediction maps (constrained program: ``[D, -D]``, 2P blocks with cone rows; gated program:
    the gates ``D``, P blocks, no cone rows), the products with the distinct prediction maps
    ``Zh = [D_1 o X .. D_P o X]`` (n x dP, never stored; ``Z = [Zh, -Zh]`` on the constrained program) and
    the cones' sizes."""

    def __init__(self, program, gated, smoothing=0.0, route="auto"):
        X = np.asarray(program.X, float)
        self.sx = max(float(np.sqrt(np.mean(X * X))), 1e-300)
        super().__init__(X / self.sx, program.D)
        self.loss = program.loss
        self.hinge = self.loss.name == "hinge"
        self.cones = not gated
        if gated:
            self.Dpm = program.D
        self.y = np.asarray(program.y, float)
        self.beta = program.beta_value / self.sx
        self.J = self.Dpm.shape[1]
        # the distinct prediction maps: D_j o X for the P patterns (the constrained program's w blocks
        # predict with the negated map, M a = Zh (v - w)); the gated program's gates are its blocks
        self.signed = not gated
        self.slacks = self.n if self.hinge else 0  # the hinge's xi; a smooth loss has none
        self.smoothing = smoothing if self.hinge else 0.0
        self.shifts = self.n if self.smoothing > 0 else 0  # the smoothed hinge's q
        self.orthant = 2 * self.slacks + (self.n * self.J if self.cones else 0)
        self.degree = self.orthant + self.J
        # the constrained program's Newton systems through n x n matrices (_CapacitanceSystem) where asked or
        # predicted cheaper; off for the rest of the run once one of them falls short
        self.capacitance_route = self.cones and newton_route(self.n, self.d, self.P, route) == "nxn"
        self.capacitance_failed = False

    def split(self, v):
        """An orthant vector -> (sample slacks, margins, cone rows n x J or None); the first two are empty
        for a smooth loss."""
        m = self.slacks
        return v[:m], v[m:2 * m], (v[2 * m:].reshape(self.n, self.J) if self.cones else None)

    def predict(self, A):
        """``Z a`` (scaled data): ``Zh (v - w) = rowsum(D o (X (V - W)))`` on the constrained program."""
        half = A[:, :self.P] - A[:, self.P:] if self.signed else A
        return np.einsum("ij,ij->i", self.D, self.X @ half)

    def ZT(self, r):
        """``Z^T r`` as a d x J array: ``X^T (D o r)`` (the w blocks' part is the negated v blocks' part)."""
        half = self.XT @ (self.D * r[:, None])
        return np.hstack([half, -half]) if self.signed else half

    def weighted_gram(self, omega):
        """``Zh^T diag(omega) Zh`` (dP x dP; BLAS syrk on ``sqrt(omega) o Zh``, the lower triangle only,
        accumulated over row chunks of GRAM_CHUNK_BYTES formed from X and D, so no n x dP array is stored).
        On the gated program it is ``Z^T diag(omega) Z``; on the constrained program ``Z^T diag(omega) Z`` has
        the blocks ``[[K, -K], [-K, K]]`` of this ``K``. Past BLOCK_GRAM_MIN_D features it is formed block by
        block (:meth:`block_gram`)."""
        if self.d > BLOCK_GRAM_MIN_D:
            return self.block_gram(omega)
        root = np.sqrt(np.maximum(omega, 0.0))
        width = self.P * self.d
        half = np.zeros((width, width), order="F")
        rows = max(1, GRAM_CHUNK_BYTES // (8 * width))
        for start in range(0, self.n, rows):
            stop = min(self.n, start + rows)
            weighted = root[start:stop, None] * self.X[start:stop]
            chunk = (self.D[start:stop, :, None] * weighted[:, None, :]).reshape(stop - start, width)
            # chunk.T is column-major, so BLAS reads it in place: half += chunk^T chunk
            half = blas.dsyrk(1.0, chunk.T, beta=1.0, c=half, trans=0, lower=1, overwrite_c=1)
        lower = np.tril_indices(half.shape[0], -1)
        half.T[lower] = half[lower]  # syrk filled one triangle
        return half

    def block_gram(self, omega):
        """:meth:`weighted_gram` by blocks: block (j, k) is ``X^T diag(omega o D_j o D_k) X``, one syrk on the
        rows that both patterns hold, ``sqrt(omega) o X`` there (a symmetric block, so the upper triangle of
        blocks is the lower one's copy). The chunked route multiplies the zero rows of ``D_j o X`` too: its
        ``n (dP)^2 / 2`` multiply-adds become ``d^2 / 2`` per row and pattern pair holding it, about
        ``n d^2 P^2 / 8`` where patterns split the samples in halves."""
        weights = np.maximum(omega, 0.0)
        d, P = self.d, self.P
        gram = np.empty((d * P, d * P))
        held = self.D != 0
        for j in range(P):
            for k in range(j, P):
                rows = np.flatnonzero(held[:, j] & held[:, k])
                block = weighted_gram_block(self.X[rows], weights[rows])
                gram[j * d:(j + 1) * d, k * d:(k + 1) * d] = block
                gram[k * d:(k + 1) * d, j * d:(j + 1) * d] = block
        return gram

    def G(self, A, t, xi, q, prediction=None):
        """``G x`` (orthant part, second-order part ``(g0, g1)``): the rows ``-xi``, ``-xi - q - y o (Z a)``
        (hinge only; q only when smoothed; ``prediction``: ``Z a`` when known), ``-S o (X a_j)`` and
        ``(-t_j, -a_j)``."""
        if self.hinge:
            prediction = self.predict(A) if prediction is None else prediction
        parts = [-xi, -xi - (q if self.shifts else 0.0) - self.y * prediction] if self.hinge else []
        if self.cones:
            parts.append((-self.S2 * (self.X @ A)).reshape(-1))
        return (np.concatenate(parts) if parts else np.zeros(0)), -t, -A

    def GT(self, vL, v0, v1):
        """``G^T v`` as ``(a part d x J, t part, xi part, q part)``."""
        v_xi, v_margin, v_cone = self.split(vL)
        a_part = -v1 - (self.ZT(self.y * v_margin) if self.hinge else 0.0)
        if self.cones:
            a_part = a_part - self.XT @ (self.S2 * v_cone)
        return a_part, -v0, -v_xi - v_margin, -v_margin[:self.shifts]

    def smooth_gradient(self, A):
        """The smooth loss's gradient ``Z^T l'(Z a)`` (d x J); zero for the hinge (its loss is in xi)."""
        return 0.0 if self.hinge else self.ZT(self.loss.gradient(self.predict(A), self.y))

    def smooth_curvature(self, A):
        """``l''(Z a)`` per sample (smooth loss), the weights of its Hessian ``Z^T diag(l'') Z``."""
        return self.loss.hessian(self.predict(A), self.y)

    def cone_term(self, lam):
        """``X^T (S o lambda)`` per block (zero without cone rows)."""
        return self.XT @ (self.S2 * lam) if self.cones else 0.0

    def violation(self, A):
        """The largest cone violation ``max(0, -min S o (X A))`` (0 without cone rows)."""
        return max(0.0, -float(np.min(self.S2 * (self.X @ A), initial=0.0))) if self.cones else 0.0


class _Point:
    """x = (A d x J, t, xi, q); slacks s and multipliers z: orthant (flat) and second-order (0 and 1
    parts)."""

    def __init__(self, A, t, xi, q, sL, s0, s1, zL, z0, z1):
        self.A, self.t, self.xi, self.q = A, t, xi, q
        self.sL, self.s0, self.s1, self.zL, self.z0, self.z1 = sL, s0, s1, zL, z0, z1

    def mu(self, degree):
        return (float(self.sL @ self.zL) + float(self.s0 @ self.z0) + float(np.sum(self.s1 * self.z1))) / degree

    def moved(self, step, alpha):
        return _Point(*(value + alpha * change for value, change in zip(
            (self.A, self.t, self.xi, self.q, self.sL, self.s0, self.s1, self.zL, self.z0, self.z1), step)))


def _start(data):
    """An infeasible interior start: x = 0, every slack and multiplier at the cones' identity."""
    d, J = data.d, data.J
    ones_L, ones_J = np.ones(data.orthant), np.ones(J)
    return _Point(np.zeros((d, J)), np.zeros(J), np.zeros(data.slacks), np.zeros(data.shifts), ones_L, ones_J.copy(),
                  np.zeros((d, J)), ones_L.copy(), ones_J.copy(), np.zeros((d, J)))


def _residuals(data, p):
    """Primal ``G x + s - h`` and dual ``grad f + G^T z`` residuals (f: the linear objective, plus the
    smooth loss, or the smoothed hinge's ``|q|^2 / (2 mu)``)."""
    gL, g0, g1 = data.G(p.A, p.t, p.xi, p.q)
    hL = np.zeros(data.orthant)
    hL[data.slacks:2 * data.slacks] = -1.0
    primal = (gL + p.sL - hL, g0 + p.s0, g1 + p.s1)
    a_part, t_part, xi_part, q_part = data.GT(p.zL, p.z0, p.z1)
    q_gradient = p.q / data.smoothing if data.shifts else 0.0
    dual = (a_part + data.smooth_gradient(p.A), data.beta + t_part, 1.0 + xi_part, q_gradient + q_part)
    return primal, dual


class _Newton:
    """The Newton system at the point ``p`` and scaling ``nt``: ``H + G^T W^{-2} G`` (H: the smooth loss's
    Hessian ``Z^T diag(l'') Z``, or none for the hinge, whose xi is eliminated), factorised once."""

    def __init__(self, data, p, nt):
        self.data, self.nt = data, nt
        h = p.zL / p.sL  # W^{-2} on the orthant
        h_xi, h_margin, h_cone = data.split(h)
        mu = data.smoothing
        self.h_xi, self.h_margin = h_xi, h_margin
        # the per-sample pair (xi, q) eliminated: 1 / omega = 1 / h_xi + 1 / h_margin + mu
        self.pair = h_xi + h_margin + mu * h_xi * h_margin
        self.Wi2 = nt.inverse_squared()  # (J, d+1, d+1)
        self.curvature = None if data.hinge else data.smooth_curvature(p.A)
        omega = h_xi * h_margin / self.pair if data.hinge else self.curvature
        if data.cones:
            rows = weighted_gram_blocks(data.X, h_cone)
            blocks = (self.Wi2[:, 1:, 1:] + rows, self.Wi2[:, 1:, 0], self.Wi2[:, 0, 0])
            schur = nt.inverse_squared_schur() + rows
            if data.capacitance_route and not data.capacitance_failed:
                self.system = _CapacitanceSystem(data, omega, *blocks, schur=schur)
            else:
                self.system = _PairedSystem(data.weighted_gram(omega), *blocks, schur=schur)
        else:
            self.system = _StackedSystem(data.weighted_gram(omega), self.Wi2[:, 1:, 1:], self.Wi2[:, 1:, 0],
                                         self.Wi2[:, 0, 0])

    def solve_x(self, ra, rt, rxi, rq, margin_rhs):
        """``(H + G^T W^{-2} G) dx = r`` with the per-sample pairs ``(xi_i, q_i)`` eliminated (2 x 2 each; q
        only when smoothed, with curvature ``1 / mu``) and the rest by :attr:`system`. The
        a-part of ``r`` is ``ra - Z^T (y o margin_rhs)``, so that the one product with ``Z^T`` covers it and
        the elimination; returns ``(da, dt, dxi, dq, Z da)`` (the last None for a smooth loss)."""
        data, mu = self.data, self.data.smoothing
        a, m = self.h_xi, self.h_margin
        if data.hinge:
            shifted = rxi + a * mu * rq if data.shifts else rxi
            ra = ra - data.ZT(data.y * (margin_rhs + m * shifted / self.pair))
        dA, dt = self.system.solve(ra, rt)
        if not data.hinge:
            return dA, dt, rxi, rq, None
        prediction = data.predict(dA)
        u = m * data.y * prediction
        if not data.shifts:
            return dA, dt, (rxi - u) / self.pair, rq, prediction
        dxi = ((1.0 + m * mu) * rxi - m * mu * rq - u) / self.pair
        dq = mu * ((a + m) * rq - m * rxi - a * u) / self.pair
        return dA, dt, dxi, dq, prediction

    def hessian_times(self, dA):
        """``H da`` (d x J; zero for the hinge)."""
        return 0.0 if self.curvature is None else self.data.ZT(self.curvature * self.data.predict(dA))

    def shift_curvature_times(self, dq):
        """``dq / mu``, the smoothed hinge's curvature in q (empty without smoothing)."""
        return dq / self.data.smoothing if self.data.shifts else dq

    def direction(self, bx, bz, bs, refinements=3):
        """Solve ``H dx + G^T dz = bx``, ``G dx + ds = bz``, ``lambda o (W dz + W^{-T} ds) = bs``; returns
        ``(dA, dt, dxi, dq, dsL, ds0, ds1, dzL, dz0, dz1)``. Late in a run the zero blocks make the reduced
        system ill-conditioned, so the direction is refined on these full equations (a correction is kept
        only when it lowers the largest residual)."""
        return refined_direction(self._solve, self._kkt_residual, bx, bz, bs, 4, refinements)

    def _kkt_residual(self, step, bx, bz, bs):
        """``(bx - H dx - G^T dz, bz - G dx - ds, bs - lambda o (W dz + W^{-T} ds))`` as ten arrays."""
        data, nt = self.data, self.nt
        dA, dt, dxi, dq, dsL, ds0, ds1, dzL, dz0, dz1 = step
        ga, gt, gxi, gq = data.GT(dzL, dz0, dz1)
        gL, g0, g1 = data.G(dA, dt, dxi, dq)
        wz0, wz1 = nt.apply(dz0, dz1)
        ws0, ws1 = nt.apply(ds0, ds1, inverse=True)
        u0, u1 = wz0 + ws0, wz1 + ws1
        j0, j1 = jordan_product(nt.lam0, nt.lam1, u0, u1)
        uL = nt.wL * dzL + dsL / nt.wL
        return (bx[0] - ga - self.hessian_times(dA), bx[1] - gt, bx[2] - gxi, bx[3] - gq - self.shift_curvature_times(dq),
                bz[0] - gL - dsL, bz[1] - g0 - ds0, bz[2] - g1 - ds1, bs[0] - nt.lamL * uL, bs[1] - j0, bs[2] - j1)

    def _solve(self, bx, bz, bs):
        """One solve of the equations of :meth:`direction` through the reduced system."""
        data, nt = self.data, self.nt
        (ezL, ez0, ez1), (vL, v0, v1) = nt.reduced_rhs(bz, bs)
        v_xi, v_margin, v_cone = data.split(vL)
        # bx + G^T v, its Z^T part left to solve_x
        dA, dt, dxi, dq, prediction = self.solve_x(bx[0] - v1 - data.cone_term(v_cone), bx[1] - v0,
                                                   bx[2] - v_xi - v_margin, bx[3] - v_margin[:data.shifts], v_margin)
        gL, g0, g1 = data.G(dA, dt, dxi, dq, prediction)
        dzL, dz0, dz1 = nt.inverse_squared_apply(gL - ezL, g0 - ez0, g1 - ez1)
        return dA, dt, dxi, dq, bz[0] - gL, bz[1] - g0, bz[2] - g1, dzL, dz0, dz1


class _StackedSystem:
    r"""The reduced Newton system in ``(a, t)`` as it stands, ``[[G + B_uu, B_ut], [B_tu, B_tt]]`` (G: ``Z^T
    diag(omega) Z``; B: the blocks' curvature), formed and factorised by a shifted Cholesky; each solve takes
    one refinement step on it. The gated program's system, and the constrained program's where the paired
    solve falls short."""

    def __init__(self, gram, Buu, But, Btt):
        self.J, self.d = Buu.shape[0], Buu.shape[1]
        d, J = self.d, self.J
        K = np.zeros((d * J + J, d * J + J))
        K[:d * J, :d * J] = gram
        for j in range(J):
            block = slice(j * d, (j + 1) * d)
            K[block, block] += Buu[j]
            K[block, d * J + j] = K[d * J + j, block] = But[j]
            K[d * J + j, d * J + j] = Btt[j]
        self.K = K
        self.cho = shifted_cholesky(K)

    def solve(self, rU, rt):
        """``K (x, t) = (rU, rt)`` for rU d x J; returns ``(x d x J, t)``."""
        d, J = self.d, self.J
        rhs = np.concatenate([rU.T.reshape(-1), rt])
        sol = sla.cho_solve(self.cho, rhs, check_finite=False)
        sol += sla.cho_solve(self.cho, rhs - self.K @ sol, check_finite=False)
        return sol[:d * J].reshape(J, d).T, sol[d * J:]


class _PairedSystem:
    r"""The reduced Newton system of the constrained program (docs/math.md 6.8). Its stacked map ``Z = [Zh,
    -Zh]`` gives ``Z^T diag(omega) Z = E G E^T`` (``E = [I; -I]``, G dP x dP), so with the blocks' curvature
    B (cone rows and second-order cones, block diagonal) the system in ``(v, w, t)`` is
    ``G (v - w) + B^V_uu v + B^V_ut t_V = r_v``, ``-G (v - w) + B^W_uu w + B^W_ut t_W = r_w`` and
    ``B_tu a_j + B_tt t_j = r_t``. Eliminating the ``t_j`` (Schur complements ``S_j``, d x d; ``schur`` when
    given in closed form, else ``B_uu - B_ut B_tu / B_tt``) leaves ``G z + S_V v = r_v``, ``-G z + S_W w =
    r_w`` in ``z = v - w``, that is the dP x dP system

    .. math::
        (G + S_V (S_V + S_W)^{-1} S_W)\, z = S_W (S_V + S_W)^{-1} r_v - S_V (S_V + S_W)^{-1} r_w,
        \qquad (S_V + S_W)\, w = r_v + r_w - S_V z,\quad (S_V + S_W)\, v = r_v + r_w + S_W z:

    half the size of the stacked system, an eighth of its Cholesky. Only ``S_V + S_W`` is inverted: late in a
    run a nonzero block's S is nearly singular in its radial direction, but then the pattern's other block is
    at zero, its S is large, and the sum stays well conditioned. Per pattern the block with the smaller trace
    is kept exact: the parallel sum is ``S_s - S_s (S_V + S_W)^{-1} S_s``, the right-hand side goes through
    ``S_s (S_V + S_W)^{-1}`` alone, and the other block is solved for directly. The parallel sum is clipped
    to positive semidefinite (it is in exact arithmetic) and the matrix factorised by a shifted Cholesky;
    :meth:`solve` finishes each solve by conjugate gradients on the unreduced system."""

    def __init__(self, gram, Buu, But, Btt, schur=None):
        self.eliminate(Buu, But, Btt, schur)
        self.gram = gram
        self.replacement = None  # the system that takes over once a paired solve falls short (fallback)
        matrix = gram.copy()
        d = self.d
        for j in range(self.P):
            matrix[j * d:(j + 1) * d, j * d:(j + 1) * d] += self.parallel[j]
        self.cho = shifted_cholesky(matrix)

    def eliminate(self, Buu, But, Btt, schur):
        """The t_j eliminated and the pairs reduced to z (class docstring): the Schur complements, which block
        of each pattern is kept exact, ``(S_V + S_W)^{-1}`` and the parallel sums (P, d, d)."""
        self.J, self.d = Buu.shape[0], Buu.shape[1]
        self.P = self.J // 2
        self.Buu, self.But, self.Btt = Buu, But, Btt
        S = Buu - But[:, :, None] * But[:, None, :] / Btt[:, None, None] if schur is None else schur
        SV, SW = S[:self.P], S[self.P:]
        # per pattern, the block with the smaller curvature (trace) is "small": late in a run it is the
        # nonzero one, and its own S is the part the elimination must keep to full relative accuracy
        self.v_small = np.trace(SV, axis1=1, axis2=2) <= np.trace(SW, axis1=1, axis2=2)
        flip = self.v_small[:, None, None]
        self.small = np.where(flip, SV, SW)
        self.sum_inverse = np.linalg.inv(SV + SW)
        self.small_fraction = self.small @ self.sum_inverse  # S_small (S_V + S_W)^{-1}
        parallel = self.small - self.small_fraction @ self.small
        # positive semidefinite in exact arithmetic: rounding's negative eigenvalues are set to zero (the
        # refinement on the unreduced system absorbs the change)
        eigenvalues, vectors = np.linalg.eigh(0.5 * (parallel + parallel.transpose(0, 2, 1)))
        self.parallel_eigen = (np.maximum(eigenvalues, 0.0), vectors)
        self.parallel = (vectors * self.parallel_eigen[0][:, None, :]) @ vectors.transpose(0, 2, 1)

    def solve_z(self, rhs):
        """``(G + blockdiag(parallel)) z = rhs`` for rhs (P, d, 1), by the Cholesky factor."""
        return sla.cho_solve(self.cho, rhs.reshape(-1), check_finite=False).reshape(self.P, self.d, 1)

    def gram_times(self, z):
        """``G z`` for z d x P (one column per pattern) -> d x P."""
        P, d = self.P, self.d
        return (self.gram @ z.T.reshape(P * d)).reshape(P, d).T

    def fallback(self):
        """The system that takes over when a paired solve falls short: the stacked system."""
        return _StackedSystem(np.block([[self.gram, -self.gram], [-self.gram, self.gram]]), self.Buu, self.But,
                              self.Btt)

    def _solve_once(self, rU, rt):
        P = self.P
        r = rU - self.But.T * (rt / self.Btt)
        rv, rw = r[:, :P].T[:, :, None], r[:, P:].T[:, :, None]  # P x d x 1
        flip = self.v_small[:, None, None]
        total = rv + rw
        # S_W A^{-1} r_v - S_V A^{-1} r_w (A = S_V + S_W) through S_small A^{-1} alone:
        # r_v - S_V A^{-1} (r_v + r_w) when v is small, S_W A^{-1} (r_v + r_w) - r_w when w is
        moved = self.small_fraction @ total
        rhs = np.where(flip, rv - moved, moved - rw)
        z = self.solve_z(rhs)
        # the block with the large curvature (late in a run: at zero) directly, w = A^{-1} (r_v + r_w - S_V z)
        # or v = A^{-1} (r_v + r_w + S_W z), and the other from z = v - w
        at_zero = self.sum_inverse @ (total + np.where(flip, -1.0, 1.0) * (self.small @ z))
        v = np.where(flip, at_zero + z, at_zero)
        x = np.hstack([v[:, :, 0].T, (v - z)[:, :, 0].T])
        return x, (rt - np.einsum("jd,dj->j", self.But, x)) / self.Btt

    def apply(self, x, t):
        """``K (x, t)`` on the full reduced system (x d x J)."""
        P = self.P
        q = self.gram_times(x[:, :P] - x[:, P:])
        xU = np.hstack([q, -q]) + np.einsum("jab,bj->aj", self.Buu, x) + self.But.T * t
        return xU, np.einsum("jd,dj->j", self.But, x) + self.Btt * t

    def solve(self, rU, rt):
        """``K (x, t) = (rU, rt)`` for rU d x J; returns ``(x d x J, t)``. Conjugate gradients on the unreduced
        system preconditioned by the paired solve, up to PAIRED_STEPS steps; where they leave a relative
        residual above PAIRED_TOL (late in a run, when rounding in the elimination costs digits), the
        :meth:`fallback` system solves it instead (formed once per Newton step)."""
        if self.replacement is not None:
            return self.replacement.solve(rU, rt)
        x, t, residual = preconditioned_cg(self.apply, self._solve_once, rU, rt, PAIRED_TOL, PAIRED_STEPS)
        if residual <= PAIRED_TOL * np.sqrt(float(np.sum(rU * rU) + rt @ rt)):
            return x, t
        self.replacement = self.fallback()
        return self.replacement.solve(rU, rt)


class _CapacitanceSystem(_PairedSystem):
    r""":class:`_PairedSystem` with the dP x dP system in z solved through an n x n matrix, for programs with
    fewer samples than ``d |W|`` (docs/math.md 6.8). With ``T_j`` the inverse of pattern j's parallel sum
    (its eigenvalues floored at ``CAPACITANCE_FLOOR`` of the largest) and ``Zh = [D_1 o X .. D_P o X]``, the
    Woodbury identity gives

    .. math::
        (Zh^T \Omega Zh + \mathrm{blockdiag}(T_j^{-1}))^{-1} r = u - T Zh^T C^{-1} Zh u,\quad u = T r,\quad
        C = \Omega^{-1} + \sum_j D_j X T_j X^T D_j,

    one Cholesky of size n (C is formed by syrk on ``D_j o (X T_j^{1/2})``, a few patterns at a time) where
    the paired system takes one of size dP and the product ``Zh^T Omega Zh``. Late in a run a nonzero
    block's parallel sum is nearly singular, ``T_j`` is huge in that direction and the identity cancels large
    terms, so it serves as the preconditioner of the same conjugate gradients; a solve they leave short
    falls back to the paired system formed as it stands, for this Newton step and the rest of the run."""

    def __init__(self, data, omega, Buu, But, Btt, schur=None):
        self.eliminate(Buu, But, Btt, schur)
        self.data, self.omega, self.blocks = data, omega, (Buu, But, Btt, schur)
        self.replacement = None
        eigenvalues, vectors = self.parallel_eigen
        floor = CAPACITANCE_FLOOR * max(float(eigenvalues.max(initial=0.0)), 1e-300)
        self.root = vectors / np.sqrt(np.maximum(eigenvalues, floor))[:, None, :]  # T_j = root_j root_j^T
        n, d, P = data.n, self.d, self.P
        capacitance = np.zeros((n, n), order="F")
        capacitance[np.diag_indices(n)] = 1.0 / np.maximum(omega, 1e-300)
        group = max(1, GRAM_CHUNK_BYTES // (8 * n * d))
        for first in range(0, P, group):
            last = min(P, first + group)
            roots = self.root[first:last].transpose(1, 0, 2).reshape(d, -1)  # [root_first .. root_last]
            factor = ((data.X @ roots).reshape(n, last - first, d) * data.D[:, first:last, None]).reshape(n, -1)
            # factor.T is column-major, so BLAS reads it in place: capacitance += factor factor^T (lower)
            capacitance = blas.dsyrk(1.0, factor.T, beta=1.0, c=capacitance, trans=1, lower=1, overwrite_c=1)
        self.cho = shifted_cholesky(capacitance)

    def solve_z(self, rhs):
        """The Woodbury solve of the class docstring, for rhs (P, d, 1)."""
        data, root = self.data, self.root
        u = root @ (root.transpose(0, 2, 1) @ rhs)  # T_j r_j
        inner = sla.cho_solve(self.cho, np.einsum("ij,ij->i", data.D, data.X @ u[:, :, 0].T), check_finite=False)
        back = (data.XT @ (data.D * inner[:, None])).T[:, :, None]  # (Zh^T C^{-1} Zh u)_j
        return u - root @ (root.transpose(0, 2, 1) @ back)

    def gram_times(self, z):
        """``Zh^T diag(omega) Zh z`` by products with X and D (no dP x dP matrix is formed)."""
        data = self.data
        return data.XT @ (data.D * (self.omega * np.einsum("ij,ij->i", data.D, data.X @ z))[:, None])

    def fallback(self):
        """The paired system formed as it stands (its Newton matrix by :meth:`_Data.weighted_gram`); the run's
        later steps take it from the start (``data.capacitance_failed``)."""
        self.data.capacitance_failed = True
        Buu, But, Btt, schur = self.blocks
        return _PairedSystem(self.data.weighted_gram(self.omega), Buu, But, Btt, schur=schur)


def newton_route(n, d, P, requested="auto", solves=10):
    """How the constrained program's Newton systems are solved on n samples, d features and P patterns:
    ``requested`` unless ``"auto"``; then ``"nxn"`` (:class:`_CapacitanceSystem`) when its predicted flops per
    Newton step - forming and factorising ``C`` (``n d^2 P + n^2 d P / 2 + n^3 / 3``) and ``solves`` solves
    (``2 n^2 + 6 n d P`` each) - are fewer than those of ``"gram"`` (:class:`_PairedSystem`): the Newton
    matrix (``n (dP)^2 / 2``, a quarter of that by blocks past BLOCK_GRAM_MIN_D features), its Cholesky
    (``(dP)^3 / 3``) and its solves (``2 (dP)^2`` each)."""
    if requested != "auto":
        return requested
    width = d * P
    gram = n * width ** 2 / (8.0 if d > BLOCK_GRAM_MIN_D else 2.0) + width ** 3 / 3.0 + solves * 2.0 * width ** 2
    capacitance = n * d * width + n ** 2 * width / 2.0 + n ** 3 / 3.0 + solves * (2.0 * n ** 2 + 6.0 * n * width)
    return "nxn" if capacitance < gram else "gram"


def _iterate(data, p):
    """One predictor-corrector step (:func:`~solvers.core.cones.mehrotra_step`); returns (next point, step
    length)."""
    nt = NTScaling(p.sL, p.zL, p.s0, p.s1, p.z0, p.z1)
    primal, dual = _residuals(data, p)
    return mehrotra_step(p, _Newton(data, p, nt), nt, tuple(-r for r in dual), tuple(-r for r in primal),
                         data.degree, n_x=4)


def dual_ceiling(loss, nu, y, theta_low, theta_high=1.0):
    r"""An upper bound on ``max -l^*(theta nu)`` over ``theta`` in ``[theta_low, theta_high]``, the largest dual
    value that sharper cone multipliers could give ``nu``, as the sum of each sample's own maximum: the
    hinge's ``theta alpha_i`` grows with theta (all at ``theta_high``: the bound is attained); the logistic's
    binary entropy ``H(theta q_i)`` (``q = -y o nu``) is largest at ``theta q_i = 1/2``, else at the nearer
    end."""
    if loss.name == "hinge":
        return loss.dual_value(theta_high * nu, y)
    q = np.clip(-y * nu, 0.0, 1.0)
    best = np.clip(0.5, theta_low * q, theta_high * q)
    return float(-np.sum(xlogy(best, best) + xlogy(1.0 - best, 1.0 - best)))


class _Bounds:
    """The best cone-feasible primal point and the best dual bound (scaled data) seen so far."""

    def __init__(self, data, feas_tol, tol_gap):
        self.data, self.feas_tol, self.tol_gap = data, feas_tol, tol_gap
        self.primal, self.A, self.dual, self.nu = np.inf, None, -np.inf, None
        self.smoothed_gap = np.inf
        self.multipliers, self.lipschitz = None, None  # wide data: the best multipliers so far, |X|_2^2
        self.unsharpened = None  # (nu, M^T nu, R) of the last step whose multipliers were not sharpened

    def update(self, p):
        """Keep the point if it is cone-feasible and better; a dual bound at ``nu`` (the loss gradient's
        convention: the hinge's ``-alpha o y`` with alpha clipped into [0, 1], or ``l'(Z a)``) with the
        interior point's cone multipliers scaled by theta. The best multipliers for nu (:meth:`sharpen`)
        are found where they could certify the best point (:meth:`could_certify`); on wide data, by a
        bounded number of projected-gradient steps, once the gap is below 1e-2."""
        data, loss = self.data, self.data.loss
        pred = data.predict(p.A)
        objective = loss.value(pred, data.y) + data.beta * float(np.sum(block_norms(p.A)))
        if data.violation(p.A) <= self.feas_tol and objective < self.primal:
            self.primal, self.A = objective, p.A.copy()
        if data.hinge:
            nu = -np.clip(data.split(p.zL)[1], 0.0, 1.0) * data.y
        else:
            nu = loss.gradient(pred, data.y)
        lam = np.maximum(data.split(p.zL)[2], 0.0) if data.cones else None
        gradient = data.MT(nu)
        R = gradient - (data.cone_term(lam) if data.cones else 0.0)
        worst = float(np.max(block_norms(R), initial=0.0))
        self.unsharpened = None
        theta_low = dual_scaling(worst, data.beta)
        smoothed_primal = self.smoothed_primal(pred, p.A) if data.shifts else None
        if data.cones and worst > data.beta:
            if data.d > NNLS_MAX_FEATURES:
                if certified_gap(self.primal, loss.dual_value(nu, data.y)) < 1e-2:
                    worst = self.wide_multipliers(gradient, R, lam)
            elif self.could_certify(nu, theta_low):
                worst = self.best_multipliers(gradient, R, nu)
            else:
                self.unsharpened = (nu, gradient, R)
        theta = dual_scaling(worst, data.beta)
        dual = self.record_dual(nu, theta)
        if data.shifts:
            smoothed_dual = dual - 0.5 * data.smoothing * theta ** 2 * float(nu @ nu)
            self.smoothed_gap = certified_gap(smoothed_primal, smoothed_dual)

    def record_dual(self, nu, theta):
        """The dual value at ``theta nu``, kept with its point when it is the best so far."""
        dual = self.data.loss.dual_value(theta * nu, self.data.y)
        if dual > self.dual:
            self.dual, self.nu = dual, theta * nu
        return dual

    def could_certify(self, nu, theta_low, theta_high=1.0):
        """Whether the best multipliers for ``nu`` could certify the best point within ``tol_gap``: they give
        a theta in ``[theta_low, theta_high]`` (``theta_low``: the interior point's own multipliers'; at most
        1), so a dual value of at most :func:`dual_ceiling`."""
        if not np.isfinite(self.primal):
            return False
        ceiling = dual_ceiling(self.data.loss, nu, self.data.y, theta_low, theta_high)
        return certified_gap(self.primal, ceiling) <= self.tol_gap

    def sharpen(self):
        """The bound at the last step whose multipliers :meth:`update` did not sharpen, with the best
        multipliers for its nu (at the end of a run that stopped before it certified). Returns the bound's
        dual value, or None when there is nothing to sharpen."""
        if self.unsharpened is None:
            return None
        nu, gradient, R = self.unsharpened
        self.unsharpened = None
        return self.record_dual(nu, dual_scaling(self.best_multipliers(gradient, R), self.data.beta))

    def smoothed_primal(self, pred, A):
        """The iterate's objective on the smoothed program, ``sum h_mu(1 - y f) + beta sum |a_j|``; its gap
        (``smoothed_gap``) is against the smoothed dual value at the same dual point ``theta nu``, the
        hinge's ``theta sum alpha`` less ``mu theta^2 |alpha|^2 / 2``."""
        data, mu = self.data, self.data.smoothing
        r = np.maximum(1.0 - data.y * pred, 0.0)
        huber = np.where(r >= mu, r - 0.5 * mu, r * r / (2.0 * mu))
        return float(np.sum(huber)) + data.beta * float(np.sum(block_norms(A)))

    def best_multipliers(self, G, R, nu=None):
        """``max_j min_{lambda >= 0} |M_j^T nu - X^T (S_j o lambda)|_2``, the smallest theta-scaling nu allows,
        with the interior point's multipliers as the fallback of each block (NNLS per block). Only the largest
        value above beta matters, so the blocks are taken in decreasing order of their residual ``R`` at the
        interior point's multipliers, each NNLS stops once it is below the largest found so far (or beta),
        and the blocks whose residual is already below that are skipped: the value is the same. ``G``:
        ``M^T nu`` (d x J). Given ``nu``, the blocks stop as soon as the largest value so far rules out a
        certificate (:meth:`could_certify`); the value returned is then the larger of that and the next
        block's residual ``R``, still an upper bound on the exact one (every block left has a residual at most
        that large at the interior point's multipliers)."""
        data = self.data
        norms = block_norms(R)
        worst = float(data.beta)
        order = np.argsort(-norms)
        for rank, j in enumerate(order):
            if norms[j] <= worst:
                break
            rows = data.S2[:, j:j + 1] * data.X  # X^T (S_j o lambda) = rows^T lambda
            worst = max(worst, min(norms[j], cone_residual(rows, G[:, j], target=worst)))
            ruled_out = nu is not None and not self.could_certify(nu, 0.0, dual_scaling(worst, data.beta))
            if ruled_out and worst > data.beta:
                return max(worst, float(norms[order[rank + 1]]) if rank + 1 < order.size else worst)
        return worst

    def wide_multipliers(self, G, R, lam):
        """:meth:`best_multipliers` on wide data: the blocks whose residual exceeds beta get
        ``WIDE_BOUND_ITERATIONS`` of the projected gradient of :func:`~solvers.core.dual.cone_residuals`,
        each block started from the better of the interior point's multipliers ``lam`` and the ones this
        kept from the previous step (nu changes little between late steps, so the work accumulates)."""
        data = self.data
        norms = block_norms(R)
        over = np.flatnonzero(norms > data.beta)
        if self.lipschitz is None:
            self.lipschitz, self.multipliers = gram_norm(data.X), lam.copy()
        G, signs = G[:, over], data.S2[:, over]
        kept = self.multipliers[:, over]
        kept_norms = np.linalg.norm(G - data.XT @ (signs * kept), axis=0)
        start = np.where(kept_norms < norms[over], kept, lam[:, over])
        values, found = cone_residuals(data.X, signs, G, target=data.beta, start=start, lipschitz=self.lipschitz,
                                       max_iter=WIDE_BOUND_ITERATIONS)
        self.multipliers[:, over] = found
        return max(float(data.beta), float(np.max(values, initial=0.0)))

    def gap(self):
        return certified_gap(self.primal, self.dual) if self.A is not None and np.isfinite(self.dual) else None


def _lower_smoothing(data, bounds, tol_gap):
    """Continuation in mu: once the iterate's gap on the smoothed program is below SETTLE times the hinge gap
    and that gap is above ``tol_gap``, mu shrinks by ``sqrt(tol_gap / (2 gap))``, clipped to [0.05, 0.5]
    (measured: the hinge gap at the smoothed optimum falls about as mu^2). The iterate stays; only the
    objective's q term changes."""
    gap = bounds.gap()
    if data.shifts and gap is not None and gap > tol_gap and bounds.smoothed_gap <= SETTLE * gap:
        data.smoothing *= float(np.clip(np.sqrt(0.5 * tol_gap / gap), 0.05, 0.5))


def _solve(program, settings):
    t_start = time.perf_counter()
    from formulations.gated import GatedReLUProgram
    data = _Data(program, isinstance(program, GatedReLUProgram), settings.smoothing, settings.newton_route)
    bounds = _Bounds(data, settings.feas_tol, settings.tol_gap)
    def step(point):
        _lower_smoothing(data, bounds, settings.tol_gap)
        return _iterate(data, point)

    status, iterations, stopped_by = run_interior_point(_start(data), step, bounds, settings, data.degree, t_start,
                                                        settings.callback)
    if status not in ("optimal", "stopped") and bounds.sharpen() is not None:
        gap = bounds.gap()
        if gap is not None and gap <= settings.tol_gap:
            status, stopped_by = "optimal", None
    A = bounds.A if bounds.A is not None else np.zeros((data.d, data.J))
    weights = {"V": A[:, :data.P] / data.sx, "W": A[:, data.P:] / data.sx} if data.cones else {"U": A / data.sx}
    extra = {"smoothing": data.smoothing} if data.hinge else {}
    if data.cones:
        extra["newton_route"] = ("gram" if not data.capacitance_route else
                                 "nxn, then gram" if data.capacitance_failed else "nxn")
    status, info = interior_point_outcome(status, bounds, settings.tol_gap, stopped_by, dual_vector=bounds.nu,
                                          **extra)
    return finish_run(program, weights, status=status, solver="ipm_dense", iterations=iterations,
                      solve_time_s=time.perf_counter() - t_start, info=info)


@retains_heap
def ipm_dense(program, **options):
    r"""Solve a hinge- or logistic-loss constrained :class:`~formulations.relu.ReLUProgram` (exact or
    sampled) or :class:`~formulations.gated.GatedReLUProgram` by the dense interior point of this module
    (cost ``O(n (dP)^2 / 2 + (dP)^3 / 3)`` per iteration: for small programs and working sets).

    Options (:class:`DenseIPMSettings`): ``tol_gap`` (1e-7), the certified relative duality gap to stop at;
    ``feas_tol`` (1e-9), the cone violation accepted for the returned point; ``max_iter`` (100);
    ``time_limit`` (None); ``smoothing`` (0.3), the hinge's starting mu (module docstring; 0: the exact
    hinge throughout); ``newton_route`` ("auto"), the constrained program's Newton systems at size dP
    ("gram") or through an n x n matrix ("nxn"), "auto" the one predicted cheaper (:func:`newton_route`);
    ``callback`` (None), called after every uncertified iterate with a
    :class:`~solvers.core.cones.IterateReport` (Newton steps, certified gap, dual point), which ends the run
    with status ``stopped`` by raising StopIteration. The gap is always the exact hinge program's.

    Returns a SolveResult (``solver = "ipm_dense"``) at the best cone-feasible iterate, ``optimal`` only
    with a certified gap; ``info``: duality_gap_rel, dual_bound, dual_vector (the dual point ``theta nu`` of
    the best bound in the loss gradient's convention, for pricing), certified, smoothing (the hinge's mu at
    the end), newton_route (constrained program: "gram", "nxn", or "nxn, then gram" when the n x n route fell
    short and the dP route took over for the rest of the run), stopped_by (when the step collapsed or the
    arithmetic ran out)."""
    from formulations.gated import GatedReLUProgram
    from formulations.relu import ReLUProgram
    if type(program) not in (ReLUProgram, GatedReLUProgram) or program.loss.name not in LOSSES:
        raise ValueError("ipm_dense solves the hinge- or logistic-loss constrained program (exact or sampled) "
                         "or the gated program with those losses")
    settings = settings_from_options("ipm_dense", DenseIPMSettings, options)
    return _solve(program, settings)


ipm_dense.__signature__ = keyword_signature(DenseIPMSettings)
