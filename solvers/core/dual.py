r"""The dual scaling every certificate of the constrained program uses (docs/math.md section 6).

A Lagrange-dual point ``(nu, lam)`` of the group-lasso program is feasible when every block's dual residual
``R_j = M_j^T nu - X^T (S_j o lam_j)`` satisfies ``|R_j|_2 <= beta``. A point read off an iterate rarely
does; since the constraints are homogeneous in ``(nu, lam)`` and the set ``{|R_j| <= beta}`` contains the
origin, scaling both by

    theta = min(1, beta / max_j |R_j|_2)

lands in the feasible set, and the dual objective there is a valid lower bound on the optimum (for any
loss whose conjugate's domain contains ``theta nu`` - true for the squared loss always, and for the
hinge and logistic losses because their domains are intervals containing 0).
"""
from __future__ import annotations

import numpy as np

from .prox import block_norms


def dual_scaling(worst, beta):
    """``theta = min(1, beta / worst)``: the factor that makes a dual point whose largest block residual
    norm is ``worst`` feasible for the weight-decay constraint ``|R_j| <= beta``."""
    return 1.0 if worst <= beta else beta / worst


def block_dual_scaling(R, beta):
    """theta for the block dual residuals ``R`` (column j is ``R_j``): :func:`dual_scaling` of their largest
    norm ``max_j |R_j|_2``."""
    return dual_scaling(float(np.max(block_norms(R), initial=0.0)), beta)


def certified_gap(objective, bound, unit=1.0):
    """The relative gap ``(objective - bound) / max(1, |objective|)`` of a point with objective ``objective``
    against a dual bound ``bound`` (a certified bound on its suboptimality when ``bound`` is a valid dual
    value). ``unit`` converts a scaled problem's values to the original units, in which the gap is relative:
    ``unit (objective - bound) / max(1, unit |objective|)``."""
    return unit * (objective - bound) / max(1.0, unit * abs(objective))


def cone_residual(rows, g, target=0.0, first=None, rtol=1e-10):
    r"""``min_{lam >= 0} |g - rows^T lam|_2`` for many samples and few features (``rows``: n x d, one cone
    row per sample; ``g``: d): the smallest dual residual the cone multipliers of one block allow.

    The solution uses at most d samples, so it is found by nonnegative least squares on a screened subset
    of the rows and grown by column generation: start from the ``first`` rows (default ``max(4 d, 256)``)
    with the largest ``rows g``, solve the NNLS on them, and add the rows whose reduced cost
    ``rows r`` (``r`` the residual) is positive - the optimality condition of the full NNLS is
    ``rows r <= 0`` on every row - until none is (up to ``rtol`` of the scale), or the residual is at most
    ``target`` (then the block is dual feasible and its exact value no longer matters). Each check costs
    one ``O(n d)`` product; scipy's dense NNLS on all n rows costs far more at large n. Every value
    returned is attained by some ``lam >= 0``, so it is never below the true minimum."""
    from scipy.optimize import nnls
    n, d = rows.shape
    norm = float(np.linalg.norm(g))
    if norm <= target or n == 0:
        return norm
    size = min(n, first if first is not None else max(4 * d, 256))
    scores = rows @ g
    chosen = np.argpartition(-scores, size - 1)[:size] if size < n else np.arange(n)
    scale = norm * float(np.max(np.linalg.norm(rows, axis=1), initial=0.0))
    while True:
        sub = rows[chosen]
        lam, residual = nnls(sub.T, g, maxiter=50 * max(chosen.size, 1))
        if residual <= target or chosen.size == n:
            return float(residual)
        reduced = rows @ (g - sub.T @ lam)
        reduced[chosen] = -np.inf
        entering = np.flatnonzero(reduced > rtol * scale)
        if entering.size == 0:
            return float(residual)
        if entering.size > size:
            entering = entering[np.argpartition(-reduced[entering], size - 1)[:size]]
        chosen = np.concatenate([chosen, entering])
