r"""Polish and dual certificate for the robust hinge program (docs/math.md section 7), used by
:mod:`solvers.admm.robust` and :mod:`solvers.admm.robust_descent`.

Program (original units, ``A = [V, W]``, ``Sigma_k = sum_j Dpm_kj a_j``, ``w_k = y_k x_k``, ``Pi`` the
perturbed coordinates):

.. math::
    p^* = \min_A \sum_k \max(0,\ 1 - w_k^T \Sigma_k + \epsilon |\Pi \Sigma_k|_1) + \beta \sum_j |a_j|_2
    \quad\text{s.t.}\quad S2_{kj}\, x_k^T a_j \ge \epsilon |\Pi a_j|_1 .

**Dual bound.** With multipliers ``alpha_k in [0, 1]`` (hinge weights), ``u_k`` (``|u_k|_inf <= 1``,
supported on ``Pi``) and ``lambda_kj >= 0`` (cone rows), set ``Y_k = alpha_k (eps u_k - w_k)``,
``g_j = sum_k Dpm_kj Y_k - X^T (S2_j o lambda_j)`` and ``Lambda_j = sum_k lambda_kj``. The Lagrangian's
infimum over ``Sigma`` is ``sum_k alpha_k`` (conjugate of the worst-case hinge) and its infimum over ``a_j``
is 0 when ``|soft_Pi(g_j, eps Lambda_j)|_2 <= beta`` (the dual norm of ``beta |.|_2 + eps Lambda_j |Pi .|_1``),
``-inf`` otherwise. Scaling ``(alpha, lambda)`` by ``t = min(1, beta / max_j |soft_Pi(g_j, eps Lambda_j)|_2)``
(:func:`solvers.core.dual.dual_scaling`) makes any choice feasible, so

.. math::  p^* \ge t \sum_k \alpha_k \qquad (:func:`robust_dual_bound`).

Blocks whose robust cone is ``{0}`` (``a_j = 0`` is implied) carry a free multiplier and are left out of
the max.

**Polish.** At a solution the worst case is piecewise linear: fix the pieces (samples with margin loss
positive, on the kink, or zero), the signs ``r_k = sign(Pi Sigma_k)`` of the slopes of the loss-carrying
samples with their zero coordinates, the support blocks, the zero coordinates of each block and the
signs ``s_j`` of the others, and the active cone rows. Then ``|Pi Sigma_k|_1 = r_k^T Pi Sigma_k`` and
``|Pi a_j|_1 = s_j^T Pi a_j``, and the program reduces to a linear term, group norms and linear equalities

* kink samples: ``(w_k - eps Pi r_k)^T Sigma_k = 1`` (multiplier ``-alpha_k``);
* active cone rows: ``(S2_kj x_k - eps Pi s_j)^T a_j = 0`` (multiplier ``-lambda_kj``);
* zero slope coordinates of loss-carrying samples: ``Sigma_k[i] = 0`` (multiplier ``eps alpha_k u_k[i]``);
* zero block coordinates: ``a_j[i] = 0`` (multiplier in ``[-eps Lambda_j, eps Lambda_j]``),

solved by equality-constrained Newton on its KKT system (:func:`polish_robust`). The multipliers give the
dual point of the bound above: when the equalities are dependent they are not unique, so an elastic LP
picks ones inside their ranges with exact stationarity; the cone multipliers of the zero blocks (all of
whose rows are active at ``a_j = 0``) are priced exactly, block by block, by nonnegative least squares
with column generation. A polished point therefore comes with its certified gap.

When the structure read off the ADMM iterates is wrong, :mod:`solvers.admm.robust_descent` moves a feasible
polished point downhill and polishes again.
"""
from __future__ import annotations

import time
import warnings

import numpy as np
from scipy import linalg as sla

from ..core.dual import certified_gap, dual_scaling
from ..core.operators import PatternMaps
from ..core.prox import soft_threshold as _soft_threshold

__all__ = ["robust_dual_bound", "robust_block_norms", "hinge_multipliers", "RobustStructure", "polish_robust",
           "restore_dual_feasibility", "RobustPolishSchedule"]


def _pieces(program):
    """The perturbed-coordinate mask ``Pi`` (d, the program's: the bias column is never perturbed) and the
    pattern arrays ``Dpm = [D, -D]``, ``S2 = [S, S]`` (n x 2P) of :class:`~solvers.core.operators.PatternMaps`."""
    maps = PatternMaps(program.X, program.D)
    return program.perturbed_mask, maps.Dpm, maps.S2


