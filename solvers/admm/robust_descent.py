r"""Primal active-set descent for the robust hinge program (docs/math.md section 7), used by
:mod:`solvers.admm.robust` when a polished point is feasible but not certified.

When the structure read off the ADMM iterates is wrong - at small beta the program is LP-like, its optimal
face is large and the iterates drift on it - the polished point (:mod:`solvers.admm.robust_polish`) is
feasible but not optimal. From there a primal active-set method keeps the point feasible and the objective
non-increasing (:func:`descend`):

1. read the structure off the point (:meth:`RobustStructure.from_point`) and polish it: the Newton point of
   that structure, with its certified gap;
2. step towards the Newton point and cut the step where the first piece changes - a coordinate or slope
   changes sign, an inactive cone row reaches 0, a sample crosses its margin; all linear in the step while
   the signs are fixed (:func:`_ratio_test`);
3. at a degenerate vertex, where the Newton point of one structure does not move, the step is the steepest
   descent direction over the support (:func:`_descent_direction`, one LP that lets every equality of the
   reduced problem leave jointly), or with the zero blocks allowed to enter when that one is stationary.
"""
from __future__ import annotations

import time

import numpy as np

from .robust_polish import RobustStructure, _pieces, _polish_once

__all__ = ["descend"]


# ------------------------------------------------------------------------------------------------------
# the descent loop
# ------------------------------------------------------------------------------------------------------
def descend(program, A, free_blocks=None, deadline=None, max_rounds=500, rel_tol=1e-7, feas_abs=1e-9,
            tol_gap=1e-9):
    r"""A primal active-set descent from a cone-feasible point ``A`` (d x 2P, original units), for the
    degenerate problems whose structure the ADMM iterates do not reveal (small beta: LP-like, with a
    large optimal face).

    Each round reads the structure off the current point, polishes it (:func:`_polish_once`) and moves
    towards the Newton point as far as the pieces stay valid (:func:`_line_step`): the objective is convex
    along the segment and no larger at its end, and the step ends on a new active piece. When that makes no
    progress (a degenerate vertex), the step is the steepest descent direction (:func:`_steepest_direction`).
    Every point stays feasible and the objective never increases. Stops when a polished point certifies to
    ``tol_gap``, at a point where no descent direction exists, or at the deadline / after ``max_rounds``.
    When the last point is not certified, structures read off it with looser tolerances are polished too
    (:func:`_polish_loosely`), time permitting.

    Returns ``(best, A, f, done)``: the best feasible polished dict of :func:`_polish_once` (or None), the
    last point, its objective, and whether the descent is over (certified, or no descent direction)
    rather than out of rounds or time."""
    f = _objective(program, A)
    best, stalled, done = None, False, False
    for _ in range(max_rounds):
        if _past(deadline):
            break
        st = RobustStructure.from_point(program, A, rel_tol)
        out = _polish_once(program, A, st, free_blocks, deadline=deadline)
        best = _better(best, out, feas_abs)
        if _gap(best) <= tol_gap:
            done = True
            break
        if out is not None and not stalled:
            dA = out["A"] - A                                   # towards the Newton point
        else:
            dA = _steepest_direction(program, A, f, st, rel_tol, free_blocks)
            if dA is None:
                done = True                                     # stationary over every block
                break
        A, f, stalled = _line_step(program, A, f, dA, st, rel_tol, feas_abs)
    if _gap(best) > tol_gap:
        best, done = _polish_loosely(program, A, best, done, free_blocks, deadline, feas_abs, tol_gap)
    return best, A, f, done


def _weights(program, A):
    P = program.n_patterns
    return {"V": A[:, :P], "W": A[:, P:]}


def _objective(program, A):
    return float(program.objective(_weights(program, A)))


def _past(deadline):
    return deadline is not None and time.perf_counter() > deadline


def _gap(found):
    return np.inf if found is None else found["gap_rel"]


def _better(best, out, feas_abs):
    """``out`` when it is a feasible polished point with a lower certified gap than ``best``, else ``best``."""
    if out is not None and out["violation"] <= feas_abs and out["gap_rel"] < _gap(best):
        return out
    return best


def _steepest_direction(program, A, f, st, rel_tol, free_blocks):
    """The steepest descent direction over the support, or - where that is stationary - with the zero blocks
    allowed to enter (:func:`_descent_direction`); None when the point is stationary over every block."""
    flat = -1e-12 * max(1.0, abs(f))
    dA, slope = _descent_direction(program, A, st, rel_tol, free_blocks)
    if dA is None or slope >= flat:
        dA, slope = _descent_direction(program, A, st, rel_tol, free_blocks, grow=True)
    if dA is None or slope >= flat:
        return None
    return dA


