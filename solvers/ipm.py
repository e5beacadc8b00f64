r"""A structured primal-dual interior-point method for the squared-loss constrained program.

The program of docs/math.md sections 2 and 4 in the stacked form of section 6, ``a = (v_1..v_P,
w_1..w_P)`` (blocks ``a_j``, d x 2P), written as a conic quadratic program with one epigraph variable
``t_j`` per group norm:

.. math::
    \min_{a, t}\ \tfrac12 |M a - y|^2 + \beta \sum_j t_j \quad\text{s.t.}\quad
    s_j = S_j \circ X a_j \ge 0,\qquad (t_j, a_j) \in \mathcal Q^{d+1} = \{(t, u) : t \ge |u|_2\}.

Dual variables: ``z_j >= 0`` (n per block, the cone multipliers lambda of the Lagrange dual) and
``(z0_j, z1_j)`` in the second-order cone. Stationarity reads
``M^T(M a - y) - X^T(S_j o z_j) - z1_j = 0`` and ``beta - z0_j = 0``.

Algorithm: Mehrotra's predictor-corrector with Nesterov-Todd scaling, in the form of CVXOPT's ``coneqp``
(Vandenberghe 2010). One iteration (:func:`_iterate`):

1. residuals of the KKT conditions and the certificate of the current point (:func:`_residuals`,
   :func:`_certificate`), then the stopping test (:func:`_stopping_status`);
2. the Nesterov-Todd scaling ``W`` of the cones, the scaled point ``lambda = W z = W^{-T} s``
   (:class:`NTScaling`) and the Newton system (:class:`_NewtonSystem`);
3. the affine (predictor) direction, and from its step length the centering parameter
   ``sigma = (mu_aff / mu)^3`` (:func:`_predictor`);
4. the combined (corrector) direction with Mehrotra's second-order term (:func:`_corrector`);
5. up to two of Gondzio's centrality correctors on the orthant (:func:`_centrality_correctors`; they
   save iterations at large n);
6. a step of 0.99 of the distance to the cone boundary (:func:`_iterate`).

The Newton system is never formed as a 2dP x 2dP matrix. After eliminating the slack and dual
directions it is ``K dx = r`` with ``K = M^T M + B``, where ``B`` is block diagonal with one
(d+1) x (d+1) block per pattern (``X^T diag(z_j / s_j) X`` from the orthant plus ``W_j^{-2}`` from the
second-order cone). The ``t_j`` are eliminated by a Schur complement, leaving
``S_j = Q_j Lambda_j Q_j^T`` (d x d, batched ``eigh``), and the Woodbury identity reduces the solve to
one n x n Cholesky factorisation of

.. math::
    C = I + L L^T, \qquad L = [L_1 \dots L_{2P}],\quad L_j = D^\pm_j \circ (X Q_j \Lambda_j^{-1/2})
    \ (n \times d),

so an iteration costs ``O(n^2 d P + n^3 / 3)`` (one rank-2dP update ``L L^T``, BLAS ``syrk``, and one
factorisation), quadratic in n for ``n <= 2dP``.

Late iterations make some ``S_j`` nearly singular (a nonzero block's radial direction has barrier
curvature ~ mu; only ``M^T M`` holds it), and the Woodbury solve then cancels large terms. Three
safeguards keep the directions exact:

* the eigenvalues ``Lambda_j`` are floored at 1e-10 (scaled data), so the Woodbury solve is a
  symmetric positive definite *preconditioner*, and ``K dx = r`` is solved by preconditioned conjugate
  gradients (usually 0-3 steps; the Woodbury solve alone loses the digits the near-singular blocks cancel);
* each direction is refined on the full KKT system (up to 3 steps, kept only if the residual falls);
* a direction - predictor or corrector - whose relative KKT residual stays above 1e-9 is recomputed with
  a 100x larger floor (up to 1e-4), which later iterations keep (:func:`_accurate_solve`). Rounding
  decides when this is needed (it differs with the number of BLAS threads), so both directions of an
  iteration go through it.

Every iterate carries a certificate: the Lagrange dual of the scaled problem evaluated at
``nu = M a - y`` and ``lambda = z`` (scaled by theta into the dual feasible set,
:func:`~solvers.core.dual.dual_scaling`), so the reported relative duality gap
``(objective - dual bound) / max(1, |objective|)`` (best primal objective of a cone-feasible iterate
against the best dual bound) is a proven bound. The solver stops when it is below ``tol_gap``. If a
direction stays inaccurate or two steps in a row collapse, the best certified point is returned with
status ``optimal_inaccurate`` and its gap in ``info``.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy import linalg as sla
from scipy.linalg import blas

from .core.cones import NTScaling, orthant_max_step, preconditioned_cg, soc_max_step
from .core.blas import blas_threads as _blas_threads, run_with_blas_threads
from .core.dual import block_dual_scaling, certified_gap
from .core.heap import retains_heap
from .core.log import IterationLog, record
from .core.operators import PatternMaps, project_cones, weighted_gram_blocks
from .core.options import (check_constrained_squared, check_int, check_positive, keyword_signature,
                           settings_from_options)
from .core.scaling import Scaled
from .result import finish_run

__all__ = ["ipm", "IPMSettings"]


#: step to the boundary actually taken (Mehrotra's usual 0.99)
_STEP_FRACTION = 0.99
#: smallest eigenvalue kept in the block Schur complements (the full-KKT refinement corrects the rest)
_EIG_FLOOR = 1e-10
#: the largest floor tried before a direction is declared inaccurate
_EIG_FLOOR_MAX = 1e-4
#: relative KKT residual a direction must reach (an accurate solve reaches ~1e-14)
_KKT_ACCURACY = 1e-9
#: Gondzio centrality correctors per iteration (each one solve with the iteration's factorisation)
_MAX_CORRECTORS = 2


NEWTON_ROUTES = ("auto", "nxn", "gram")


def newton_route(n, d, P, requested="auto"):
    """The Newton-system route for n samples, d features and P patterns: ``requested`` unless ``"auto"``;
    then ``"gram"`` when its predicted flops - the Gram matrix ``G = Z^T Z`` once (n (dP)^2, spread over
    about 30 iterations) plus a dP x dP Cholesky and two block-diagonal scalings of G per iteration
    ((dP)^3 / 3 + 2 d (dP)^2) - are fewer than the n x n route's per iteration (the product ``L L^T``,
    2 d P n^2, and an n x n Cholesky, n^3 / 3)."""
    if requested != "auto":
        return requested
    m = d * P
    gram = n * m * m / 30.0 + m ** 3 / 3.0 + 2.0 * d * m * m
    capacitance = 2.0 * d * P * n * n + n ** 3 / 3.0
    return "gram" if gram < capacitance else "nxn"


@dataclass
class IPMSettings:
    """The options of :func:`ipm` with their defaults, checked once (``ValueError`` naming ``ipm`` and the
    option). ``tol_abs`` / ``tol_rel`` are the registry's generic ``--tol``: when given, ``tol_gap`` becomes
    their minimum."""

    tol_gap: float = 1e-7
    feas_tol: float = 1e-9
    max_iter: int = 100
    time_limit: Optional[float] = None
    verbose: bool = False
    scaling: bool = True
    #: the small products of the solves gain nothing from sharing a (shared) machine's cores
    blas_threads: Optional[int] = 1
    #: the one large product per iteration, L L^T, is worth every core; None: all cores
    capacitance_threads: Optional[int] = None
    #: how each Newton system is solved: "nxn" (the n x n capacitance), "gram" (the dP x dP system on the
    #: Gram matrix of the patterns, formed once: tall data) or "auto" (the cheaper by predicted flops)
    newton_route: str = "auto"
    tol_abs: Optional[float] = None
    tol_rel: Optional[float] = None

    def __post_init__(self):
        if self.tol_abs is not None or self.tol_rel is not None:
            self.tol_gap = min(check_positive("ipm", "tol", v)
                               for v in (self.tol_abs, self.tol_rel) if v is not None)
        self.tol_gap = check_positive("ipm", "tol_gap", self.tol_gap)
        self.feas_tol = check_positive("ipm", "feas_tol", self.feas_tol)
        self.max_iter = check_int("ipm", "max_iter", self.max_iter, 0)
        self.time_limit = check_positive("ipm", "time_limit", self.time_limit, allow_none=True)
        if self.capacitance_threads is None:
            self.capacitance_threads = os.cpu_count() or 1
        self.capacitance_threads = check_int("ipm", "capacitance_threads", self.capacitance_threads)
        self.scaling = bool(self.scaling)
        if self.newton_route not in NEWTON_ROUTES:
            raise ValueError(f"ipm: newton_route must be one of {', '.join(NEWTON_ROUTES)}, got "
                             f"{self.newton_route!r}")


# ------------------------------------------------------------------------------------------------------
# the Newton system (the cone algebra is in solvers/core/cones.py)
# ------------------------------------------------------------------------------------------------------
def _blocks_times(B, x):
    """``[B_j x_j]`` for (J, d, d) blocks and x (d x J) -> d x J."""
    return np.matmul(B, x.T[:, :, None])[:, :, 0].T


class _NewtonSystem:
    r"""``K = [[M^T M + B_uu, B_ut], [B_tu, B_tt]]`` with ``B`` block diagonal over the 2P patterns:
    ``B_j = W_j^{-2} + [[0, 0], [0, X^T diag(h_j) X]]``, ``h_j = z_j / s_j``.

    ``solve`` eliminates ``t`` (Schur complements ``S_j = B_uu - B_ut B_tu / B_tt``, d x d) and applies
    Woodbury to ``S + M^T M`` with the n x n capacitance ``C = I + L L^T`` (see the module docstring)."""

    def __init__(self, data, hL, Hs, floor=_EIG_FLOOR):
        X, Dpm, n, d = data.X, data.Dpm, data.n, data.d
        self.data, self.hL, self.Hs, self.floor = data, hL, Hs, floor
        K = weighted_gram_blocks(X, hL)  # X^T diag(h_j) X for every block, a GEMM per chunk of rows
        self.Buu = Hs[:, 1:, 1:] + K
        self.But = np.ascontiguousarray(Hs[:, 1:, 0].T)  # d x J
        self.Btt = Hs[:, 0, 0].copy()
        S = self.Buu - np.einsum("ij,kj->jik", self.But, self.But) / self.Btt[:, None, None]
        ev, Q = np.linalg.eigh(S)
        ev = np.maximum(ev, floor)
        self.Sinv = np.matmul(Q * (1.0 / ev)[:, None, :], Q.transpose(0, 2, 1))
        if data.route == "gram":
            self._factor_gram()
            return
        # M S^{-1} M^T = sum_j D_j X (S_Vj^{-1} + S_Wj^{-1}) X^T D_j: the v and w blocks of a pattern share
        # D_j (up to sign), so L = [D_j o X R_j] over the P patterns (T_j = R_j R_j^T) has half the
        # columns of the stacked [M_j Sinv_j^{1/2}] and L L^T costs half as much
        self._pair_roots()
        D = Dpm[:, :data.P]
        XR = (X @ self.R.transpose(1, 0, 2).reshape(d, data.P * d)).reshape(n, data.P, d)
        XR *= D[:, :, None]
        L = XR.reshape(n, data.P * d)
        # C = I + L L^T: the one large product (a rank-2dP update, BLAS syrk: the lower triangle only,
        # Fortran-ordered as LAPACK's Cholesky wants it); worth every core
        with _blas_threads(data.big_threads):
            C = blas.dsyrk(1.0, L.T, trans=1, lower=1)
        C[np.diag_indices(n)] += 1.0
        try:
            self.cho = sla.cho_factor(C, lower=True, check_finite=False, overwrite_a=True)
        except np.linalg.LinAlgError:  # rounding in a huge L L^T: a relative shift, CG corrects it
            C = blas.dsyrk(1.0, L.T, trans=1, lower=1)
            C[np.diag_indices(n)] += 1.0 + 1e-12 * float(np.max(np.diag(C)))
            self.cho = sla.cho_factor(C, lower=True, check_finite=False, overwrite_a=True)

    def _factor_gram(self):
        r"""The tall-data route: with ``S = blockdiag(S_V, S_W)`` and ``M^T M = E G E^T``,
        ``(S + E G E^T)^{-1} = S^{-1} - S^{-1} E R^{-T} H^{-1} R^T G E^T S^{-1}``, where
        ``T = S_V^{-1} + S_W^{-1} = R R^T`` (:meth:`_pair_roots`) and ``H = I + R^T G R`` (dP x dP, eigenvalues >= 1): one Cholesky of size dP per iteration, whatever n."""
        data, P, d = self.data, self.data.P, self.data.d
        self._pair_roots()
        G4 = data.gram.reshape(P, d, P, d).transpose(0, 2, 1, 3)  # G4[i, j] = G_ij (d x d)
        RtGR = np.matmul(np.matmul(self.R.transpose(0, 2, 1)[:, None], G4), self.R[None])
        H = RtGR.transpose(0, 2, 1, 3).reshape(P * d, P * d)
        H[np.diag_indices(P * d)] += 1.0
        with _blas_threads(data.big_threads):
            self.cho = sla.cho_factor(H, lower=True, check_finite=False, overwrite_a=True)

    def _pair_roots(self):
        """``R_j`` with ``R_j R_j^T = T_j = S_Vj^{-1} + S_Wj^{-1}`` for the P patterns, and ``R_j^{-T}`` (batched
        ``eigh``: T spans many orders of magnitude late in a run, where a Cholesky would fail on rounding)."""
        P = self.data.P
        ev, Q = np.linalg.eigh(self.Sinv[:P] + self.Sinv[P:])
        root = np.sqrt(np.maximum(ev, 1e-300))
        self.R = Q * root[:, None, :]
        self.R_inv_T = Q * (1.0 / root)[:, None, :]

    def _gram_correction(self, x):
        """``S^{-1} E R^{-T} H^{-1} R^T G E^T x`` for ``x = S^{-1} r`` (d x 2P), the Woodbury correction of
        the tall-data route."""
        data, P, d = self.data, self.data.P, self.data.d
        q = (x[:, :P] - x[:, P:]).T.reshape(P * d)  # E^T x, block after block
        h = np.matmul(self.R.transpose(0, 2, 1), (data.gram @ q).reshape(P, d, 1))  # R^T G E^T x
        s = sla.cho_solve(self.cho, h.reshape(P * d), check_finite=False).reshape(P, d, 1)
        y = np.matmul(self.R_inv_T, s)[:, :, 0].T  # R^{-T} s, d x P
        return np.hstack([_blocks_times(self.Sinv[:P], y), -_blocks_times(self.Sinv[P:], y)])

    def refloored(self, floor):
        """The same system with another eigenvalue floor."""
        return _NewtonSystem(self.data, self.hL, self.Hs, floor)

    def _precondition(self, rU, rt):
        """The Woodbury solve: exact in exact arithmetic, up to the eigenvalue floor."""
        data = self.data
        rtil = rU - self.But * (rt / self.Btt)
        x = _blocks_times(self.Sinv, rtil)
        if data.route == "gram":
            x -= self._gram_correction(x)
        else:
            c = sla.cho_solve(self.cho, data.M(x), check_finite=False)
            x -= _blocks_times(self.Sinv, data.MT(c))
        return x, (rt - np.einsum("ij,ij->j", self.But, x)) / self.Btt

    def apply(self, xU, xt):
        """``K x`` (``M^T M`` by :meth:`_Data.MTM`)."""
        data = self.data
        return (data.MTM(xU) + _blocks_times(self.Buu, xU) + self.But * xt,
                np.einsum("ij,ij->j", self.But, xU) + self.Btt * xt)

    def solve(self, rU, rt, rel_tol=1e-11, max_steps=30):
        """Conjugate gradients on ``K x = r`` preconditioned by the Woodbury solve (which alone loses the
        digits that the near-singular blocks of late iterations cancel). Returns the iterate with the
        smallest residual (a preconditioner that rounding made indefinite ends the iteration)."""
        def count():
            self.data.cg_steps += 1

        xU, xt, _ = preconditioned_cg(self.apply, self._precondition, rU, rt, rel_tol, max_steps, count)
        return xU, xt


class _Data(PatternMaps):
    """Scaled data, the maps of :class:`~solvers.core.operators.PatternMaps` (``M a``, ``M^T r``), the cone
    map ``S o X a``, the number of cone dimensions ``degree`` and the count of conjugate-gradient steps of the run."""

    def __init__(self, sc, D, capacitance_threads=1, route="auto"):
        super().__init__(sc.X, D)
        self.y = sc.y
        self.beta = sc.beta
        self.J = 2 * self.P
        self.degree = self.n * self.J + self.J  # orthant n J plus one per second-order cone
        self.big_threads = capacitance_threads
        self.cg_steps = 0
        self.route = newton_route(self.n, self.d, self.P, route)
        self.gram = self.pattern_gram() if self.route == "gram" else None

    def pattern_gram(self, chunk_bytes=2 ** 28):
        r"""``G = Z^T Z`` with ``Z = [D_1 o X, ..., D_P o X]`` (n x dP), so that ``M^T M = E G E^T`` with
        ``E = [I; -I]`` (``M a = Z (v - w)``); accumulated over chunks of rows (at most ``chunk_bytes`` of
        Z at a time), so the extra memory is one chunk and G itself ((dP)^2 floats)."""
        n, d, P = self.n, self.d, self.P
        m = d * P
        gram = np.zeros((m, m))
        rows = max(1, int(chunk_bytes // (8 * m)))
        with _blas_threads(self.big_threads):
            for start in range(0, n, rows):
                X, D = self.X[start:start + rows], self.D[start:start + rows]
                Z = (D[:, :, None] * X[:, None, :]).reshape(X.shape[0], m)
                gram += blas.dsyrk(1.0, Z, trans=1, lower=1)
        lower = np.tril_indices(m, -1)
        gram.T[lower] = gram[lower]  # dsyrk filled one triangle (column-major lower = row-major upper)
        return gram

    def cone(self, A):
        return self.S2 * (self.X @ A)

    def MTM(self, A):
        """``M^T M a``; on the tall-data route through the pattern Gram matrix, ``E G E^T a``:
        ``O((dP)^2)`` instead of ``O(n d P)``."""
        if self.route != "gram":
            return self.MT(self.M(A))
        P, d = self.P, self.d
        q = (self.gram @ (A[:, :P] - A[:, P:]).T.reshape(P * d)).reshape(P, d).T
        return np.hstack([q, -q])


def _kkt_solve(data, system, nt, b):
    r"""Solve ``P dx + G^T dz = bx``, ``G dx + ds = bz``, ``lambda o (W dz + W^{-T} ds) = bs`` for
    ``b = (bU, bt, bzL, bz0, bz1, bsL, bs0, bs1)``. Returns ``(dU, dt, dzL, dz0, dz1, dsL, ds0, ds1)`` and
    the scaled directions ``(W dz, W^{-T} ds)`` per cone (6 arrays). The n x 2P orthant arrays are
    updated in place, so each costs one pass."""
    bU, bt, bzL, bz0, bz1, bsL, bs0, bs1 = b
    qL, q0, q1 = nt.lam_solve(bsL, bs0, bs1)
    Wq0, Wq1 = nt.apply(q0, q1)
    ezL = np.multiply(nt.wL, qL)
    np.subtract(bzL, ezL, out=ezL)  # bz - W^T (lambda \ bs)
    ez0, ez1 = bz0 - Wq0, bz1 - Wq1
    hL = ezL * nt.wL_inverse_squared
    hL *= data.S2
    h0, h1 = nt.apply(*nt.apply(ez0, ez1, inverse=True), inverse=True)  # W^{-2} (bz - ...)
    dU, dt = system.solve(bU - data.XT @ hL - h1, bt - h0)
    # dz~ = W^{-T} (G dx - ez), dz = W^{-1} dz~, ds~ = lambda \ bs - dz~, ds = W^T ds~
    dztL = data.cone(dU)
    dztL += ezL
    dztL *= -nt.wL_inverse
    dzt0, dzt1 = nt.apply(-dt - ez0, -dU - ez1, inverse=True)
    dz0, dz1 = nt.apply(dzt0, dzt1, inverse=True)
    dstL, dst0, dst1 = np.subtract(qL, dztL, out=qL), q0 - dzt0, q1 - dzt1
    ds0, ds1 = nt.apply(dst0, dst1)
    return [dU, dt, dztL * nt.wL_inverse, dz0, dz1, nt.wL * dstL, ds0, ds1, dztL, dzt0, dzt1, dstL, dst0, dst1]


def _kkt_residual(data, nt, sol, b):
    """``b`` minus the KKT operator applied to the direction ``sol`` (same layout as ``b``)."""
    dU, dt, dzL, dz0, dz1, dsL, ds0, ds1 = sol[:8]
    bU, bt, bzL, bz0, bz1, bsL, bs0, bs1 = b
    eU = bU - (data.MTM(dU) - data.XT @ (data.S2 * dzL) - dz1)
    et = bt + dz0
    ezL = data.cone(dU)  # bz - (-G dx + ds), orthant part
    ezL += bzL
    ezL -= dsL
    ez0, ez1 = bz0 - (-dt + ds0), bz1 - (-dU + ds1)
    gL = nt.wL * dzL
    gL += dsL * nt.wL_inverse
    gL *= nt.lamL
    np.subtract(bsL, gL, out=gL)
    a0, a1 = nt.apply(dz0, dz1)
    c0, c1 = nt.apply(ds0, ds1, inverse=True)
    g0, g1 = a0 + c0, a1 + c1
    l0, l1 = nt.lam0, nt.lam1
    return [eU, et, ezL, ez0, ez1, gL, bs0 - (l0 * g0 + np.einsum("ij,ij->j", l1, g1)),
            bs1 - (l0 * g1 + g0 * l1)]


def _refined_solve(data, system, nt, b, steps=3):
    """:func:`_kkt_solve` plus up to ``steps`` rounds of iterative refinement on the full KKT system (a
    correction is kept only if it lowers the residual)."""
    def size(vs):  # the largest magnitude, without an |v| temporary
        return max(max(float(v.max(initial=0.0)), -float(v.min(initial=0.0))) for v in vs)

    sol = _kkt_solve(data, system, nt, b)
    target = 1e-14 * max(1.0, size(b))
    e = _kkt_residual(data, nt, sol, b)
    res = size(e)
    for _ in range(steps):
        if res <= target:
            break
        trial = [s + c for s, c in zip(sol, _kkt_solve(data, system, nt, e))]
        e_trial = _kkt_residual(data, nt, trial, b)
        if size(e_trial) >= res:
            break
        sol, e, res = trial, e_trial, size(e_trial)
    return sol, res / max(1.0, size(b))


def _max_step(nt, sol):
    """Largest step keeping ``lambda + alpha W^{-T} ds`` and ``lambda + alpha W dz`` in the cones."""
    dztL, dzt0, dzt1, dstL, dst0, dst1 = sol[8:14]
    return min(orthant_max_step(nt.lamL, dstL), orthant_max_step(nt.lamL, dztL),
               float(soc_max_step(nt.lam0, nt.lam1, dst0, dst1).min()),
               float(soc_max_step(nt.lam0, nt.lam1, dzt0, dzt1).min()))


def _centrality_correctors(data, system, nt, step, mu_target, info, max_correctors=_MAX_CORRECTORS):
    """Gondzio's multiple centrality correctors on the orthant: while the step is short, aim at a longer
    one (``alpha~ = min(1, 1.5 alpha + 0.1)``), move the complementarity products of that trial point that
    fall outside ``[0.1, 10] * sigma mu`` back to the interval, and add the Newton direction of that
    correction (one more solve with the factorisation already made). A corrector is kept only if it
    lengthens the step by 1%. Returns the (corrected) direction."""
    alpha = min(1.0, _max_step(nt, step))
    for _ in range(max_correctors):
        if alpha >= 0.9:
            break
        trial = min(1.0, 1.5 * alpha + 0.1)
        v = (nt.lamL + trial * step[11]) * (nt.lamL + trial * step[8])  # scaled (s + a ds)(z + a dz)
        target = np.clip(v, 0.1 * mu_target, 10.0 * mu_target)
        corr = np.maximum(target - v, -10.0 * mu_target)
        zero_J, zero_dJ = np.zeros_like(nt.lam0), np.zeros_like(nt.lam1)
        b = [np.zeros_like(step[0]), zero_J, np.zeros_like(corr), zero_J, zero_dJ, corr, zero_J, zero_dJ]
        extra, res = _refined_solve(data, system, nt, b)
        if res > _KKT_ACCURACY:
            break
        cand = [a + e for a, e in zip(step, extra)]
        alpha_c = min(1.0, _max_step(nt, cand))
        if alpha_c < 1.01 * alpha:
            break
        step, alpha = cand, alpha_c
        info["correctors"] += 1
    return step


# ------------------------------------------------------------------------------------------------------
# the iterate, the start and the certificate
# ------------------------------------------------------------------------------------------------------
class _Iterate:
    """A primal-dual point: the blocks ``U`` (d x J) and epigraph variables ``t`` (J); the slacks of the
    orthant ``sL`` (n x J) and of the second-order cones ``(s0, s1)`` (J, d x J); their multipliers
    ``zL`` and ``(z0, z1)``."""

    def __init__(self, U, t, sL, s0, s1, zL, z0, z1):
        self.U, self.t = U, t
        self.sL, self.s0, self.s1 = sL, s0, s1
        self.zL, self.z0, self.z1 = zL, z0, z1

    def mu(self, degree):
        """The complementarity measure ``s^T z / degree``."""
        return (float(np.sum(self.sL * self.zL)) + float(np.sum(self.s0 * self.z0))
                + float(np.sum(self.s1 * self.z1))) / degree

    def moved(self, direction, alpha):
        """The point ``x + alpha dx`` for a direction ``(dU, dt, dzL, dz0, dz1, dsL, ds0, ds1, ...)``."""
        dU, dt, dzL, dz0, dz1, dsL, ds0, ds1 = direction[:8]
        return _Iterate(self.U + alpha * dU, self.t + alpha * dt,
                        self.sL + alpha * dsL, self.s0 + alpha * ds0, self.s1 + alpha * ds1,
                        self.zL + alpha * dzL, self.z0 + alpha * dz0, self.z1 + alpha * dz1)


def _initial_point(data):
    """CVXOPT's starting point: the Newton system with W = I gives ``x``, ``s = -G x`` and ``z = G x``, each
    shifted into the interior by ``(1 + max(0, -min eigenvalue)) e`` when it is not already there."""
    J, d, n = data.J, data.d, data.n
    Hs = np.broadcast_to(np.eye(d + 1), (J, d + 1, d + 1))
    system = _NewtonSystem(data, np.ones((n, J)), Hs)
    U, t = system.solve(data.MT(data.y), -data.beta * np.ones(J))
    QU = data.cone(U)
    points = []
    for sign in (1.0, -1.0):  # s = -G x = (S o X a, t, a); z = G x
        xL, x0, x1 = sign * QU, sign * t, sign * U
        worst = max(-float(xL.min()), -float(np.min(x0 - np.linalg.norm(x1, axis=0))))
        shift = 0.0 if worst < 0 else 1.0 + worst
        points.append((xL + shift, x0 + shift, x1))
    (sL, s0, s1), (zL, z0, z1) = points
    return _Iterate(U, t, sL, s0, s1, zL, z0, z1)


def _certificate(data, U, zL, pred):
    """(objective, Lagrange dual bound, cone violation) of the scaled problem at ``(U, z)``: the dual is
    evaluated at ``nu = M a - y`` and ``lambda = z >= 0`` scaled by theta into the dual feasible set
    ``|M_j^T nu - X^T (S_j o lambda_j)| <= beta``."""
    nu = pred - data.y
    R = data.MT(nu) - data.XT @ (data.S2 * zL)
    theta = block_dual_scaling(R, data.beta)
    dual = -0.5 * theta ** 2 * float(nu @ nu) - theta * float(nu @ data.y)
    objective = 0.5 * float(nu @ nu) + data.beta * float(np.sum(np.linalg.norm(U, axis=0)))
    violation = max(0.0, -float(data.cone(U).min(initial=0.0)))
    return objective, dual, violation, theta * nu


def _drop_tiny_blocks(data, U, slack):
    """Zero the blocks whose norm is below a threshold - 1e-8, 1e-6, 1e-4, 1e-3 of the largest, or
    1e-8, 1e-6, 1e-4 absolute (scaled data, where weights of order one are natural), in increasing
    order - as long as the scaled objective rises by at most ``slack``. A zero block satisfies its cone,
    so the point stays feasible. An interior-point iterate keeps every block slightly nonzero; without
    this the recovered network would have one neuron per block (and the zero network would not be zero)."""
    norms = np.linalg.norm(U, axis=0)
    top = float(norms.max(initial=0.0))

    def objective(A):
        r = data.M(A) - data.y
        return 0.5 * float(r @ r) + data.beta * float(np.sum(np.linalg.norm(A, axis=0)))

    base, best = objective(U), U
    for threshold in sorted({r * top for r in (1e-8, 1e-6, 1e-4, 1e-3)} | {1e-8, 1e-6, 1e-4}):
        drop = (norms <= threshold) & np.any(best != 0, axis=0)
        if not np.any(drop):
            continue
        cand = best.copy()
        cand[:, drop] = 0.0
        if objective(cand) > base + slack:
            break
        best = cand
    return best


# ------------------------------------------------------------------------------------------------------
# the run: best bounds, history and log; residuals and stopping
# ------------------------------------------------------------------------------------------------------
_COLUMNS = [("iter", 5), ("objective", 16), ("dual bound", 16), ("rel gap", 9), ("prim res", 9),
            ("dual res", 9), ("mu", 9), ("step", 7), ("time", 8)]


class _Run:
    """What the loop carries besides the iterate: the iteration count, the last step length, the count of
    collapsed steps, the block eigenvalue floor (it only grows), the best feasible primal point and the
    best dual bound (scaled problem), the history, ``info`` and the verbose log."""

    def __init__(self, program, sc, data, settings, t_start):
        self.t_start = t_start
        self.to_orig = sc.sy ** 2  # objective of the original problem per unit of the scaled one
        self.yscale = max(1.0, float(np.max(np.abs(sc.y), initial=0.0)))
        self.feas_tol = settings.feas_tol * self.yscale  # accepted cone violation of the scaled problem
        self.iteration, self.stalls, self.step, self.floor = 0, 0, 0.0, _EIG_FLOOR
        self.best_primal = None  # (objective, U) of the best cone-feasible iterate
        self.best_dual = self.best_dual_nu = None  # the best bound and its dual vector (scaled problem)
        self.history = {k: [] for k in ("iteration", "objective", "dual_bound", "gap", "primal_residual",
                                        "dual_residual", "mu", "step", "time")}
        self.info = {"scale_x": sc.sx, "scale_y": sc.sy, "setup_time_s": time.perf_counter() - t_start,
                     "correctors": 0}
        self.log = IterationLog("ipm", _COLUMNS, 0.0 if settings.verbose else None)
        self.intro = (f"n={data.n}, d={data.d}, P={data.P}, beta={program.beta_value:g}, {data.degree} cone "
                      f"dimensions (orthant {data.n * data.J}, {data.J} second-order cones)")

    def certify(self, data, point, pred):
        """Certificate of ``point``; keeps the best feasible objective and the best dual bound. Returns
        (objective, dual bound) of the point."""
        objective, dual, violation, nu = _certificate(data, point.U, point.zL, pred)
        if violation <= self.feas_tol and (self.best_primal is None or objective < self.best_primal[0]):
            self.best_primal = (objective, point.U.copy())
        if np.isfinite(dual) and (self.best_dual is None or dual > self.best_dual):
            self.best_dual, self.best_dual_nu = dual, nu
        return objective, dual

    def gap(self):
        """The certified relative gap (original units) of the best bounds, None before both exist."""
        if self.best_primal is None or self.best_dual is None:
            return None
        return certified_gap(self.best_primal[0], self.best_dual, unit=self.to_orig)

    def record(self, objective, dual, residuals, gap, now):
        """One history row (original units) and, when verbose, one table row."""
        record(self.history, iteration=self.iteration, objective=self.to_orig * objective,
               dual_bound=self.to_orig * dual, gap=np.nan if gap is None else gap,
               primal_residual=residuals.primal, dual_residual=residuals.dual, mu=residuals.mu, step=self.step,
               time=now)
        if self.log.active(now, self.intro):
            self.log.row(f"{self.iteration:d}", f"{self.to_orig * objective:.10e}", f"{self.to_orig * dual:.9e}",
                         "-" if gap is None else format(gap, ".2e"), f"{residuals.primal:.2e}",
                         f"{residuals.dual:.2e}", f"{residuals.mu:.2e}", f"{self.step:.3f}", f"{now:.2f}s")

    def fail(self, reason):
        """An iteration that cannot continue: the next stopping test returns ``optimal_inaccurate``."""
        self.stalls = 2
        self.info["stopped_by"] = reason


class _Residuals:
    """Residuals of ``G x + s = h`` (``rL, r0, r1``) and ``P x + q + G^T z = 0`` (``rU, rt``), their largest
    entries ``primal`` and ``dual``, and ``mu``."""

    def __init__(self, data, point, pred):
        self.rL = point.sL - data.cone(point.U)
        self.r0, self.r1 = point.s0 - point.t, point.s1 - point.U
        self.rU = data.MT(pred - data.y) - data.XT @ (data.S2 * point.zL) - point.z1
        self.rt = data.beta - point.z0
        self.mu = point.mu(data.degree)
        self.primal = max(float(np.max(np.abs(self.rL))), float(np.max(np.abs(self.r0))),
                          float(np.max(np.abs(self.r1))))
        self.dual = max(float(np.max(np.abs(self.rU))), float(np.max(np.abs(self.rt))))


def _stopping_status(run, objective, mu, gap, settings, now):
    """The status that ends the loop now, or None to continue."""
    if not (np.isfinite(objective) and np.isfinite(mu)):
        return "diverged"
    if gap is not None and gap <= settings.tol_gap:
        return "optimal"
    if run.stalls >= 2:
        run.info.setdefault("stopped_by", "two steps in a row collapsed")
        return "optimal_inaccurate"
    if run.iteration >= settings.max_iter:
        return "max_iter"
    if settings.time_limit is not None and now >= settings.time_limit:
        return "time_limit"
    return None


# ------------------------------------------------------------------------------------------------------
# one iteration: Newton system, predictor, corrector, correctors, step
# ------------------------------------------------------------------------------------------------------
def _accurate_solve(data, nt, system, b, run):
    """Solve the Newton equations for ``b`` with ``system``. While the direction's relative KKT residual
    exceeds ``_KKT_ACCURACY``, the system is rebuilt with a 100x larger eigenvalue floor (up to
    ``_EIG_FLOOR_MAX``; later iterations keep it). Returns (system, direction), or None (``run.fail``)
    when the direction stays inaccurate."""
    while True:
        direction, residual = _refined_solve(data, system, nt, b)
        if residual <= _KKT_ACCURACY or run.floor >= _EIG_FLOOR_MAX:
            break
        run.floor *= 100.0
        system = system.refloored(run.floor)
    if residual > _KKT_ACCURACY:
        run.fail(f"inaccurate Newton direction (relative KKT residual {residual:.1e})")
        return None
    return system, direction


def _predictor(data, nt, point, residuals, run):
    """The affine direction (``bs = -lambda o lambda``) and Mehrotra's centering ``sigma = (mu_aff/mu)^3``
    from its step length. Returns (system, right-hand side, direction, sigma), or None when the direction
    stays inaccurate."""
    lam0, lam1 = nt.lam0, nt.lam1
    ll0 = lam0 * lam0 + np.einsum("ij,ij->j", lam1, lam1)
    ll1 = 2.0 * lam0 * lam1
    b = [-residuals.rU, -residuals.rt, -residuals.rL, -residuals.r0, -residuals.r1, -nt.lamL ** 2, -ll0, -ll1]
    system = _NewtonSystem(data, point.zL / point.sL, nt.inverse_squared(), run.floor)
    solved = _accurate_solve(data, nt, system, b, run)
    if solved is None:
        return None
    system, affine = solved
    alpha = min(1.0, _max_step(nt, affine))
    mu_affine = point.moved(affine, alpha).mu(data.degree)
    sigma = min(1.0, max(0.0, mu_affine / residuals.mu)) ** 3
    return system, b, affine, sigma


def _corrector(data, nt, system, b, affine, target, run):
    """The combined direction: ``bs = -lambda o lambda - (W^{-T} ds_a) o (W dz_a) + sigma mu e`` (Mehrotra's
    second-order term from the affine direction, ``target = sigma mu``). None when it stays inaccurate."""
    dztL, dzt0, dzt1, dstL, dst0, dst1 = affine[8:14]
    cL = dstL * dztL
    c0 = dst0 * dzt0 + np.einsum("ij,ij->j", dst1, dzt1)
    c1 = dst0 * dzt1 + dzt0 * dst1
    b = b[:5] + [b[5] - cL + target, b[6] - c0 + target, b[7] - c1]
    return _accurate_solve(data, nt, system, b, run)


def _iterate(data, point, residuals, run):
    """One predictor-corrector iteration from ``point``. Returns the next point, or ``point`` itself when
    the iteration failed (``run.fail``) or its step collapsed (``run.stalls``)."""
    try:
        with np.errstate(all="raise"):
            nt = NTScaling(point.sL, point.zL, point.s0, point.s1, point.z0, point.z1)
    except FloatingPointError:
        run.fail("the cone scaling could not be computed (iterates on the cone boundary)")
        return point
    predicted = _predictor(data, nt, point, residuals, run)
    if predicted is None:
        return point
    system, b, affine, sigma = predicted
    corrected = _corrector(data, nt, system, b, affine, sigma * residuals.mu, run)
    if corrected is None:
        return point
    system, step = corrected
    step = _centrality_correctors(data, system, nt, step, sigma * residuals.mu, run.info)
    alpha = min(1.0, _STEP_FRACTION * _max_step(nt, step))
    if not np.isfinite(alpha) or alpha < 1e-8:  # no progress possible along this direction
        run.stalls += 1
        run.step = 0.0
        return point
    run.stalls, run.step = 0, alpha
    return point.moved(step, alpha)


# ------------------------------------------------------------------------------------------------------
# the returned point and the result
# ------------------------------------------------------------------------------------------------------
def _returned_point(data, run, point, tol_gap, deadline=None):
    """The best feasible iterate, else the last one projected onto the cones (or, when the ``deadline``
    passes during the projection, the last iterate as it is); then the blocks that half of the remaining
    gap allowance lets drop (:func:`_drop_tiny_blocks`). Returns (U, label)."""
    label = "iterate"
    if run.best_primal is None:
        projected = project_cones(data, point.U, deadline)
        if projected is None:
            return point.U, "iterate_unprojected"
        run.best_primal = (_certificate(data, projected, point.zL, data.M(projected))[0], projected)
        label = "projected"
    objective, U = run.best_primal
    if run.best_dual is not None:  # an interior point never has exact zeros: drop the blocks the gap allows
        slack = 0.5 * (tol_gap * max(1.0, run.to_orig * abs(objective)) / run.to_orig - (objective - run.best_dual))
        sparse = _drop_tiny_blocks(data, U, max(slack, 0.0))
        label += "_sparsified" if sparse is not U else ""
        U = sparse
    return U, label


def _finish(program, sc, data, run, point, residuals, status, settings):
    """The result at the returned point. Its status follows from what that point proves: a certified gap
    at a feasible point is ``optimal`` whatever stopped the loop (say a collapsed step after the gap
    closed), and a loop that stopped ``optimal`` at a point that is not certified is ``optimal_inaccurate``."""
    deadline = None if settings.time_limit is None else run.t_start + settings.time_limit
    U, label = _returned_point(data, run, point, settings.tol_gap, deadline)
    weights = sc.to_weights(U, data.P)
    objective = program.objective(weights)
    violation = program.max_violation(weights)
    dual_bound = None if run.best_dual is None else run.to_orig * run.best_dual
    gap = None if dual_bound is None else certified_gap(objective, dual_bound)
    certified = bool(gap is not None and gap <= settings.tol_gap
                     and violation <= settings.feas_tol * sc.sy * run.yscale)
    if certified:
        status = "optimal"
    elif status == "optimal":
        status = "optimal_inaccurate"
    dual_vector = None if run.best_dual_nu is None else sc.sy * run.best_dual_nu
    run.info.update({"duality_gap_rel": gap, "dual_bound": dual_bound, "dual_vector": dual_vector,
                     "cone_violation": violation,
                     "certified": certified, "returned_point": label, "mu": residuals.mu, "eig_floor": run.floor,
                     "cg_steps": data.cg_steps, "newton_route": data.route, "primal_residual": residuals.primal,
                     "dual_residual": residuals.dual})
    return finish_run(program, weights, status=status, solver="ipm", iterations=run.iteration,
                      solve_time_s=time.perf_counter() - run.t_start, history=run.history, info=run.info,
                      verbose=settings.verbose)


def _ipm(program, settings):
    t_start = time.perf_counter()
    sc = Scaled(program, settings.scaling)
    data = _Data(sc, program.D, settings.capacitance_threads, settings.newton_route)
    point = _initial_point(data)
    run = _Run(program, sc, data, settings, t_start)
    while True:
        pred = data.M(point.U)
        objective, dual = run.certify(data, point, pred)
        residuals = _Residuals(data, point, pred)
        gap = run.gap()
        now = time.perf_counter() - t_start
        run.record(objective, dual, residuals, gap, now)
        status = _stopping_status(run, objective, residuals.mu, gap, settings, now)
        if status is not None:
            return _finish(program, sc, data, run, point, residuals, status, settings)
        run.iteration += 1
        point = _iterate(data, point, residuals, run)


@retains_heap
def ipm(program, **options):
    r"""Solve a squared-loss :class:`~formulations.relu.ReLUProgram` (exact or sampled) by a structured
    primal-dual interior-point method (see the module docstring for the algorithm and its cost).

    Parameters
    ----------
    program : ReLUProgram with the squared loss; never modified.
    **options : the fields of :class:`IPMSettings`:

        tol_gap (1e-7) : stop when the certified relative duality gap ``(objective - dual bound) /
            max(1, |objective|)`` (original units) is at most this, at a point whose cone violation is within
            ``feas_tol``.
        feas_tol (1e-9) : cone violation accepted for the returned point, relative to ``max(1, |y|_inf)``.
        max_iter (100), time_limit (None) : iteration limit and wall-clock limit in seconds (None: no limit).
        verbose (False) : print an iteration table (objective, dual bound, certified gap, residuals, mu,
            step, time) to ``sys.stderr``.
        scaling (True) : scale X and y as the ADMM does (for measurements).
        blas_threads (1) : BLAS threads for the small products of the solves (one, as the ADMM: they are
            too small to gain from threads on a shared machine); None leaves the BLAS setting alone.
        capacitance_threads (None) : BLAS threads for the one large product of an iteration, ``L L^T``
            (n x 2dP by 2dP x n); None: all cores.
        tol_abs, tol_rel (None) : the registry's generic ``--tol``; when given, ``tol_gap`` becomes their
            minimum.

    Returns
    -------
    SolveResult with ``solver = "ipm"``, ``weights = {"V", "W"}`` and ``status``: ``optimal`` (the returned
    point is certified: gap <= tol_gap at a feasible point), ``optimal_inaccurate`` (the step collapsed or a
    direction stayed inaccurate before that; the best certified point is returned and
    ``info["duality_gap_rel"]`` says how good it is), ``max_iter``, ``time_limit`` or ``diverged``; any
    status but ``optimal`` also raises a :class:`~solvers.result.ConvergenceWarning`.
    ``history`` (one entry per iteration): iteration, objective, dual_bound, gap (the best certified gap
    so far), primal_residual, dual_residual, mu, step, time.
    ``info``: duality_gap_rel, dual_bound, dual_vector (the dual point nu of the best bound, original units:
    with cone multipliers chosen per block it is feasible, so the bound can be checked, or extended to
    patterns the program left out, by pricing), certified, cone_violation, returned_point (``iterate``, with
    ``_sparsified`` when blocks below 1e-8..1e-3 of the largest norm were zeroed within half the remaining
    gap allowance, or ``projected``), mu, residuals, eig_floor (the block eigenvalue floor reached),
    cg_steps, correctors (centrality correctors kept), setup_time_s, scale_x, scale_y, and ``stopped_by``
    when the step collapsed.
    """
    check_constrained_squared("ipm", program)
    settings = settings_from_options("ipm", IPMSettings, options)
    return run_with_blas_threads("ipm", settings.blas_threads, _ipm, program, settings)


ipm.__signature__ = keyword_signature(IPMSettings)