def robust_dual_bound(program, alpha, U, lam, free_blocks=None):
    r"""Lower bound ``t sum_k alpha_k`` on the robust hinge optimum (module docstring).

    ``alpha``: n-vector (clipped to [0, 1]); ``U``: n x d (clipped to [-1, 1], zeroed off ``Pi``);
    ``lam``: n x 2P (clipped at 0); ``free_blocks``: boolean 2P-mask of blocks known to be zero (cone
    ``{0}``), left out. Returns (bound, t)."""
    alpha = np.clip(np.asarray(alpha, float), 0.0, 1.0)
    norms = robust_block_norms(program, alpha, U, lam)
    if free_blocks is not None:
        norms = np.where(free_blocks, 0.0, norms)
    t = dual_scaling(float(norms.max(initial=0.0)), program.beta_value)
    return t * float(alpha.sum()), t


def robust_block_norms(program, alpha, U, lam):
    r"""Per block, the dual norm ``|soft_Pi(g_j, eps Lambda_j)|_2`` of the module docstring (block j is dual
    feasible when it is at most beta); the arguments are clipped into their ranges as in
    :func:`robust_dual_bound`."""
    X, y, eps = program.X, program.y, program.epsilon_value
    pmask, Dpm, S2 = _pieces(program)
    alpha = np.clip(np.asarray(alpha, float), 0.0, 1.0)
    U = np.clip(np.asarray(U, float), -1.0, 1.0) * pmask[None, :]
    lam = np.maximum(np.asarray(lam, float), 0.0)
    Y = alpha[:, None] * (eps * U - y[:, None] * X)
    G = Y.T @ Dpm - X.T @ (S2 * lam)                       # d x 2P, column j = g_j
    thr = eps * lam.sum(axis=0)[None, :] * pmask[:, None]
    return np.linalg.norm(_soft_threshold(G, thr), axis=0)