def _line_step(program, A, f, dA, st, rel_tol, feas_abs):
    """Move along ``dA`` as far as the ratio test allows, backtracking (by 1/4) while the objective is above
    ``f`` (the Newton point of a wrong structure); the move is taken only when it stays feasible and does
    not increase the objective. Returns ``(A, f, stalled)``, ``stalled`` when the step made no progress."""
    t = _ratio_test(program, A, dA, st, rel_tol)
    A_new = A + t * dA
    f_new = _objective(program, A_new)
    while f_new > f and t > 1e-16:
        t *= 0.25
        A_new = A + t * dA
        f_new = _objective(program, A_new)
    stalled = f_new > f - 1e-12 * max(1.0, abs(f))
    if f_new <= f and program.max_violation(_weights(program, A_new)) <= feas_abs:
        A, f = A_new, f_new
    return A, f, stalled


def _polish_loosely(program, A, best, done, free_blocks, deadline, feas_abs, tol_gap):
    """Polish the structures read off ``A`` with the looser tolerances 1e-5, 1e-4 and 1e-3: tiny blocks and
    nearly active rows read as they are at the descent's tolerance can leave the multipliers out of range,
    and dropping them often certifies. Returns ``(best, done)``."""
    for loose in (1e-5, 1e-4, 1e-3):
        if _past(deadline):
            break
        out = _polish_once(program, A, RobustStructure.from_point(program, A, loose), free_blocks,
                           deadline=deadline)
        best = _better(best, out, feas_abs)
        if _gap(best) <= tol_gap:
            done = True
            break
    return best, done


# ------------------------------------------------------------------------------------------------------
# the ratio test: how far the pieces of a structure stay valid along a segment
# ------------------------------------------------------------------------------------------------------
def _first_crossing(f0, f1, candidates):
    """The first ``t`` in (0, 1] where the linear ``f0 + t (f1 - f0)`` changes sign, over the candidate
    entries (1.0 when none does)."""
    f0, f1 = f0[candidates], f1[candidates]
    change = (np.sign(f0) != np.sign(f1)) & (f0 != 0)
    if not np.any(change):
        return 1.0
    return float(np.min(f0[change] / (f0[change] - f1[change])))


def _sign_along(Z0, Z1):
    """The sign of every entry along the segment from ``Z0`` to ``Z1`` just after ``t = 0`` (the sign of the
    move for entries at zero): with it, ``|z|`` is linear on the segment up to the first crossing."""
    sign = np.sign(Z0)
    sign[sign == 0] = np.sign(Z1 - Z0)[sign == 0]
    return sign


def _ratio_test(program, A, dA, st, rel_tol=1e-7):
    r"""The largest step ``t <= 1`` along ``A + t dA`` over which the pieces of ``st`` (read off ``A``) stay
    valid, so that the objective along the segment is the reduced one: no block or slope coordinate
    changes sign, no inactive cone row reaches 0, no sample that is not on its kink crosses the margin.
    With the signs fixed up to that point, every one of these is linear in t. Entries at zero (to
    ``rel_tol`` of their scale) are the structure's own equalities or free kinks of the l1 terms, not
    crossings."""
    X, y, eps = program.X, program.y, program.epsilon_value
    pmask, Dpm, S2 = _pieces(program)
    A1 = A + dA
    norms = np.linalg.norm(A, axis=0)
    steps = [1.0]
    coords = pmask[:, None] & st.support[None, :] & ~st.zero_coord & (np.abs(A) > rel_tol * norms[None, :])
    steps.append(_first_crossing(A, A1, coords))
    Sig0, Sig1 = Dpm @ A.T, Dpm @ A1.T
    slopes = pmask[None, :] & ~st.slope_zero & (np.abs(Sig0) > rel_tol * np.abs(Sig0).max(initial=0.0))
    steps.append(_first_crossing(Sig0, Sig1, slopes))
    slack0 = S2 * (X @ A) - eps * np.abs(A[pmask]).sum(axis=0)[None, :]
    slack1 = S2 * (X @ A1) - eps * (_sign_along(A, A1)[pmask] * A1[pmask]).sum(axis=0)[None, :]
    steps.append(_first_crossing(slack0, slack1, st.support[None, :] & ~st.active))
    w = y[:, None] * X
    m0 = 1.0 - np.einsum("ij,ij->i", w, Sig0) + eps * np.abs(Sig0[:, pmask]).sum(axis=1)
    m1 = (1.0 - np.einsum("ij,ij->i", w, Sig1)
          + eps * (_sign_along(Sig0, Sig1)[:, pmask] * Sig1[:, pmask]).sum(axis=1))
    steps.append(_first_crossing(m0, m1, ~st.kink))
    return max(0.0, min(steps))


