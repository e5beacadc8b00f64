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

import time

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


#: up to this many features a block's cone residual is the exact NNLS of :func:`cone_residual`; on wider
#: data its active-set steps (about d of them, each O(d) times the screened rows) take seconds per block,
#: and :func:`cone_residuals` finds the residuals of all blocks at once by accelerated projected gradient
NNLS_MAX_FEATURES = 200


def gram_norm(X):
    """``|X|_2^2``, the largest eigenvalue of ``X^T X`` (Lanczos on products with X, raised by 1%: the
    step length of the projected gradient in :func:`cone_residuals` must not exceed its inverse for the
    iteration to converge)."""
    from scipy.sparse.linalg import LinearOperator, eigsh
    n, d = X.shape
    if min(n, d) <= 64:
        return 1.01 * float(np.linalg.norm(X, 2)) ** 2
    gram = LinearOperator((d, d), matvec=lambda v: X.T @ (X @ v), dtype=float)
    start = np.full(d, 1.0 / np.sqrt(d))
    return 1.01 * float(eigsh(gram, k=1, which="LA", tol=1e-4, v0=start, return_eigenvectors=False)[0])


def cone_residuals(X, signs, G, target=0.0, start=None, lipschitz=None, max_iter=500, stall=1e-6, deadline=None):
    r"""``min_{lam_b >= 0} |g_b - X^T (s_b o lam_b)|_2`` for every block b: column b of ``G`` (d x B) with
    the cone signs ``s_b``, column b of ``signs`` (n x B, entries +-1). Returns ``(values, lam)`` (B, and
    n x B: the multipliers attaining ``values``).

    The solvers call it past :data:`NNLS_MAX_FEATURES` features, where the exact NNLS of
    :func:`cone_residual` takes seconds per block. All blocks run together an accelerated projected gradient on
    ``f_b(lam) = |g_b - X^T (s_b o lam)|^2 / 2`` (step ``1 / |X|_2^2``, momentum restarted where ``f_b``
    rises), two products with X per iteration for all blocks (GEMMs), from ``start`` (n x B, clipped at 0;
    default 0). A block stops once its residual is at most ``target`` (its exact value is then not needed),
    once its best residual fell by less than ``stall`` (relative) over the last 50 iterations, after
    ``max_iter``, or when ``time.perf_counter()`` passes ``deadline`` (None: none). ``lipschitz``:
    :func:`gram_norm` of X when known. Every value is the residual at a returned ``lam >= 0``, so it is
    never below the true minimum, whatever the step length: a dual point scaled with it stays feasible,
    however early the iteration stopped."""
    n, d = X.shape
    G = np.asarray(G, float).reshape(d, -1)
    blocks = G.shape[1]
    targets = np.broadcast_to(np.asarray(target, float), (blocks,))
    L = gram_norm(X) if lipschitz is None else float(lipschitz)
    lam = np.zeros((n, blocks)) if start is None else np.maximum(np.asarray(start, float), 0.0)
    residual = G - X.T @ (signs * lam)
    values = np.linalg.norm(residual, axis=0)
    active = np.flatnonzero(values > targets)
    if active.size == 0:
        return values, lam
    lam_a, res_a, signs_a, G_a = lam[:, active], residual[:, active], signs[:, active], G[:, active]
    point, res_point = lam_a.copy(), res_a.copy()  # the momentum point and its residual (affine in lam)
    momentum = np.ones(active.size)
    best = values[active].copy()
    checkpoint = best.copy()
    for it in range(1, max_iter + 1):
        if deadline is not None and time.perf_counter() > deadline:
            break
        step = np.maximum(point + signs_a * (X @ res_point) / L, 0.0)
        res_step = G_a - X.T @ (signs_a * step)
        norms = np.linalg.norm(res_step, axis=0)
        rising = norms > best
        following = (1.0 + np.sqrt(1.0 + 4.0 * momentum ** 2)) / 2.0
        weight = np.where(rising, 0.0, (momentum - 1.0) / following)
        momentum = np.where(rising, 1.0, following)
        improved = norms < best
        best = np.where(improved, norms, best)
        lam[:, active[improved]] = step[:, improved]
        point = step + weight * (step - lam_a)
        res_point = res_step + weight * (res_step - res_a)
        lam_a, res_a = step, res_step
        done = best <= targets[active]
        if it % 50 == 0:
            done |= best > (1.0 - stall) * checkpoint
            checkpoint = best.copy()
        if np.any(done):
            values[active] = best
            keep = ~done
            active, best, checkpoint, momentum = active[keep], best[keep], checkpoint[keep], momentum[keep]
            lam_a, res_a, signs_a, G_a = lam_a[:, keep], res_a[:, keep], signs_a[:, keep], G_a[:, keep]
            point, res_point = point[:, keep], res_point[:, keep]
            if active.size == 0:
                break
    values[active] = best
    return values, lam