def hinge_multipliers(Z, Wy, eps, pmask):
    r"""Hinge weights and slope multipliers ``(alpha, U)`` that represent a loss subgradient ``Z`` (n x d,
    one row per sample) as ``Z_k = alpha_k (eps Pi u_k - w_k)`` with ``alpha_k in [0, 1]``, ``|u_k|_inf <= 1``
    (the subdifferential of the worst-case hinge, ``Wy`` the rows ``w_k = y_k x_k``).

    For a fixed row the admissible ``alpha`` form an interval: ``Z_i = -alpha w_i`` on an unperturbed
    coordinate, ``alpha (w_i - eps) <= -Z_i <= alpha (w_i + eps)`` on a perturbed one. Every alpha in it
    reproduces ``Z_k`` exactly, so the largest is taken (the bound ``t sum_k alpha_k`` of
    :func:`robust_dual_bound` grows with it). Where rounding leaves the interval empty, its midpoint (in
    [0, 1]) and the clipped ``u`` represent ``Z_k`` approximately - any such pair still gives a valid bound."""
    Z, Wy = np.asarray(Z, float), np.asarray(Wy, float)
    n = Z.shape[0]
    lo, hi = np.zeros(n), np.ones(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        fixed = ~pmask
        if np.any(fixed):
            w_f, z_f = Wy[:, fixed], Z[:, fixed]
            value = np.where(w_f != 0, -z_f / w_f, np.nan)
            lo = np.fmax(lo, np.nanmax(np.where(w_f != 0, value, -np.inf), axis=1))
            hi = np.fmin(hi, np.nanmin(np.where(w_f != 0, value, np.inf), axis=1))
        w_p, z_p = Wy[:, pmask], -Z[:, pmask]
        for coef, upper_side in ((w_p - eps, True), (w_p + eps, False)):
            # upper_side: alpha * coef <= -Z_i ; otherwise alpha * coef >= -Z_i
            ratio = z_p / coef
            caps = np.where(coef > 0, ratio, np.inf) if upper_side else np.where(coef < 0, ratio, np.inf)
            floors = np.where(coef < 0, ratio, -np.inf) if upper_side else np.where(coef > 0, ratio, -np.inf)
            hi = np.minimum(hi, caps.min(axis=1, initial=np.inf))
            lo = np.maximum(lo, floors.max(axis=1, initial=-np.inf))
    alpha = np.clip(np.where(lo <= hi, hi, 0.5 * (lo + hi)), 0.0, 1.0)
    U = np.zeros_like(Z)
    if eps > 0:
        safe = np.where(alpha > 0, alpha, 1.0)
        U[:, pmask] = np.clip((Z[:, pmask] / safe[:, None] + Wy[:, pmask]) / eps, -1.0, 1.0)
        U[alpha == 0] = 0.0
    return alpha, U


class RobustStructure:
    """The combinatorial data the polish fixes (module docstring), all boolean / sign arrays in the
    program's shapes: ``support`` (2P), ``zero_coord`` (d x 2P, perturbed coordinates of support blocks
    fixed at 0), ``active`` (n x 2P cone rows), ``below`` / ``kink`` (n), ``slope_zero`` (n x d),
    ``slope_sign`` (n x d), ``block_sign`` (d x 2P)."""

    def __init__(self, support, zero_coord, active, below, kink, slope_zero, slope_sign, block_sign):
        self.support = support
        self.zero_coord = zero_coord
        self.active = active
        self.below = below
        self.kink = kink
        self.slope_zero = slope_zero
        self.slope_sign = slope_sign
        self.block_sign = block_sign

    @classmethod
    def from_admm(cls, Sig, below, kink, B, E, C0, cone_w, pmask, pinned, small_block=1e-3):
        """Read the structure off the ADMM's z-iterates (scaled units; exact zeros and ties come from the
        proxes): support from the group soft-threshold ``B`` (blocks below ``small_block`` times the largest
        norm left out: the ADMM shrinks vanishing blocks slowly, and a tiny block makes the reduced Newton
        ill-conditioned; a wrong guess shows in the certificate), zero coordinates and signs of the blocks from
        the cone projection's ``E``, active rows where the projection lifted ``c`` to the radius (``C0 <=
        t_j``), pieces from the hinge prox, slope signs and zeros from its output ``Sig``."""
        norms = np.linalg.norm(B, axis=0)
        support = (norms > small_block * norms.max(initial=0.0)) & ~pinned
        zero_coord = (E == 0) & pmask[:, None] & support[None, :]
        radius = cone_w @ np.abs(E)
        active = (C0 <= radius[None, :]) & support[None, :]
        loss_rows = below | kink
        slope_zero = (Sig == 0) & pmask[None, :] & loss_rows[:, None]
        return cls(support, zero_coord, active, below, kink, slope_zero,
                   np.sign(Sig) * pmask[None, :] * loss_rows[:, None], np.sign(E) * (pmask[:, None] & support[None, :]))

    def signature(self):
        """Bytes that change whenever any part of the structure does."""
        parts = [self.support, self.zero_coord, self.active, self.below, self.kink, self.slope_zero,
                 self.slope_sign > 0, self.block_sign[:, self.support] > 0]
        return b"".join(np.packbits(p.ravel()).tobytes() for p in parts)

    @classmethod
    def from_point(cls, program, A, rel_tol=1e-7):
        """Read the structure off a point ``A`` (d x 2P, original units) with a relative tolerance
        (blocks, coordinates, slacks and margins below ``rel_tol`` times their scale count as zero)."""
        X, y, eps = program.X, program.y, program.epsilon_value
        pmask, Dpm, S2 = _pieces(program)
        norms = np.linalg.norm(A, axis=0)
        support = norms > rel_tol * max(norms.max(initial=0.0), 1e-300)
        zero_coord = (np.abs(A) <= rel_tol * norms[None, :]) & pmask[:, None] & support[None, :]
        XA = X @ A
        slack = S2 * XA - eps * np.abs(A[pmask]).sum(axis=0)[None, :]
        row_scale = np.linalg.norm(X, axis=1)[:, None] * norms[None, :]
        active = (slack <= rel_tol * row_scale) & support[None, :]
        Sig = Dpm @ A.T
        margin = 1.0 - y * np.einsum("ij,ij->i", X, Sig) + eps * np.abs(Sig[:, pmask]).sum(axis=1)
        kink = np.abs(margin) <= rel_tol
        below = (margin > rel_tol)
        sig_scale = np.abs(Sig).max(initial=0.0)
        slope_zero = (np.abs(Sig) <= rel_tol * sig_scale) & pmask[None, :] & (below | kink)[:, None]
        loss_rows = below | kink
        return cls(support, zero_coord, active, below, kink, slope_zero,
                   np.sign(Sig) * (pmask[None, :] & ~slope_zero & loss_rows[:, None]),
                   np.sign(A) * (pmask[:, None] & ~zero_coord & support[None, :]))


def _price_block(g0, M, eps, pmask, beta, max_rounds=100):
    r"""Cone multipliers of one block: ``min_{lam >= 0} dist(g0 - M lam, eps 1^T lam B_inf)`` (``M``: d x n,
    columns ``S2_kj x_k``), exactly, as a nonnegative least-squares fit of ``g0`` by the cone spanned by the
    columns ``m_k + eps sigma`` (``sigma`` a sign vector on ``Pi``: a box is the hull of its vertices), by
    column generation: the best column of sample k against the residual r has ``sigma = sign(Pi r)`` and
    reduced cost ``m_k^T r + eps |Pi r|_1``. Stops as soon as the residual norm is ``<= beta`` (the block is
    then dual feasible) or no column improves. Returns lam (n,)."""
    from scipy.optimize import nnls
    d, n = M.shape
    cols_k, cols = [], []
    lam = np.zeros(n)
    r = g0.copy()
    for _ in range(max_rounds):
        if np.linalg.norm(r) <= beta:
            break
        score = M.T @ r + eps * np.abs(r[pmask]).sum()
        order = np.argsort(-score)[:d]
        order = order[score[order] > 1e-12 * max(1.0, np.linalg.norm(r) * np.linalg.norm(M, axis=0).max())]
        if order.size == 0:
            break
        sig = np.sign(r) * pmask
        for k in order:
            cols_k.append(k)
            cols.append(M[:, k] + eps * sig)
        Cm = np.array(cols).T
        mu, _ = nnls(Cm, g0, maxiter=50 * Cm.shape[1])
        keep = mu > 0
        cols_k = [k for k, kp in zip(cols_k, keep) if kp]
        cols = [c for c, kp in zip(cols, keep) if kp]
        mu = mu[keep]
        r = g0 - (np.array(cols).T @ mu if mu.size else 0.0)
        lam = np.bincount(np.array(cols_k, dtype=int), weights=mu, minlength=n) if mu.size else np.zeros(n)
    return lam


def restore_dual_feasibility(program, alpha, U, lam, free_blocks=None, deadline=None):
    r"""With the hinge and slope multipliers fixed (``Y_k = alpha_k (eps u_k - w_k)``), re-price the cone
    multipliers of every block that is not dual feasible, ``|soft_Pi(g_j, eps Lambda_j)|_2 > beta``, by
    :func:`_price_block` (exact: the least distance of ``g0_j = sum_k Dpm_kj Y_k`` to the cone of the
    robust rows). Blocks in ``free_blocks`` (cone ``{0}``) are left out. Returns lam."""
    X, y, eps, beta = program.X, program.y, program.epsilon_value, program.beta_value
    pmask, Dpm, S2 = _pieces(program)
    G0 = (alpha[:, None] * (eps * U - y[:, None] * X)).T @ Dpm
    g = G0 - X.T @ (S2 * lam)
    nrm = np.linalg.norm(_soft_threshold(g, eps * lam.sum(axis=0)[None, :] * pmask[:, None]), axis=0)
    bad = nrm > beta
    if free_blocks is not None:
        bad &= ~free_blocks
    lam = lam.copy()
    for j in np.flatnonzero(bad):  # one small NNLS per infeasible block
        if deadline is not None and time.perf_counter() > deadline:
            break
        lam_j = _price_block(G0[:, j], X.T * S2[:, j][None, :], eps, pmask, beta)
        g_j = G0[:, j] - X.T @ (S2[:, j] * lam_j)
        if np.linalg.norm(_soft_threshold(g_j, eps * lam_j.sum() * pmask)) < nrm[j]:
            lam[:, j] = lam_j
    return lam


class RobustPolishSchedule:
    """When the robust ADMM polishes: once the structure's signature has been unchanged for ``patience``
    checks and was not polished before, as long as polishing (descent included) has used at most ``share``
    of the elapsed time (``spent``, kept up to date by the caller). Time-based, unlike the iteration-based
    :class:`solvers.admm.schedules.PolishSchedule`: one robust polish costs far more than an iteration."""

    def __init__(self, patience=3, share=0.2):
        self.patience, self.share = patience, share
        self.stable, self.last, self.tried, self.spent = 0, None, set(), 0.0

    def due(self, signature, elapsed):
        self.stable = self.stable + 1 if signature == self.last else 0
        self.last = signature
        if self.stable < self.patience or signature in self.tried or self.spent > self.share * elapsed:
            return False
        self.tried.add(signature)
        return True


def _kkt_step(H, E, r1, r2):
    """Solve ``[H E^T; E 0] [da; dnu] = -[r1; r2]``; least squares when the matrix is singular."""
    m, q = H.shape[0], E.shape[0]
    K = np.zeros((m + q, m + q))
    K[:m, :m] = H
    K[:m, m:] = E.T
    K[m:, :m] = E
    rhs = -np.concatenate([r1, r2])
    with warnings.catch_warnings():
        warnings.simplefilter("error", sla.LinAlgWarning)
        try:
            sol = sla.solve(K, rhs, assume_a="sym")
            if np.all(np.isfinite(sol)):
                return sol[:m], sol[m:]
        except (sla.LinAlgError, sla.LinAlgWarning, ValueError):
            pass
    sol = sla.lstsq(K, rhs, lapack_driver="gelsy", check_finite=False)[0]
    return sol[:m], sol[m:]


def _multipliers_lp(E, r, n_kink, n_act, kink_of_slope, n_slope, zc_block, act_block, eps, nu0):
    r"""Multipliers ``nu`` of the reduced equalities with ``E^T nu = r`` (stationarity) inside their ranges:
    kinks ``-1 <= nu <= 0``, cone rows ``nu <= 0``, zero slope coordinates ``|nu_ki| <= eps alpha_k`` (``alpha_k
    = 1`` below, ``-nu_k`` on a kink), zero block coordinates ``|nu_ji| <= eps Lambda_j`` (``Lambda_j = -sum``
    of the block's cone multipliers). An elastic LP (HiGHS): ``E^T nu + s+ - s- = r``, minimise ``sum s``.
    Returns (nu, stationarity residual); ``nu0`` when the LP fails."""
    from scipy.optimize import linprog
    from scipy import sparse
    q, m = E.shape
    n_zc = zc_block.size
    o_slope, o_zc = n_kink + n_act, n_kink + n_act + n_slope
    lb = np.full(q, -np.inf)
    ub = np.full(q, np.inf)
    lb[:n_kink], ub[:n_kink] = -1.0, 0.0
    ub[n_kink:o_slope] = 0.0
    rows, cols, vals = [], [], []
    nrow = 0
    below = kink_of_slope < 0
    for sgn in (1.0, -1.0):
        # sgn nu_ki - eps alpha_k <= 0: below -> bound eps, kink -> sgn nu_ki + eps nu_k <= 0
        idx = np.flatnonzero(~below)
        rows += list(nrow + np.arange(idx.size)) * 2
        cols += list(o_slope + idx) + list(kink_of_slope[idx])
        vals += [sgn] * idx.size + [eps] * idx.size
        nrow += idx.size
        # sgn nu_ji + eps sum_{cone rows of j} nu <= 0
        for z in range(n_zc):  # rows of one block coordinate each
            members = np.flatnonzero(act_block == zc_block[z])
            rows += [nrow] * (1 + members.size)
            cols += [o_zc + z] + list(n_kink + members)
            vals += [sgn] + [eps] * members.size
            nrow += 1
    bs = np.flatnonzero(below)
    lb[o_slope + bs], ub[o_slope + bs] = -eps, eps
    A_ub = sparse.csr_matrix((vals, (rows, cols)), shape=(nrow, q)) if nrow else None
    b_ub = np.zeros(nrow) if nrow else None
    Aeq = sparse.hstack([sparse.csr_matrix(E.T), sparse.eye(m), -sparse.eye(m)]).tocsr()
    c = np.concatenate([np.zeros(q), np.ones(2 * m)])
    if A_ub is not None:
        A_ub = sparse.hstack([A_ub, sparse.csr_matrix((nrow, 2 * m))]).tocsr()
    bounds = list(zip(lb, ub)) + [(0, None)] * (2 * m)
    res = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=Aeq, b_eq=r, bounds=bounds, method="highs")
    if res.status != 0:
        return nu0, float(np.abs(E.T @ nu0 - r).max(initial=0.0))
    nu = res.x[:q]
    return nu, float(np.abs(E.T @ nu - r).max(initial=0.0))