# ------------------------------------------------------------------------------------------------------
# the steepest descent LP
# ------------------------------------------------------------------------------------------------------
class _DescentLP:
    """Variable layout of the steepest-descent LP, in this order: ``da`` (J d, block-major), ``dS`` (n d),
    ``p >= |dS|`` at the zero slopes (n d), ``q`` (n, the kinks' one-sided slopes), ``r >= |da|`` (J d); and
    the rows of its inequalities ``A_ub x <= 0`` as they are added (COO triplets)."""

    def __init__(self, n, d, J):
        self.n, self.d, self.J = n, d, J
        self.o_s = J * d
        self.o_p = J * d + n * d
        self.o_q = J * d + 2 * n * d
        self.o_r = J * d + 2 * n * d + n
        self.nv = self.o_r + J * d
        self.rows, self.cols, self.vals, self.count = [], [], [], 0

    def add(self, rows, cols, vals):
        self.rows.append(np.asarray(rows))
        self.cols.append(np.asarray(cols))
        self.vals.append(np.asarray(vals, float))

    def add_abs_bounds(self, var_cols, bound_cols):
        """``|x| <= b`` as two rows each (``x - b <= 0``, then ``-x - b <= 0``)."""
        for sgn in (1.0, -1.0):
            r = self.count + np.arange(var_cols.size)
            self.add(np.concatenate([r, r]), np.concatenate([var_cols, bound_cols]),
                     np.concatenate([np.full(var_cols.size, sgn), -np.ones(var_cols.size)]))
            self.count += var_cols.size

    def inequalities(self):
        from scipy import sparse
        if not self.count:
            return None
        return sparse.csr_matrix((np.concatenate(self.vals), (np.concatenate(self.rows), np.concatenate(self.cols))),
                                 shape=(self.count, self.nv))


def _descent_direction(program, A, st, rel_tol=1e-7, free_blocks=None, grow=False):
    r"""Steepest descent over the support blocks, by one LP (HiGHS): minimise the directional derivative

    .. math::
        f'(A; dA) = \sum_{k\ \mathrm{below}} m_k'(d\Sigma_k) + \sum_{k\ \mathrm{kink}} \max(0, m_k'(d\Sigma_k))
        + \beta \sum_{j \in \mathrm{supp}} u_j^T da_j,
        \qquad m_k'(d\Sigma_k) = -w_k^T d\Sigma_k + \epsilon \sum_{i \in \Pi} |\Sigma_{ki}|'(d\Sigma_{ki})

    (``|z|'(dz) = sign(z) dz``, or ``|dz|`` at ``z = 0``; ``u_j = a_j / |a_j|``) over ``d Sigma = Dpm dA^T``,
    with the active cone rows kept to first order, ``S2_kj x_k^T da_j >= eps sum_i |a_ij|'(da_ij)``, and
    ``|da_ij| <= |a_j|``. Every equality of the reduced problem is left free to leave, jointly - which the
    Newton point of one structure cannot do at a degenerate vertex. With ``grow`` the zero blocks (but
    those in ``free_blocks``, whose cone is {0}) may enter too: their direction must lie in their robust
    cone (every row is active at 0) and their norm is bounded by ``beta |da_j|_1 >= beta |da_j|_2``, so a
    negative value is still a descent direction. Returns ``(dA, slope)``; slope 0 means the point is
    stationary over the blocks allowed to move; ``(None, 0)`` when the LP fails."""
    from scipy.optimize import linprog
    X, y, eps = program.X, program.y, program.epsilon_value
    n, d = X.shape
    pmask, Dpm, S2 = _pieces(program)
    movable = ~st.support if free_blocks is None else ~st.support & ~free_blocks
    supp = np.concatenate([np.flatnonzero(st.support), np.flatnonzero(movable) if grow else []]).astype(int)
    if supp.size == 0:
        return None, 0.0
    lp = _DescentLP(n, d, supp.size)
    As = A[:, supp]
    nrm = np.linalg.norm(As, axis=0)
    entering = ~st.support[supp]                            # blocks at 0 that may enter (grow)
    Sig = Dpm @ A.T
    zero_slope = (np.abs(Sig) <= rel_tol * np.abs(Sig).max(initial=0.0)) & pmask[None, :]
    zero_coord = (np.abs(As) <= rel_tol * nrm[None, :]) & (pmask[:, None] | entering[None, :])
    coef_s = -(y[:, None] * X) + eps * np.sign(Sig) * (pmask[None, :] & ~zero_slope)   # m_k' on dS_k
    A_eq = _slope_equalities(lp, Dpm, supp)
    _slope_rows(lp, st, zero_slope, coef_s, eps)
    _block_rows(lp, program, st, supp, As, entering, zero_coord, pmask, S2)
    c, bounds = _descent_costs(lp, program.beta_value, st, As, nrm, entering, zero_slope, coef_s, eps)
    count = lp.count
    res = linprog(c, A_ub=lp.inequalities(), b_ub=np.zeros(count) if count else None, A_eq=A_eq,
                  b_eq=np.zeros(n * d), bounds=bounds, method="highs")
    if res.status != 0:
        return None, 0.0
    dA = np.zeros_like(A)
    dA[:, supp] = res.x[:lp.o_s].reshape(lp.J, d).T
    return dA, float(res.fun)