def polish_robust(program, A0, structure, free_blocks=None, max_newton=50, deadline=None, tol=1e-11, rounds=1,
                  reread_tol=1e-7, feas_abs=1e-9):
    r"""Polish (:func:`_polish_once`) and, while the result is feasible but not certified, re-read the
    structure off the polished point (:meth:`RobustStructure.from_point`, ``reread_tol``) and polish again,
    up to ``rounds`` times in all: a structure read off an ADMM iterate can mark nearly active rows or
    nearly zero slopes wrongly, the polished point shows them as they are. Returns the best round's dict
    (feasible to ``feas_abs`` first, then the lowest certified gap), or None."""
    best = None
    A_start, st = A0, structure
    for _ in range(rounds):
        out = _polish_once(program, A_start, st, free_blocks, max_newton, deadline, tol)
        if out is None:
            break
        key = (out["violation"] > feas_abs, out["gap_rel"])
        if best is None or key < (best["violation"] > feas_abs, best["gap_rel"]):
            best = out
        if (out["violation"] <= feas_abs and out["gap_rel"] <= 1e-12) or (
                deadline is not None and time.perf_counter() > deadline):
            break
        st_new = _apply_releases(RobustStructure.from_point(program, out["A"], reread_tol), out["releases"])
        if st_new.signature() == st.signature():
            break
        A_start, st = out["A"], st_new
    return best


def _releases(nu, st, kink_idx, cone, slope, coord, eps, n_kink, n_act, tol=1e-9):
    r"""The structure change the Newton multipliers ``nu`` ask for most (one active-set step; releasing
    every out-of-range multiplier at once overshoots): a kink whose weight ``alpha = -nu`` is above 1 moves
    below the margin, below 0 above it; a cone row with ``lambda = -nu < 0`` is released; a zero slope (or
    block) coordinate whose multiplier exceeds its range ``eps alpha_k`` (``eps Lambda_j``) is released with
    the sign of its multiplier (the direction of descent). The largest violation wins. Returns a dict of
    index arrays (at most one entry in all)."""
    alpha = -nu[:n_kink]
    lam = -nu[n_kink:n_kink + n_act]
    rest = nu[n_kink + n_act:]
    nz = rest[:slope[0].size]
    nc = rest[slope[0].size:]
    a_of = st.below.astype(float)
    a_of[kink_idx] = np.clip(alpha, 0.0, 1.0)
    Lam = np.bincount(cone[1], weights=np.maximum(lam, 0.0), minlength=st.support.size)
    scores = [("kink_to_below", alpha - 1.0), ("kink_to_above", -alpha), ("cone_off", -lam / max(1.0, lam.max(
        initial=0.0))), ("slope_on", np.abs(nz) - eps * a_of[slope[0]]), ("coord_on", np.abs(nc) - eps * Lam[coord[1]])]
    out = {"kink_to_below": kink_idx[:0], "kink_to_above": kink_idx[:0], "cone_off": (cone[0][:0], cone[1][:0]),
           "slope_on": (slope[0][:0], slope[1][:0], nz[:0]), "coord_on": (coord[0][:0], coord[1][:0], nc[:0])}
    best, worst = None, tol
    for key, v in scores:
        if v.size and v.max() > worst:
            best, worst = (key, int(np.argmax(v))), float(v.max())
    if best is None:
        return out
    key, i = best
    if key in ("kink_to_below", "kink_to_above"):
        out[key] = kink_idx[i:i + 1]
    elif key == "cone_off":
        out[key] = (cone[0][i:i + 1], cone[1][i:i + 1])
    elif key == "slope_on":
        out[key] = (slope[0][i:i + 1], slope[1][i:i + 1], np.sign(nz[i:i + 1]))
    else:
        out[key] = (coord[0][i:i + 1], coord[1][i:i + 1], np.sign(nc[i:i + 1]))
    return out