def _slope_equalities(lp, Dpm, supp):
    """``dS_k - sum_j Dpm_kj da_j = 0`` for every sample k (n d rows)."""
    from scipy import sparse
    n, d = lp.n, lp.d
    ar = np.arange(d)
    kk, jj = np.nonzero(Dpm[:, supp])
    eq_rows = np.concatenate([(kk[:, None] * d + ar).ravel(), np.arange(n * d)])
    eq_cols = np.concatenate([(jj[:, None] * d + ar).ravel(), lp.o_s + np.arange(n * d)])
    eq_vals = np.concatenate([np.repeat(-Dpm[kk, supp[jj]], d), np.ones(n * d)])
    return sparse.csr_matrix((eq_vals, (eq_rows, eq_cols)), shape=(n * d, lp.nv))


def _slope_rows(lp, st, zero_slope, coef_s, eps):
    """The loss rows: ``|dS_ki| <= p_ki`` at the zero slopes, and ``m_k'(dS_k) - q_k <= 0`` at the kinks."""
    d = lp.d
    ar = np.arange(d)
    zk, zi = np.nonzero(zero_slope)
    lp.add_abs_bounds(lp.o_s + zk * d + zi, lp.o_p + zk * d + zi)
    kinks = np.flatnonzero(st.kink)
    r = lp.count + np.arange(kinks.size)
    kz = zero_slope[kinks]
    lp.add(np.concatenate([np.repeat(r, d), np.repeat(r, kz.sum(axis=1)), r]),
           np.concatenate([(lp.o_s + kinks[:, None] * d + ar).ravel(), lp.o_p + (kinks[:, None] * d + ar)[kz],
                           lp.o_q + kinks]),
           np.concatenate([coef_s[kinks].ravel(), np.full(int(kz.sum()), eps), -np.ones(kinks.size)]))
    lp.count += kinks.size


def _block_rows(lp, program, st, supp, As, entering, zero_coord, pmask, S2):
    """The block rows: ``|da_ji| <= r_ji`` at the zero coordinates, and the active (or entering) cone rows
    to first order, ``-(S2_kj x_k^T da_j - eps sum_i |a_ij|'(da_ij)) <= 0``."""
    X, eps, d = program.X, program.epsilon_value, lp.d
    ar = np.arange(d)
    ci, cj = np.nonzero(zero_coord)
    lp.add_abs_bounds(cj * d + ci, lp.o_r + cj * d + ci)
    ak, aj = np.nonzero(st.active[:, supp] | entering[None, :])
    coef_a = -S2[ak, supp[aj]][:, None] * X[ak] + eps * (np.sign(As) * (pmask[:, None] & ~zero_coord)).T[aj]
    az = (zero_coord & pmask[:, None]).T[aj]
    r = lp.count + np.arange(ak.size)
    lp.add(np.concatenate([np.repeat(r, d), np.repeat(r, az.sum(axis=1))]),
           np.concatenate([(aj[:, None] * d + ar).ravel(), lp.o_r + (aj[:, None] * d + ar)[az]]),
           np.concatenate([coef_a.ravel(), np.full(int(az.sum()), eps)]))
    lp.count += ak.size


def _descent_costs(lp, beta, st, As, nrm, entering, zero_slope, coef_s, eps):
    """The LP's cost (the directional derivative) and bounds (``|da_j| <= |a_j|`` per entry; entering blocks
    by the largest support norm). Returns ``(c, bounds)``."""
    d = lp.d
    c = np.zeros(lp.nv)
    safe = np.where(entering, 1.0, nrm)
    c[:lp.o_s] = beta * (As / safe[None, :]).T.ravel()       # 0 for entering blocks (As = 0)
    c[lp.o_r:] = beta * np.repeat(entering, d)              # their norm: beta |da_j|_1
    below = st.below
    c[lp.o_s:lp.o_p] = (coef_s * below[:, None]).ravel()
    c[lp.o_p:lp.o_q] = (eps * (zero_slope & below[:, None])).ravel()
    c[lp.o_q:lp.o_r] = st.kink.astype(float)
    lo = np.zeros(lp.nv)
    hi = np.full(lp.nv, np.inf)
    box = np.where(entering, nrm.max(initial=0.0) if (~entering).any() else 1.0, nrm)
    lo[:lp.o_s], hi[:lp.o_s] = -np.repeat(box, d), np.repeat(box, d)
    lo[lp.o_s:lp.o_p] = -np.inf
    return c, np.column_stack([lo, hi])