def _apply_releases(st, rel):
    """A copy of the structure with the releases of :func:`_releases` applied (``rel=None``: a copy)."""
    out = RobustStructure(*(np.array(getattr(st, f), copy=True) for f in (
        "support", "zero_coord", "active", "below", "kink", "slope_zero", "slope_sign", "block_sign")))
    if rel is None:
        return out
    out.kink[rel["kink_to_below"]] = False
    out.below[rel["kink_to_below"]] = True
    out.kink[rel["kink_to_above"]] = False
    gone = rel["kink_to_above"]
    out.slope_zero[gone] = False
    out.slope_sign[gone] = 0.0
    out.active[rel["cone_off"]] = False
    k, i, sgn = rel["slope_on"]
    out.slope_zero[k, i] = False
    out.slope_sign[k, i] = sgn
    i, j, sgn = rel["coord_on"]
    out.zero_coord[i, j] = False
    out.block_sign[i, j] = sgn
    return out


class _ReducedSystem:
    """The reduced problem a structure fixes (module docstring): variables the support blocks ``a_j``
    stacked (``m = J d``), the linear term ``c_lin`` (loss of the samples below the margin) and the
    equalities ``E a = b`` in the order kinks, active cone rows, zero slope coordinates, zero block
    coordinates (index arrays ``kink_idx``, ``(ak, aj)``, ``(zk, zi)``, ``(ci, cj)``; ``aj``, ``cj`` index
    ``supp``)."""

    def __init__(self, program, st, pmask, Dpm, S2):
        X, y, eps = program.X, program.y, program.epsilon_value
        n, d = X.shape
        self.supp = supp = np.flatnonzero(st.support)
        self.J = J = supp.size
        self.m = m = J * d
        self.block_of = np.repeat(np.arange(J), d)                       # block of every variable
        loss_rows = st.below | st.kink
        C = y[:, None] * X - eps * st.slope_sign * pmask[None, :]          # the margin functionals
        Gfull = (Dpm[:, supp, None] * C[:, None, :]).reshape(n, m)          # g_k(A) = Gfull[k] @ a
        self.c_lin = -Gfull[st.below].sum(axis=0)
        self.kink_idx = np.flatnonzero(st.kink)
        self.ak, self.aj = ak, aj = np.nonzero(st.active[:, supp])         # active cone rows
        cone_rows = np.zeros((ak.size, J, d))
        cone_rows[np.arange(ak.size), aj, :] = (S2[ak, supp[aj]][:, None] * X[ak]
                                                - eps * st.block_sign[:, supp[aj]].T * pmask[None, :])
        # zero slope coordinates of samples some support block sees (for the others Sigma_k = 0 holds
        # identically: their rows would be zero, and their multipliers stay free - u_k = 0 is used)
        seen = np.any(Dpm[:, supp] != 0, axis=1)
        self.zk, self.zi = zk, zi = np.nonzero(st.slope_zero & (loss_rows & seen)[:, None])
        slope_rows = np.zeros((zk.size, J, d))
        slope_rows[np.arange(zk.size), :, zi] = Dpm[zk][:, supp]
        self.ci, self.cj = ci, cj = np.nonzero(st.zero_coord[:, supp])    # zero block coordinates
        coord_rows = np.zeros((ci.size, J, d))
        coord_rows[np.arange(ci.size), cj, ci] = 1.0
        self.E = np.vstack([Gfull[self.kink_idx], cone_rows.reshape(-1, m), slope_rows.reshape(-1, m),
                            coord_rows.reshape(-1, m)])
        self.b = np.concatenate([np.ones(self.kink_idx.size), np.zeros(ak.size + zk.size + ci.size)])


def _newton(sysm, A0, beta, max_newton, deadline, tol):
    r"""Newton on the KKT system ``c_lin + beta a_j / |a_j| + E^T nu = 0``, ``E a = b`` from ``A0`` (first
    moved onto the equalities by least squares), with a backtracking line search on the residual norm.
    Returns (a, nu, steps, converged, collapsed): ``collapsed`` flags blocks driven to zero (the structure
    forces them out)."""
    E_all, b_all, c_lin, block_of, J, m = sysm.E, sysm.b, sysm.c_lin, sysm.block_of, sysm.J, sysm.m
    a = A0[:, sysm.supp].T.reshape(-1).copy()
    if E_all.shape[0]:
        a = a - np.linalg.lstsq(E_all, E_all @ a - b_all, rcond=None)[0]
    # a degenerate structure has dependent equalities (a singular KKT matrix): Newton works on a row basis
    # (pivoted QR of E^T), the other rows hold at every step and keep the multiplier 0
    keep = _independent_rows(E_all)
    E, b = E_all[keep], b_all[keep]

    def residual(a, nu):
        nrm = np.sqrt(np.bincount(block_of, weights=a * a, minlength=J))
        safe = np.where(nrm > 0, nrm, 1.0)
        return c_lin + beta * a / safe[block_of] + E.T @ nu, E @ a - b, nrm

    def collapsed_blocks(nrm):
        return nrm <= 1e-9 * max(float(nrm.max(initial=0.0)), 1e-300)

    nu = np.zeros(E.shape[0])
    r1, r2, nrm = residual(a, nu)
    if np.any(collapsed_blocks(nrm)):
        return a, np.zeros(E_all.shape[0]), 0, False, collapsed_blocks(nrm)
    if E.shape[0]:
        nu = -np.linalg.lstsq(E.T, r1, rcond=None)[0]
    r1, r2, nrm = residual(a, nu)
    scale = max(1.0, float(np.abs(c_lin).max(initial=0.0)), beta)
    steps, converged = 0, False
    same = block_of[:, None] == block_of[None, :]
    for steps in range(1, max_newton + 1):
        res = np.sqrt(r1 @ r1 + r2 @ r2)
        if res <= tol * scale:
            converged = True
            break
        if deadline is not None and time.perf_counter() > deadline:
            break
        if np.any(collapsed_blocks(nrm)):
            return a, np.zeros(E_all.shape[0]), steps, False, collapsed_blocks(nrm)
        u = a / nrm[block_of]                               # Hessian of beta |a_j|: beta (I - u u^T) / |a_j|
        H = np.where(same, -(u[:, None] * u[None, :]), 0.0)
        H[np.diag_indices(m)] += 1.0
        H *= beta / nrm[block_of][:, None]
        da, dnu = _kkt_step(H, E, r1, r2)
        t = 1.0
        while True:
            a_new, nu_new = a + t * da, nu + t * dnu
            q1, q2, qn = residual(a_new, nu_new)
            if np.sqrt(q1 @ q1 + q2 @ q2) <= (1.0 - 1e-4 * t) * res or t < 1e-8:
                break
            t *= 0.5
        if t < 1e-8:
            break                                           # no descent on the KKT residual: give up
        a, nu, r1, r2, nrm = a_new, nu_new, q1, q2, qn
    nu_all = np.zeros(E_all.shape[0])
    nu_all[keep] = nu
    return a, nu_all, steps, converged, np.zeros(J, bool)


def _independent_rows(E, rel_tol=1e-10):
    """Indices of a maximal set of linearly independent rows of ``E`` (pivoted QR of ``E^T``)."""
    q = E.shape[0]
    if q == 0:
        return np.arange(0)
    _, R, piv = sla.qr(E.T, mode="economic", pivoting=True)
    diag = np.abs(np.diag(R))
    rank = int(np.sum(diag > rel_tol * max(float(diag.max(initial=0.0)), 1e-300)))
    return np.sort(piv[:rank])


def _polish_once(program, A0, structure, free_blocks=None, max_newton=50, deadline=None, tol=1e-11):
    r"""Equality-constrained Newton on the reduced robust problem fixed by ``structure`` (module
    docstring), started at ``A0`` (d x 2P, original units); then multipliers in their ranges
    (:func:`_multipliers_lp`), blocks priced (:func:`restore_dual_feasibility`) and the dual bound.

    Returns a dict: ``A`` (the polished point, d x 2P), ``objective`` (exact robust objective),
    ``violation`` (max cone violation), ``bound`` (certified lower bound), ``gap_rel`` (``(objective -
    bound) / max(1, |objective|)``), ``converged`` (KKT residual reached ``tol``), ``newton_steps``; or None
    when the support is empty."""
    X, eps, beta = program.X, program.epsilon_value, program.beta_value
    n, d = X.shape
    pmask, Dpm, S2 = _pieces(program)
    st = _apply_releases(structure, None)                               # a private copy
    for _ in range(1 + int(st.support.sum())):
        if not st.support.any():
            return None
        sysm = _ReducedSystem(program, st, pmask, Dpm, S2)
        a, nu, steps, converged, collapsed = _newton(sysm, A0, beta, max_newton, deadline, tol)
        if not np.any(collapsed):
            break
        st.support[sysm.supp[collapsed]] = False                        # blocks the structure forces to 0
        st.active[:, sysm.supp[collapsed]] = False
        st.zero_coord[:, sysm.supp[collapsed]] = False
        st.block_sign[:, sysm.supp[collapsed]] = 0.0
    supp, J, block_of = sysm.supp, sysm.J, sysm.block_of
    E, c_lin, kink_idx, ak, aj, zk, zi, ci, cj = (sysm.E, sysm.c_lin, sysm.kink_idx, sysm.ak, sysm.aj, sysm.zk,
                                                  sysm.zi, sysm.ci, sysm.cj)
    n_kink, n_act = kink_idx.size, ak.size
    loss_rows = st.below | st.kink
    nrm = np.sqrt(np.bincount(block_of, weights=a * a, minlength=J))
    # what the Newton multipliers say about the structure (used when the point is not certified)
    releases = _releases(nu, st, kink_idx, (ak, supp[aj]), (zk, zi), (ci, supp[cj]), eps, n_kink, n_act)
    # multipliers in their ranges (the reduced problem's are not unique when E^T has a null space)
    safe = np.where(nrm > 0, nrm, 1.0)
    kink_of_slope = np.full(zk.size, -1)
    pos_of_kink = np.full(n, -1)
    pos_of_kink[kink_idx] = np.arange(n_kink)
    kink_of_slope[st.kink[zk]] = pos_of_kink[zk[st.kink[zk]]]
    r_stat = -(c_lin + beta * a / safe[block_of])
    if deadline is None or time.perf_counter() < deadline:
        nu, stat_res = _multipliers_lp(E, r_stat, n_kink, n_act, kink_of_slope, zk.size, cj, aj, eps, nu)
    else:                                                   # out of time: Newton's multipliers, clipped below
        stat_res = float(np.abs(E.T @ nu - r_stat).max(initial=0.0))
    # back to A and the dual point
    A = np.zeros((d, Dpm.shape[1]))
    A[:, supp] = a.reshape(J, d).T
    alpha = st.below.astype(float)
    alpha[kink_idx] = -nu[:n_kink]
    lam = np.zeros((n, Dpm.shape[1]))
    lam[ak, supp[aj]] = -nu[n_kink:n_kink + n_act]
    U = (st.slope_sign * pmask[None, :] * loss_rows[:, None]).astype(float)
    nz = nu[n_kink + n_act:n_kink + n_act + zk.size]
    if eps > 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            U[zk, zi] = np.where(alpha[zk] > 0, nz / (eps * alpha[zk]), 0.0)
    # zero blocks (every cone row active at a_j = 0) and any block the multipliers leave infeasible
    alpha = np.clip(alpha, 0.0, 1.0)
    U = np.clip(U, -1.0, 1.0) * pmask[None, :]
    lam = restore_dual_feasibility(program, alpha, U, np.maximum(lam, 0.0), free_blocks, deadline=deadline)
    bound, t = robust_dual_bound(program, alpha, U, lam, free_blocks)
    weights = {"V": A[:, :program.n_patterns], "W": A[:, program.n_patterns:]}
    obj = float(program.objective(weights))
    viol = float(program.max_violation(weights))
    return {"A": A, "objective": obj, "violation": viol, "bound": bound, "dual_scale": t,
            "gap_rel": certified_gap(obj, bound), "converged": converged, "newton_steps": steps,
            "stationarity": stat_res, "multipliers": (alpha, U, lam), "releases": releases}
